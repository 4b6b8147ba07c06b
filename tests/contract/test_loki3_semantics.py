"""Loki 3 query semantics over HTTP: step alignment, parser errors a query asks for, rate_counter, parse errors."""

from __future__ import annotations

import httpx

from tests.contract.conftest import NS, Server


def test_metric_query_range_is_aligned_to_the_step(server: Server, alpha: httpx.Client) -> None:
    """Loki's frontend rounds start down and end up to the step (queryrange alignStartEnd)."""
    start, end, step = server.t0 + 7 * NS, server.t0 + 53 * NS, 10
    r = alpha.get(
        "/loki/api/v1/query_range",
        params={"query": 'sum(count_over_time({namespace="prod"}[1m]))', "start": str(start), "end": str(end),
                "step": str(step)},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    times = [t for t, _ in r.json()["data"]["result"][0]["values"]]
    assert all(t % step == 0 for t in times)
    assert max(times) == -(-end // (step * NS)) * step


def test_a_log_query_keeps_its_bounds(server: Server, alpha: httpx.Client) -> None:
    start = server.t0 + 7 * NS
    r = alpha.get(
        "/loki/api/v1/query_range",
        params={"query": '{service="db"}', "start": str(start), "end": str(start + 2 * NS), "direction": "forward"},
    )
    values = r.json()["data"]["result"][0]["values"]
    assert [int(ts) for ts, _ in values] == [start]  # i = 7 is a db line; i = 8 is past `end`


def test_parse_errors_the_query_asks_for_are_counted(server: Server, alpha: httpx.Client) -> None:
    """db lines are logfmt: `json` fails on each of its 20 lines; sum() with an __error__ filter counts them."""
    at = {"time": str(server.t0 + 60 * NS)}
    r = alpha.get(
        "/loki/api/v1/query",
        params={"query": 'sum(count_over_time({namespace="prod"} | json | __error__!="" [5m]))'} | at,
    )
    assert r.status_code == 200, r.text
    assert [s["value"][1] for s in r.json()["data"]["result"]] == ["20"]
    r = alpha.get(
        "/loki/api/v1/query", params={"query": 'count_over_time({namespace="prod"} | json | __error__!="" [5m])'} | at
    )
    assert r.status_code == 400 and r.text.startswith("pipeline error: 'JSONParserErr' for series: ")


def test_rate_counter_over_one_sample_is_zero(server: Server, alpha: httpx.Client) -> None:
    r = alpha.get(
        "/loki/api/v1/query",
        params={"query": 'rate_counter({service="db"} | logfmt | unwrap rows [1s])', "time": str(server.t0 + 4 * NS)},
    )
    assert [s["value"][1] for s in r.json()["data"]["result"]] == ["0"]


def test_whole_query_errors_have_no_position(alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/query_range", params={"query": '{service=""}'})
    assert r.status_code == 400
    assert r.text.startswith(
        "parse error : queries require at least one regexp or equality matcher that does not have an "
        'empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will'
    )
