"""Rate-limited logging of repeated problems: a garbage file or a broken client must not flood the log."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Hashable, Iterable


class LogThrottle:
    """Remembers when each key was last logged and how often it was held back since; counters are the
    caller's and always move."""

    def __init__(
        self, every_s: float = 10.0, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_s = every_s
        self.max_keys = max_keys
        self.clock = clock
        self._logged: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def check(self, key: Hashable) -> int | None:
        """None when `key` was logged within the last `every_s` seconds (counted as held back); otherwise
        records it as logged now and returns how many were held back since its previous line."""
        now = self.clock()
        if now - self._logged.get(key, now - self.every_s) < self.every_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        if len(self._logged) > self.max_keys:
            self._logged.clear()
            self._held.clear()
        self._logged[key] = now
        return self._held.pop(key, 0)

    def suppressed(self, key: Hashable) -> bool:
        """True when `key` was logged within the last `every_s` seconds; otherwise records it as logged now."""
        return self.check(key) is None


_NUMBERS = re.compile(r"\d+")


class ThrottleFilter(logging.Filter):
    """At most one record per kind every `every_s` seconds; the next one says how many were held back.

    A kind is the logger, the level and the message with its numbers masked: a client retrying a dead
    broker every 50 ms logs the same line with another port, node id or elapsed time each time.
    Records below `level` pass untouched.
    """

    def __init__(
        self, every_s: float = 10.0, level: int = logging.WARNING, clock: Callable[[], float] = time.monotonic
    ):
        super().__init__()
        self.level = level
        self._throttle = LogThrottle(every_s, clock=clock)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        message = record.getMessage()
        held = self._throttle.check((record.name, record.levelno, _NUMBERS.sub("#", message)))
        if held is None:
            return False
        if held:
            record.msg = f"{message} ({held} more like it in the last {self._throttle.every_s:g}s not logged)"
            record.args = None
        return True

    def install(self, names: Iterable[str]) -> None:
        """Attach to these loggers (a logger's filters do not see its children's records)."""
        for name in names:
            logging.getLogger(name).addFilter(self)
