"""Rate-limited logging of repeated problems: a garbage file or a broken client must not flood the log."""

from __future__ import annotations

import time
from collections.abc import Hashable


class LogThrottle:
    """Remembers when each key was last logged; counters are the caller's and always move."""

    def __init__(self, every_s: float = 10.0, max_keys: int = 10_000) -> None:
        self.every_s = every_s
        self.max_keys = max_keys
        self._logged: dict[Hashable, float] = {}

    def suppressed(self, key: Hashable) -> bool:
        """True when `key` was logged within the last `every_s` seconds; otherwise records it as logged now."""
        now = time.monotonic()
        if now - self._logged.get(key, -self.every_s) < self.every_s:
            return True
        if len(self._logged) > self.max_keys:
            self._logged.clear()
        self._logged[key] = now
        return False
