"""Which byte ranges of a source file are stored: the ingester's replay filter.

A sidecar batch holds every entry of its stream that ends in `(after, end[-1]]` of its source
file, so the store records those ranges. An entry is a replay exactly when its end offset lies
in a recorded range. Unlike a high-water mark this holds whatever order batches arrive in: a
batch re-sent behind newer ones (a delivery timeout, a broker outage) fills its own gap instead
of looking like a replay, and timestamps play no part at all.
"""

from __future__ import annotations

from bisect import bisect_left


class Coverage:
    """Disjoint, sorted half-open ranges `(lo, hi]`; adjacent ranges merge, so a source read in
    order stays one range however many batches it took."""

    __slots__ = ("_hi", "_lo")

    def __init__(self, ranges: list[tuple[int, int]] | None = None) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []
        for lo, hi in sorted(ranges or ()):
            self.add(lo, hi)

    def copy(self) -> Coverage:
        c = Coverage()
        c._lo, c._hi = self._lo.copy(), self._hi.copy()
        return c

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._lo, self._hi, strict=True))

    def __len__(self) -> int:
        return len(self._lo)

    def contains(self, offset: int) -> bool:
        """Is `offset` inside some `(lo, hi]`?"""
        i = bisect_left(self._hi, offset)
        return i < len(self._hi) and self._lo[i] < offset

    def disjoint(self, lo: int, hi: int) -> bool:
        """No recorded range meets `(lo, hi]`: the common case, checked once per batch."""
        i = bisect_left(self._hi, lo + 1)
        return hi <= lo or i == len(self._hi) or self._lo[i] >= hi

    def add(self, lo: int, hi: int) -> None:
        """Record `(lo, hi]`, merging every range it touches or overlaps."""
        if hi <= lo:
            return
        i = bisect_left(self._hi, lo)  # first range whose end reaches lo
        j = i
        while j < len(self._lo) and self._lo[j] <= hi:
            lo = min(lo, self._lo[j])
            hi = max(hi, self._hi[j])
            j += 1
        self._lo[i:j] = [lo]
        self._hi[i:j] = [hi]
