"""Labels, series, stats, format_query, detected_fields, readiness and metrics over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from observ.api.config import ApiConfig
from tests.contract.conftest import Server, start_server, stop_server, window


def test_labels(server: Server, alpha: httpx.Client) -> None:
    body = alpha.get("/loki/api/v1/labels", params=window(server)).json()
    assert body["status"] == "success"
    assert {"service", "namespace", "level", "team"} <= set(body["data"])
    assert body["data"] == sorted(body["data"])
    scoped = alpha.get("/loki/api/v1/labels", params={"query": '{service="db"}', **window(server)}).json()["data"]
    assert "team" not in scoped and "service" in scoped


def test_labels_default_window_is_the_last_hour(alpha: httpx.Client) -> None:
    assert "service" in alpha.get("/loki/api/v1/labels").json()["data"]


def test_label_values(server: Server, alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/label/service/values", params=window(server))
    assert r.json() == {"status": "success", "data": ["api", "db", "worker"]}
    scoped = alpha.get(
        "/loki/api/v1/label/service/values", params={"query": '{namespace="batch"}', **window(server)}
    ).json()
    assert scoped["data"] == ["worker"]
    assert alpha.get("/loki/api/v1/label/nope/values", params=window(server)).json()["data"] == []


def test_series_get_and_post(server: Server, alpha: httpx.Client) -> None:
    params = {"match[]": ['{namespace="prod"}'], **window(server)}
    got = alpha.get("/loki/api/v1/series", params=params).json()
    posted = alpha.post("/loki/api/v1/series", data=params).json()
    assert got == posted and got["status"] == "success"
    assert sorted(s["service"] for s in got["data"]) == ["api", "db"]
    api = next(s for s in got["data"] if s["service"] == "api")
    assert api == {"service": "api", "namespace": "prod", "level": "info", "team": "web", "service_name": "api"}


def test_index_stats(server: Server, alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/index/stats", params={"query": '{namespace="prod"}', **window(server)})
    stats = r.json()
    assert list(stats) == ["streams", "chunks", "entries", "bytes"]
    assert stats["streams"] == 2 and stats["entries"] == 40 and stats["bytes"] > 0


def test_format_query(alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/format_query", params={"query": '{foo=   "bar"}'})
    assert r.json() == {"status": "success", "data": '{foo="bar"}'}
    assert alpha.post("/loki/api/v1/format_query", data={"query": '{foo=   "bar"}'}).json()["data"] == '{foo="bar"}'
    assert alpha.get("/loki/api/v1/format_query", params={"query": "{foo="}).status_code == 400


def test_detected_fields(server: Server, alpha: httpx.Client) -> None:
    params = {"query": '{namespace="prod"}', "limit": "1000", **window(server)}
    body = alpha.get("/loki/api/v1/detected_fields", params=params).json()
    assert list(body) == ["fields", "limit"] and body["limit"] == 1000
    fields = {f["label"]: f for f in body["fields"]}
    assert fields["status"] == {
        "label": "status",
        "type": "int",
        "cardinality": 2,
        "parsers": ["json"],
        "jsonPath": ["status"],
    }
    assert fields["took"]["type"] == "duration" and fields["took"]["cardinality"] == 20
    assert fields["rows"]["parsers"] == ["logfmt"] and fields["rows"]["type"] == "int"
    assert fields["trace_id"]["parsers"] is None and fields["trace_id"]["cardinality"] == 20
    assert "service" not in fields


def test_detected_fields_refuses_metric_queries(alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/detected_fields", params={"query": 'rate({service="api"}[1m])'})
    assert r.status_code == 400


def test_ready_health_and_metrics(alpha: httpx.Client) -> None:
    assert alpha.get("/ready").text == "ready\n"
    assert alpha.get("/healthz").status_code == alpha.get("/readyz").status_code == 200
    alpha.get("/loki/api/v1/labels")
    families = {f.name: f for f in text_string_to_metric_families(alpha.get("/metrics").text)}
    routes = {s.labels["route"] for s in families["observ_api_request_duration_seconds"].samples}
    assert "loki_api_v1_labels" in routes and "loki_api_v1_push" in routes
    pushed = {
        s.labels["tenant"]: s.value for s in families["observ_push_received_lines"].samples if s.name.endswith("_total")
    }
    assert pushed["alpha"] >= 60


def test_existing_json_endpoints_keep_working(alpha: httpx.Client) -> None:
    services = alpha.get("/api/v1/services").json()
    assert sorted(s["service"] for s in services) == ["api", "db", "worker"]
    recent = alpha.get("/api/v1/logs", params={"service": "worker", "limit": 2}).json()
    assert recent["tenant"] == "alpha" and len(recent["lines"]) == 2


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose query_timeout has always run out already."""
    config = ApiConfig.model_validate({"limits": {"query_timeout_s": 1e-9}})
    srv, thread, url, store = start_server(Path(tmp_path_factory.mktemp("impatient")), config)
    try:
        yield url
    finally:
        stop_server(srv, thread, store)


def test_query_timeout_is_504_with_lokis_message(impatient: str) -> None:
    r = httpx.get(f"{impatient}/loki/api/v1/query_range", params={"query": '{service="api"} |= "x"'})
    assert r.status_code == 504 and r.text.startswith("request timed out, decrease the duration of the request")
