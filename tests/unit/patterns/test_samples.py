"""A pattern's counts over time: Loki's chunk_test.go tables (TestAdd, TestIterator, TestForRange,
TestForRange_ConfigurableSampleInterval)."""

from __future__ import annotations

import pytest

from observ.patterns.samples import Chunk, Chunks

TEN_S = 10_000
HOUR = 3_600_000


def test_add_buckets_by_ten_seconds_and_starts_a_chunk_each_hour() -> None:
    c = Chunks()
    for ts in (TEN_S + 1, TEN_S + 2, 2 * TEN_S + 1):
        c.add(ts)
    assert len(c.chunks) == 1 and c.chunks[0].times == [TEN_S, 2 * TEN_S]
    c.add(HOUR + TEN_S + 1)
    assert len(c.chunks) == 2 and len(c.chunks[1].times) == 1
    c.add(HOUR - TEN_S)  # older than the newest sample: dropped
    assert len(c.chunks) == 2 and len(c.chunks[1].times) == 1


def test_for_range_reads_every_chunk() -> None:
    c = Chunks()
    for ts in (TEN_S + 1, TEN_S + 2, 2 * TEN_S + 1, HOUR + TEN_S + 1):
        c.add(ts)
    assert c.for_range(0, HOUR * 1000, TEN_S) == [(10_000, 2), (20_000, 1), (3_610_000, 1)]


S3 = [(2, 2), (4, 4), (6, 6)]
FOR_RANGE = [  # (name, samples, start, end, expected) with step 2 and a 10 s sample interval
    ("empty", [], 1, 10, []),
    ("no overlap", S3, 10, 20, []),
    ("complete overlap", S3, 0, 10, S3),
    ("partial overlap", S3, 3, 5, [(4, 4)]),
    ("single element in range", S3, 4, 5, [(4, 4)]),
    ("start before first element", S3, 0, 5, [(2, 2), (4, 4)]),
    ("end after last element", S3, 5, 10, [(6, 6)]),
    ("start and end before first element", S3, 0, 2, []),
    (
        "higher resolution samples down-sampled to preceding step bucket",
        [(1, 2), (2, 4), (3, 6), (4, 8), (5, 10), (6, 12)],
        1,
        6,
        [(0, 2), (2, 10), (4, 18), (6, 12)],
    ),
    ("low resolution samples insert 0 values for empty steps", [(1, 2), (5, 10)], 1, 6, [(0, 2), (2, 0), (4, 10)]),
    ("out-of-order samples generate nil result", [(5, 2), (3, 2)], 4, 6, []),
    ("internally out-of-order samples generate nil result", [(1, 2), (5, 2), (3, 2), (7, 2)], 2, 6, []),
]


@pytest.mark.parametrize(
    ("samples", "start", "end", "expected"), [c[1:] for c in FOR_RANGE], ids=[c[0] for c in FOR_RANGE]
)
def test_for_range(samples: list[tuple[int, int]], start: int, end: int, expected: list[tuple[int, int]]) -> None:
    chunk = Chunk([t for t, _ in samples], [n for _, n in samples])
    assert chunk.for_range(start, end, 2, TEN_S) == expected


INTERVALS = [  # (name, samples, start, end, step, sample interval, expected)
    ("5s interval, 5s step: samples as they are", [(5000, 2), (10000, 4)], 0, 15000, 5000, 5000,
     [(5000, 2), (10000, 4)]),
    ("30s interval, 30s step: samples as they are", [(30000, 10), (60000, 20)], 0, 90000, 30000, 30000,
     [(30000, 10), (60000, 20)]),
    ("20s step sums into buckets", [(5000, 2), (10000, 3), (15000, 1), (25000, 4), (30000, 2)], 0, 40000, 20000,
     5000, [(0, 6), (20000, 6)]),
    ("30s step, uneven", [(10000, 1), (20000, 2), (40000, 3), (50000, 4), (70000, 5)], 0, 80000, 30000, 10000,
     [(0, 3), (30000, 7), (60000, 5)]),
    ("step below the interval: zeros between samples", [(10000, 5), (30000, 3)], 8000, 35000, 2000, 10000,
     [(10000, 5), *((t, 0) for t in range(12000, 30000, 2000)), (30000, 3)]),
    ("misaligned step", [(10000, 2), (20000, 3), (30000, 1), (40000, 4)], 0, 50000, 15000, 10000,
     [(0, 2), (15000, 3), (30000, 5)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("samples", "start", "end", "step", "interval", "expected"),
    [c[1:] for c in INTERVALS],
    ids=[c[0] for c in INTERVALS],
)
def test_for_range_with_other_sample_intervals(
    samples: list[tuple[int, int]], start: int, end: int, step: int, interval: int, expected: list[tuple[int, int]]
) -> None:
    chunk = Chunk([t for t, _ in samples], [n for _, n in samples])
    assert chunk.for_range(start, end, step, interval) == expected
