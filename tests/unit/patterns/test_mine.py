"""Many streams to `/patterns` series: per stream and level mining, merging, pruning (Loki's
ingester_querier_test.go TestPrunePatterns), step buckets."""

from __future__ import annotations

import pytest

from observ.patterns.mine import MIN_CLUSTER_SIZE, MinedLine, PatternSeries, mine, prune

NS = 10**9
T0 = 1_699_999_980 * NS  # a multiple of 60 s


def lines(template: str, n: int, level: str = "unknown", every_ns: int = NS, t0: int = T0) -> list[MinedLine]:
    return [MinedLine(t0 + i * every_ns, template.format(i=i), level) for i in range(n)]


def one(series: list[PatternSeries]) -> PatternSeries:
    [s] = series
    return s


PRUNE = [  # (name, totals, min cluster size, max patterns, totals kept), Loki's TestPrunePatterns
    ("no pruning needed", [40, 35], 20, 300, [40, 35]),
    ("pruning some patterns", [10, 5, 50], 20, 300, [50]),
    ("limit patterns to max patterns", list(range(310, 0, -1)), 0, 300, list(range(310, 10, -1))),
]


@pytest.mark.parametrize(
    ("totals", "min_size", "max_patterns", "kept"), [c[1:] for c in PRUNE], ids=[c[0] for c in PRUNE]
)
def test_prune(totals: list[int], min_size: int, max_patterns: int, kept: list[int]) -> None:
    series = [PatternSeries(f"p{i}", "unknown", [(0, n)]) for i, n in enumerate(totals)]
    assert [s.total for s in prune(series, min_size, max_patterns)] == kept


def test_equal_patterns_of_two_streams_are_summed() -> None:
    a = lines("GET /api/{i} took 5 ms", 40)
    b = lines("GET /api/{i} took 5 ms", 20, t0=T0 + 10 * NS)
    s = one(mine([a, b], T0, T0 + 3600 * NS, 60 * NS))
    assert (s.pattern, s.level, s.total) == ("GET <_> took 5 ms", "unknown", 60)
    assert s.samples == [(T0 // 10**6, 60)]


def test_levels_are_mined_apart_and_unknown_levels_report_unknown() -> None:
    stream = [
        *lines("job {i} failed to start now", 30, "error"),
        *lines("job {i} failed to start now", 31, "INFO"),
        *lines("job {i} failed to start now", 32, "notice"),
    ]
    got = {(s.pattern, s.level): s.total for s in mine([stream], T0, T0 + 3600 * NS, 60 * NS)}
    assert got == {
        ("job <_> failed to start now", "error"): 30,
        ("job <_> failed to start now", "info"): 31,
        ("job <_> failed to start now", "unknown"): 32,
    }


def test_series_below_the_minimum_are_dropped_and_the_largest_comes_first() -> None:
    stream = [
        *lines("cache miss for key{i} in region", MIN_CLUSTER_SIZE - 1),
        *lines("worker {i} picked a job up", 50),
        *lines("user {i} logged in ok", 40),
    ]
    got = [(s.pattern, s.total) for s in mine([stream], T0, T0 + 3600 * NS, 60 * NS)]
    assert got == [("worker <_> picked a job up", 50), ("user <_> logged in ok", 40)]


def test_a_stream_whose_first_line_is_logfmt_is_mined_as_logfmt() -> None:
    stream = lines('ts=2024-01-01T00:00:{i:02d}Z level=info msg="served request" id={i} path=/x', 30)
    s = one(mine([stream], T0, T0 + 3600 * NS, 60 * NS))
    assert s.pattern == 'ts=<_> level=info msg="served request" id=<_> path=/x'


def test_a_stream_whose_first_line_is_json_is_mined_by_its_message() -> None:
    stream = lines('{{"level":"info","msg":"user {i} logged in","n":{i}}}', 30)
    assert one(mine([stream], T0, T0 + 3600 * NS, 60 * NS)).pattern == "<_>user <_> logged in<_>"


def test_counts_per_step_with_zeros_between() -> None:
    stream = lines("tick {i} from the scheduler ok", 40, every_ns=3 * NS)  # 0 .. 117 s
    stream += lines("tick {i} from the scheduler ok", 20, t0=T0 + 300 * NS)  # 300 .. 319 s
    s = one(mine([stream], T0, T0 + 3600 * NS, 60 * NS))
    ms = T0 // 10**6
    assert s.samples == [(ms, 20), (ms + 60_000, 20), (ms + 120_000, 0), (ms + 180_000, 0), (ms + 240_000, 0),
                         (ms + 300_000, 20)]  # fmt: skip


def test_a_step_below_ten_seconds_is_ten_seconds() -> None:
    s = one(mine([lines("tick {i} from the scheduler ok", 30)], T0, T0 + 3600 * NS, NS))
    ms = T0 // 10**6
    assert s.samples == [(ms, 10), (ms + 10_000, 10), (ms + 20_000, 10)]


def test_samples_before_start_are_left_out() -> None:
    """Counts are kept per 10 s: the bucket holding `start` begins before it and is not in the range."""
    stream = lines("tick {i} from the scheduler ok", 60)
    s = one(mine([stream], T0 + 5 * NS, T0 + 3600 * NS, 10 * NS, min_cluster_size=1))
    assert s.samples[0] == (T0 // 10**6 + 10_000, 10)
    assert s.total == 50
