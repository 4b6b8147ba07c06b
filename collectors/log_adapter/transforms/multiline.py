"""Multiline grouping: a start-pattern line opens an entry, other lines continue it.

One merger per stream, so stderr stack traces never mix into stdout entries
(fluent-bit#4387). An entry is only known to be complete when the next start
line arrives, its timeout passes, or the file ends.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Generic, TypeVar

from collectors.log_adapter.events import Metrics, Truncated
from collectors.log_adapter.transforms.config import DEFAULT_START_PATTERN, MultilineConfig

T = TypeVar("T")

Finish = Callable[[str, int | None, int, str, int, int], T]
"""(stream, ts or None, arrival ns, text, start, end) -> what the owner makes of an entry (an Entry, or None
when it keeps entries as rows of its own)."""

_DEFAULT = re.compile(DEFAULT_START_PATTERN)


def _default_is_start(text: str) -> bool:
    """DEFAULT_START_PATTERN without running the regex on ordinary lines: it can only
    reject a line that is empty, starts with a space or with C/S/./T/D, or names an exception."""
    if not text:
        return False
    c = text[0]
    if "0" <= c <= "9" or c == "{" or c == "[":
        return True  # timestamps, JSON, `[level]`: nothing it rejects starts like this
    if c.isspace():
        return False
    if c in "CS.TD" or "Error" in text or "Exception" in text or "Throwable" in text:
        return _DEFAULT.match(text) is not None
    return True


def start_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate telling whether a line opens a new entry."""
    if pattern == DEFAULT_START_PATTERN:
        return _default_is_start
    match = re.compile(pattern).match
    return lambda text: match(text) is not None


class MultilineMerger(Generic[T]):
    """Groups the lines of one stream into entries."""

    __slots__ = (
        "_arrival",
        "_bytes",
        "_end",
        "_finish",
        "_first",
        "_last",
        "_max_bytes",
        "_max_lines",
        "_metrics",
        "_more",
        "_start",
        "_timeout_ns",
        "_ts",
        "_where",
        "is_start",
        "stream",
    )

    def __init__(self, config: MultilineConfig, stream: str, finish: Finish[T], metrics: Metrics, where: str):
        self.stream = stream
        self._finish = finish
        self._metrics = metrics
        self._where = where
        self.is_start = start_matcher(config.start_pattern)
        self._max_lines = config.max_lines
        self._max_bytes = config.max_bytes
        self._timeout_ns = config.timeout_ms * 1_000_000
        self._first: str | None = None
        self._more: list[str] = []
        self._ts: int | None = None
        self._arrival = 0
        self._last = 0
        self._start = 0
        self._end = 0
        self._bytes = 0

    def feed(self, text: str, nbytes: int, ts: int | None, arrival: int, start: int, end: int) -> T | None:
        """Add one line; returns the entry this line completed, if any."""
        done = None
        if self._first is not None:
            if not self.is_start(text):
                if len(self._more) + 1 < self._max_lines and self._bytes + 1 + nbytes <= self._max_bytes:
                    self._more.append(text)
                    self._bytes += 1 + nbytes
                    self._end = end
                    self._last = arrival
                    return None
                Truncated(
                    "multiline_limit", self._where, f"entry at offset {self._start} split at offset {start}"
                ).emit(self._metrics)
            done = self._close()
        self._first = text
        self._bytes = nbytes
        self._ts = ts
        self._arrival = self._last = arrival
        self._start = start
        self._end = end
        return done

    def expire(self, now: int) -> T | None:
        """The pending entry, if no line joined it for the timeout."""
        if self._first is not None and now - self._last >= self._timeout_ns:
            return self._close()
        return None

    def flush(self) -> T | None:
        return self._close() if self._first is not None else None

    def pending_start(self) -> int | None:
        return self._start if self._first is not None else None

    def _close(self) -> T:
        first = self._first
        assert first is not None
        more = self._more
        if more:
            text = "\n".join((first, *more))
            self._more = []
        else:
            text = first
        self._first = None
        return self._finish(self.stream, self._ts, self._arrival, text, self._start, self._end)
