"""Loki 3's ingest defaults seen from a client: `service_name` and `detected_level` pushed in, queried back as
Grafana's Logs Drilldown asks for them (service list, level breakdown, categorized labels), and switched off."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from observ.api.config import ApiConfig
from tests.contract.conftest import NS, Server, start_server, stop_server


def tenant() -> dict[str, str]:
    return {"X-Scope-OrgID": f"loki3-{uuid.uuid4().hex[:8]}"}


def streams(c: httpx.Client, query: str, t0: int, **headers: str) -> list[dict[str, object]]:
    params = {"query": query, "start": str(t0), "end": str(t0 + 60 * NS), "direction": "forward"}
    r = c.get("/loki/api/v1/query_range", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def push_corpus(c: httpx.Client, t0: int) -> httpx.Response:
    def at(i: int, line: str) -> list[str]:
        return [str(t0 + i * NS), line]

    body = {
        "streams": [
            {"stream": {"app": "checkout", "env": "prod"},
             "values": [at(0, '{"msg":"paid","level":"info"}'), at(1, '{"msg":"declined","severity":"ERR"}')]},
            {"stream": {"job": "batch"}, "values": [at(2, "msg=done lvl=warn"), at(3, "msg=started")]},
            {"stream": {"container": "proxy", "level": "Warning"}, "values": [at(4, "upstream slow")]},
            {"stream": {"service": "api"}, "values": [at(5, "[ERROR] timeout"), at(6, "GET /health 200")]},
            {"stream": {}, "values": [at(7, "no labels at all")]},
        ]
    }  # fmt: skip
    return c.post("/loki/api/v1/push", json=body)


@pytest.fixture(scope="module")
def pushed(server: Server) -> Iterator[tuple[httpx.Client, int]]:
    t0 = (time.time_ns() // NS - 300) * NS
    with server.client(**tenant()) as c:
        r = push_corpus(c, t0)
        assert r.status_code == 204, r.text
        yield c, t0


def test_service_name_values_are_the_drilldown_service_list(pushed: tuple[httpx.Client, int]) -> None:
    c, t0 = pushed
    window = {"start": str(t0), "end": str(t0 + 60 * NS)}
    values = c.get("/loki/api/v1/label/service_name/values", params=window).json()["data"]
    assert values == ["api", "batch", "checkout", "proxy", "unknown_service"]
    labels = c.get("/loki/api/v1/labels", params=window).json()["data"]
    assert "service_name" in labels and "detected_level" not in labels, "detected_level is metadata, not a label"


def test_detected_level_per_line(pushed: tuple[httpx.Client, int]) -> None:
    c, t0 = pushed
    got = {v[1]: s["stream"]["detected_level"] for s in streams(c, '{service_name=~".+"}', t0) for v in s["values"]}
    assert got == {
        '{"msg":"paid","level":"info"}': "info",
        '{"msg":"declined","severity":"ERR"}': "error",
        "msg=done lvl=warn": "warn",
        "msg=started": "unknown",
        "upstream slow": "warn",  # from the stream's level label, normalised
        "[ERROR] timeout": "error",
        "GET /health 200": "unknown",
        "no labels at all": "unknown",
    }


def test_drilldown_queries_filter_and_group_by_them(pushed: tuple[httpx.Client, int]) -> None:
    c, t0 = pushed
    errors = streams(c, '{service_name=~".+"} | detected_level="error"', t0)
    want = ["[ERROR] timeout", '{"msg":"declined","severity":"ERR"}']
    assert sorted(v[1] for s in errors for v in s["values"]) == want
    q = 'sum by (detected_level) (count_over_time({service_name="checkout"} | drop __error__ [2m]))'
    r = c.get("/loki/api/v1/query", params={"query": q, "time": str(t0 + 60 * NS)})
    assert r.status_code == 200, r.text
    by_level = {s["metric"]["detected_level"]: s["value"][1] for s in r.json()["data"]["result"]}
    assert by_level == {"info": "1", "error": "1"}


def test_categorized_labels_put_service_name_in_the_stream_and_detected_level_in_metadata(
    pushed: tuple[httpx.Client, int],
) -> None:
    c, t0 = pushed
    [s] = streams(c, '{job="batch"}', t0, **{"X-Loki-Response-Encoding-Flags": "categorize-labels"})
    assert s["stream"] == {"job": "batch", "service_name": "batch"}
    assert [v[2] for v in s["values"]] == [
        {"structuredMetadata": {"detected_level": "warn"}},
        {"structuredMetadata": {"detected_level": "unknown"}},
    ]


def test_queries_on_service_are_unchanged(pushed: tuple[httpx.Client, int]) -> None:
    c, t0 = pushed
    got = streams(c, '{service="api"}', t0)  # one stream per detected_level: metadata is among the labels
    assert {(s["stream"]["service"], s["stream"]["service_name"]) for s in got} == {("api", "api")}
    assert sorted(v[1] for s in got for v in s["values"]) == ["GET /health 200", "[ERROR] timeout"]


def test_otlp_logs_get_them_as_lokis_otlp_endpoint_does(server: Server) -> None:
    t0 = (time.time_ns() // NS - 300) * NS
    resource = {"attributes": [{"key": "k8s.job.name", "value": {"stringValue": "nightly"}}]}
    records = [
        {"timeUnixNano": str(t0), "severityNumber": 17, "body": {"stringValue": "export failed"}},
        {"timeUnixNano": str(t0 + NS), "body": {"stringValue": "debug: rows=10"}},
    ]
    doc = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}
    with server.client(**tenant()) as c:
        r = c.post("/v1/logs", content=orjson.dumps(doc), headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        got = streams(c, '{service_name="nightly"}', t0)
    assert {s["stream"]["service"] for s in got} == {"unknown_service"}, "observ's service column: no service.name"
    assert {v[1]: s["stream"]["detected_level"] for s in got for v in s["values"]} == {
        "export failed": "error",  # severity_number 17
        "debug: rows=10": "debug",  # no severity: the body's words
    }


@pytest.fixture(scope="module")
def without_defaults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = ApiConfig.model_validate({"push": {"discover_service_name": [], "discover_log_levels": False}})
    srv, thread, url, store = start_server(Path(tmp_path_factory.mktemp("loki3-off")), config)
    try:
        yield url
    finally:
        stop_server(srv, thread, store)


def test_switched_off_nothing_is_added(without_defaults: str) -> None:
    t0 = (time.time_ns() // NS - 300) * NS
    with httpx.Client(base_url=without_defaults, timeout=30) as c:
        r = push_corpus(c, t0)
        assert (r.status_code, r.text) == (400, "error at least one label pair is required per stream\n")
        labels = c.get("/loki/api/v1/labels", params={"start": str(t0), "end": str(t0 + 60 * NS)}).json()["data"]
        assert "service_name" not in labels
        [s] = streams(c, '{job="batch"}', t0)
        assert s["stream"] == {"job": "batch"}
        assert c.get("/loki/api/v1/label/service_name/values").json()["data"] == []
