"""The JSON Grafana's Loki datasource and logcli parse, from a real server over the real engine."""

from __future__ import annotations

import re

import httpx
import orjson

from tests.contract.conftest import NS, Server, window


def test_grafana_save_and_test(alpha: httpx.Client) -> None:
    r = alpha.get(
        "/loki/api/v1/query", params={"query": "vector(1)+vector(1)", "time": "4000000000", "direction": "backward"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content.startswith(
        b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[4000000000,"2"]}],"stats":{'
    )


def test_log_query_values_are_ns_string_pairs_newest_first(server: Server, alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/query_range", params={"query": '{service="worker"}', "limit": "5", **window(server)})
    body = r.json()
    assert list(body) == ["status", "data"] and list(body["data"]) == ["resultType", "result", "stats"]
    [stream] = body["data"]["result"]
    assert list(stream) == ["stream", "values"]
    loki3 = {"service_name": "worker", "detected_level": "warn"}  # added on push, as Loki 3 adds them
    assert stream["stream"] == {"service": "worker", "namespace": "batch", "level": "warn", **loki3}
    values = stream["values"]
    assert len(values) == 5 and all(len(v) == 2 and isinstance(v[0], str) and v[0].isdigit() for v in values)
    assert [int(v[0]) for v in values] == sorted((int(v[0]) for v in values), reverse=True)
    assert int(values[0][0]) == server.t0 + 59 * NS and values[0][1] == "job 59 done in 59s"
    assert re.search(rb'"values":\[\["\d{19}","job 59 done in 59s"\]', r.content)


def test_forward_direction_is_oldest_first(server: Server, alpha: httpx.Client) -> None:
    params = {"query": '{service="worker"}', "limit": "3", "direction": "FORWARD", **window(server)}
    values = alpha.get("/loki/api/v1/query_range", params=params).json()["data"]["result"][0]["values"]
    assert [int(v[0]) for v in values] == [server.t0 + 2 * NS, server.t0 + 5 * NS, server.t0 + 8 * NS]


def test_start_inclusive_end_exclusive(server: Server, alpha: httpx.Client) -> None:
    params = {"query": '{service="worker"}', "start": str(server.t0 + 2 * NS), "end": str(server.t0 + 5 * NS)}
    values = alpha.get("/loki/api/v1/query_range", params=params).json()["data"]["result"][0]["values"]
    assert [int(v[0]) for v in values] == [server.t0 + 2 * NS]


def test_structured_metadata_is_a_label_unless_categorized(server: Server, alpha: httpx.Client) -> None:
    params = {"query": '{service="api"} | json | status="500"', "limit": "100", **window(server)}
    plain = alpha.get("/loki/api/v1/query_range", params=params).json()["data"]
    assert all("trace_id" in s["stream"] and s["stream"]["status"] == "500" for s in plain["result"])
    flagged = alpha.get(
        "/loki/api/v1/query_range", params=params, headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"}
    ).json()["data"]
    assert list(flagged) == ["resultType", "encodingFlags", "result", "stats"]
    assert flagged["encodingFlags"] == ["categorize-labels"]
    [stream] = flagged["result"]
    labels = {"service": "api", "namespace": "prod", "level": "info", "team": "web", "service_name": "api"}
    assert stream["stream"] == labels
    _, line, extra = stream["values"][0]
    assert list(extra) == ["structuredMetadata", "parsed"]
    assert set(extra["structuredMetadata"]) == {"trace_id", "span_id", "detected_level"}
    assert extra["parsed"]["status"] == "500" and orjson.loads(line)["status"] == 500
    assert sum(len(s["values"]) for s in plain["result"]) == len(stream["values"]) == 7


def test_matrix_values_are_strings_oldest_first(server: Server, alpha: httpx.Client) -> None:
    params = {"query": 'sum by (service) (count_over_time({namespace="prod"}[10s]))', "step": "10", **window(server)}
    data = alpha.get("/loki/api/v1/query_range", params=params).json()["data"]
    assert data["resultType"] == "matrix"
    for series in data["result"]:
        assert list(series) == ["metric", "values"] and set(series["metric"]) == {"service"}
        times = [t for t, _ in series["values"]]
        assert times == sorted(times) and all(isinstance(t, int | float) for t in times)
        assert all(isinstance(v, str) and float(v) >= 0 for _, v in series["values"])
    totals = {s["metric"]["service"]: s["values"] for s in data["result"]}
    assert set(totals) == {"api", "db"}


def test_nan_and_inf_are_strings(alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/query", params={"query": "vector(1) / vector(0)", "time": "1700000000"})
    assert r.json()["data"]["result"][0]["value"] == [1700000000, "NaN"]
    r = alpha.get("/loki/api/v1/query", params={"query": "vector(1e308) * vector(10)", "time": "1700000000"})
    assert r.json()["data"]["result"][0]["value"][1] == "+Inf"
    r = alpha.get("/loki/api/v1/query", params={"query": "vector(1e308) * vector(-10)", "time": "1700000000"})
    assert r.json()["data"]["result"][0]["value"][1] == "-Inf"


def test_scalar(alpha: httpx.Client) -> None:
    data = alpha.get("/loki/api/v1/query", params={"query": "1 + 1", "time": "1700000000.5"}).json()["data"]
    assert data["resultType"] == "scalar" and data["result"] == [1700000000.5, "2"]


def test_instant_query_with_a_log_query_is_400(alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/query", params={"query": '{service="api"}'})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/plain")
    assert "log queries are not supported as an instant query type" in r.text


def test_parse_error_is_400_with_lokis_wording(alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/query_range", params={"query": '{service="api"'})
    assert r.status_code == 400 and r.text.startswith("parse error")


def test_limits_answer_with_lokis_messages(server: Server, alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/query_range", params={"query": '{service="api"}', "limit": "6000"})
    assert (r.status_code, r.text) == (
        400,
        "max entries limit per query exceeded, limit > max_entries_limit (6000 > 5000)",
    )
    r = alpha.get("/loki/api/v1/query_range", params={"query": '{service="api"}', "since": "800h", "step": "3600"})
    assert r.status_code == 400 and r.text.startswith("the query time range exceeds the limit (query length: ")


def test_step_too_small_is_refused_before_the_engine(alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/query_range", params={"query": "vector(1)", "since": "1h", "step": "0.1"})
    assert r.status_code == 400 and "exceeded maximum resolution of 11,000 points" in r.text


def test_stats_summary_present(server: Server, alpha: httpx.Client) -> None:
    params = {"query": '{namespace="prod"} |= "select"', **window(server)}
    stats = alpha.get("/loki/api/v1/query_range", params=params).json()["data"]["stats"]
    assert stats["summary"]["totalEntriesReturned"] == 20
    assert stats["summary"]["totalLinesProcessed"] >= 20
