"""A pattern's line counts over time (`pkg/pattern/drain/chunk.go`).

Counts are kept per `sample_interval` (10 s) bucket, in chunks of at most `max_chunk_age` (1 h); a query
re-buckets them by its step, filling the empty steps between two samples of one chunk with zeros.
Times are milliseconds since the epoch, as Prometheus' `model.Time`.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

Sample = tuple[int, int]
"""(ms, count)."""


def truncate(ts: int, step: int) -> int:
    return ts - ts % step


@dataclass(slots=True)
class Chunk:
    times: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    def for_range(self, start: int, end: int, step: int, sample_interval: int) -> list[Sample]:
        """Samples in [start, end) summed into `step` buckets; nothing when the chunk is out of order there."""
        times, counts = self.times, self.counts
        if not times or start >= end or times[0] >= end or times[-1] < start:
            return []
        lo = bisect_left(times, start) if start > times[0] else 0
        hi = bisect_left(times, end) if end < times[-1] else len(times)
        if times[lo] > times[hi - 1]:
            return []
        if step == sample_interval:
            return list(zip(times[lo:hi], counts[lo:hi], strict=True))
        current = truncate(times[lo], step)
        out = [[current, 0]]
        for ts, n in zip(times[lo:hi], counts[lo:hi], strict=True):
            if ts >= current + step:
                bucket = truncate(ts, step)
                out += [[t, 0] for t in range(current + step, bucket + 1, step)]
                current = bucket
            out[-1][1] += n
        return [(t, n) for t, n in out]


@dataclass(slots=True)
class Chunks:
    max_chunk_age: int = 3_600_000
    sample_interval: int = 10_000
    chunks: list[Chunk] = field(default_factory=list)

    def add(self, ts: int) -> None:
        """Count a line at `ts` (ms); a line older than the newest bucket is not counted, as Loki drops it."""
        t = truncate(ts, self.sample_interval)
        if not self.chunks:
            self.chunks.append(Chunk([t], [1]))
            return
        last = self.chunks[-1]
        if last.times[-1] == t:
            last.counts[-1] += 1
        elif t - last.times[0] >= self.max_chunk_age:
            self.chunks.append(Chunk([t], [1]))
        elif ts >= last.times[-1]:
            last.times.append(t)
            last.counts.append(1)

    def for_range(self, start: int, end: int, step: int) -> list[Sample]:
        """Every chunk's samples in [start, end) by `step`, oldest first (chunks never overlap)."""
        return [s for c in self.chunks for s in c.for_range(start, end, step, self.sample_interval)]
