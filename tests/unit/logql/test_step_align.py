"""Metric range queries are aligned to their step as Loki's query frontend aligns them; log queries are not."""

from __future__ import annotations

import pytest

from observ.api.loki.params import align_to_step, range_query

S = 10**9


# grafana/loki pkg/querier/queryrange/split_by_interval_test.go, "step not a multiple of interval" cases:
# the first split's start and the last split's end of each request (step 17s; 2h mod 17 = 9, 9h mod 17 = 15).
@pytest.mark.parametrize(
    ("bounds", "aligned"),
    [
        ((2 * 3600 - 9, 3 * 3 * 3600), (2 * 3600 - 9, 3 * 3 * 3600 + 2)),  # start already aligned
        ((2 * 3600, 3 * 3 * 3600 + 2), (2 * 3600 - 9, 3 * 3 * 3600 + 2)),  # end already aligned
        ((2 * 3600, 3 * 3 * 3600), (2 * 3600 - 9, 3 * 3 * 3600 + 2)),  # neither
    ],
)
def test_loki_split_by_interval_alignment(bounds: tuple[int, int], aligned: tuple[int, int]) -> None:
    assert align_to_step(bounds[0] * S, bounds[1] * S, 17 * S) == (aligned[0] * S, aligned[1] * S)


def test_aligned_bounds_stay() -> None:
    assert align_to_step(600 * S, 1200 * S, 60 * S) == (600 * S, 1200 * S)


def test_before_1970_rounds_towards_zero_as_go_does() -> None:
    assert align_to_step(-7 * S, -7 * S, 5 * S) == (-5 * S, 0)  # end: -7 + (5 - (-7 % 5 = -2)) in Go


def _form(query: str, start: str, end: str, step: str) -> dict[str, list[str]]:
    return {"query": [query], "start": [start], "end": [end], "step": [step]}


def test_metric_query_range_is_aligned() -> None:
    q = range_query(_form('rate({app="a"}[1m])', "1700000010", "1700000110", "60"), 0)
    assert (q.start_ns, q.end_ns) == (1699999980 * S, 1700000160 * S)


@pytest.mark.parametrize("query", ['{app="a"} |= "x"', "not logql {"])
def test_log_and_unparsable_queries_keep_their_bounds(query: str) -> None:
    q = range_query(_form(query, "1700000010", "1700000110", "60"), 0)
    assert (q.start_ns, q.end_ns) == (1700000010 * S, 1700000110 * S)
