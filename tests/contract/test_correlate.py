"""The correlation API over real HTTP: spans from the real OpenTelemetry SDK through `/v1/traces`, lines through
the Loki push API, metrics and exemplars from a real Prometheus (exemplar storage on) scraping a prometheus-client
registry served as OpenMetrics. Last, Prometheus is stopped: answers keep their logs and spans, `missing` says why,
and the breaker answers without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry, Counter, Histogram, start_wsgi_server
from prometheus_server import LOOPBACK, PrometheusServer

from observ.api.app import create_app
from observ.api.config import ApiConfig
from observ.store.logstore import LogStore
from observ.traces.store import SpanStore
from tests.contract.conftest import serve_app

TENANT = {"X-Scope-OrgID": "shop"}
NS = 1_000_000_000
ERROR_LINE = '{"level":"error","msg":"card 4242 declined by issuer 17","trace_id":"%s"}'


@dataclass
class Red:
    registry: CollectorRegistry
    requests: Counter
    durations: Histogram
    target: str


@pytest.fixture(scope="module")
def red() -> Iterator[Red]:
    """The demo's RED metrics (names and labels of alerts/services.yaml), served with exemplars on OpenMetrics."""
    registry = CollectorRegistry()
    requests = Counter("http_requests", "Requests.", ["service", "route", "code"], registry=registry)
    durations = Histogram(
        "http_request_duration_seconds", "Latency.", ["service", "route", "code"], buckets=(0.1, 0.5, 1.0, 2.5),
        registry=registry,
    )  # fmt: skip
    for service, code in (("payments", "200"), ("payments", "500"), ("checkout", "200")):
        requests.labels(service, "/pay", code)  # series at 0 before the first scrape, so rates see the increase
        durations.labels(service, "/pay", code)
    httpd, _ = start_wsgi_server(0, addr=LOOPBACK, registry=registry)
    try:
        yield Red(registry, requests, durations, f"{LOOPBACK}:{httpd.server_port}")
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def prometheus(prometheus_factory: Callable[..., PrometheusServer], red: Red) -> PrometheusServer:
    server = prometheus_factory(targets=[red.target], flags=["--enable-feature=exemplar-storage"])
    server.wait_for('http_requests_total{service="payments"}')
    return server


@dataclass
class World:
    url: str
    trace_id: str
    slow_trace_id: str
    spans: dict[str, ReadableSpan]
    error_ts: int
    """Timestamp of the payments error line (carrying the trace ID)."""

    def get(self, path: str, headers: dict[str, str] = TENANT, **params: str) -> httpx.Response:
        return httpx.get(self.url + path, params=params, headers=headers, timeout=30)


def _send_trace(url: str) -> tuple[dict[str, ReadableSpan], str]:
    """checkout (server) -> payments (client, error) -> db (internal), each service its own SDK provider, and a
    checkout log record inside its span over OTLP; then a second, slow payments trace. Spans by name, and the
    slow trace's ID."""
    logs = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs", headers=TENANT)))
    finished: dict[str, ReadableSpan] = {}
    providers = {}
    for service in ("checkout", "payments", "db"):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=TENANT)))
        providers[service] = provider
    tracer = {s: p.get_tracer("tests.correlate") for s, p in providers.items()}
    with tracer["checkout"].start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        logs.get_logger("tests.correlate").emit(severity_number=SeverityNumber.INFO, body="order 42 accepted")
        with tracer["payments"].start_as_current_span("charge", kind=SpanKind.CLIENT) as charge:
            with tracer["db"].start_as_current_span("SELECT cards") as db:
                time.sleep(0.02)  # a span long enough for a line to fall inside it
            charge.set_status(Status(StatusCode.ERROR, "card declined"))
    with tracer["payments"].start_as_current_span("refund", kind=SpanKind.SERVER) as slow:
        slow_id = f"{slow.get_span_context().trace_id:032x}"
    for span in (root, charge, db, slow):
        finished[span.name] = span  # type: ignore[assignment]
    for p in (*providers.values(), logs):
        p.shutdown()
    return finished, slow_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, prometheus: PrometheusServer, red: Red) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("correlate")
    store, spans = LogStore(data / "observ.duckdb"), SpanStore(data / "spans.duckdb")
    config = ApiConfig.model_validate({
        "auth": {"require_tenant": True},
        "prometheus": {"url": prometheus.url, "retry": {"attempts": 2, "backoff_initial_s": 0.01,
                       "backoff_max_s": 0.01}, "breaker": {"failure_threshold": 3, "cooldown_s": 600}},
    })  # fmt: skip
    app = create_app(store, CollectorRegistry(), lambda: True, config=config, spans=spans)
    server, thread, url = serve_app(app)
    try:
        sent, slow_id = _send_trace(url)
        root, charge = sent["POST /checkout"], sent["charge"]
        trace_id = f"{root.context.trace_id:032x}"
        assert root.start_time is not None and charge.start_time is not None and charge.end_time is not None
        db = sent["SELECT cards"]
        assert db.start_time is not None and db.end_time is not None
        db_mid = (db.start_time + db.end_time) // 2
        error_ts = charge.end_time - 1
        push = {"streams": [
            {"stream": {"service": "checkout", "level": "info"},
             "values": [[str(root.start_time + 1), "checkout started", {"trace_id": trace_id}]]},
            {"stream": {"service": "payments", "level": "error"},
             "values": [[str(error_ts), ERROR_LINE % trace_id, {"trace_id": trace_id}]]},
            {"stream": {"service": "db", "level": "info"},
             "values": [[str(db_mid), "query took 12ms"], [str(db_mid + 30 * NS), "vacuum done"]]},
        ]}  # fmt: skip
        assert httpx.post(f"{url}/loki/api/v1/push", json=push, headers=TENANT).status_code == 204
        red.requests.labels("payments", "/pay", "500").inc(exemplar={"trace_id": trace_id})
        red.durations.labels("payments", "/pay", "500").observe(0.3, exemplar={"trace_id": trace_id})
        red.requests.labels("payments", "/pay", "200").inc(exemplar={"trace_id": slow_id})
        red.durations.labels("payments", "/pay", "200").observe(2.0, exemplar={"trace_id": slow_id})
        prometheus.wait_for('http_requests_total{service="payments",code="500"} > 0')
        prometheus.wait_for('http_request_duration_seconds_count{service="payments",code="200"} > 0')
        yield World(url, trace_id, slow_id, sent, error_ts)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        store.close()
        spans.close()


def test_a_trace_with_its_spans_logs_and_metrics(world: World) -> None:
    r = world.get(f"/api/v1/correlate/traces/{world.trace_id}")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["missing"] == [] and got["span_count"] == 3 and got["services"] == ["checkout", "payments", "db"]
    assert [(s["name"], s["depth"], s["service"], s["kind"], s["status"]) for s in got["spans"]] == [
        ("POST /checkout", 0, "checkout", "server", "unset"),
        ("charge", 1, "payments", "client", "error"),
        ("SELECT cards", 2, "db", "internal", "unset"),
    ]
    assert got["spans"][1]["status_message"] == "card declined"
    assert got["spans"][0]["children"] == [got["spans"][1]["span_id"]]
    assert [(x["service"], x["match"], x["line"]) for x in got["logs"]] == [
        ("checkout", "trace_id", "checkout started"),
        ("checkout", "trace_id", "order 42 accepted"),
        ("db", "time", "query took 12ms"),
        ("payments", "trace_id", ERROR_LINE % world.trace_id),
    ]
    assert got["logs"][1]["span_id"] == got["spans"][0]["span_id"]  # the OTLP record's own span
    assert got["logs"][2]["span_id"] == got["spans"][2]["span_id"]  # the db line fell inside the db span
    metrics = {m["service"]: m for m in got["metrics"]["services"]}
    assert metrics["payments"]["request_rate"] > 0 and metrics["payments"]["error_ratio"] == pytest.approx(0.5)
    assert 0.1 <= metrics["payments"]["latency_p50_s"] <= 2.5 and metrics["payments"]["latency_p99_s"] <= 2.5
    assert metrics["checkout"]["request_rate"] == 0 and metrics["checkout"]["error_ratio"] is None
    assert metrics["db"] == {"service": "db", "request_rate": None, "error_ratio": None, "latency_p50_s": None,
                             "latency_p95_s": None, "latency_p99_s": None}  # fmt: skip


def test_a_service_window_with_errors_exemplars_and_traces(world: World) -> None:
    r = world.get("/api/v1/correlate/services/payments")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["missing"] == [] and got["levels"] == {"error": 1}
    assert got["metrics"]["services"][0]["error_ratio"] == pytest.approx(0.5)
    (top,) = got["top_errors"]
    assert top["template"] == "card <*> declined by issuer <*>" and top["trace_ids"] == [world.trace_id]
    exemplars = [(e["trace_id"], e["reason"]) for e in got["exemplars"]]
    assert exemplars == [(world.trace_id, "error"), (world.slow_trace_id, "slow")]
    assert got["exemplars"][0]["series"]["service"] == "payments"
    assert [t["trace_id"] for t in got["failing_traces"]] == [world.trace_id]
    assert {t["trace_id"] for t in got["slowest_traces"]} == {world.trace_id, world.slow_trace_id}


def test_an_exemplar_trace_leads_to_its_error_span_and_log(world: World) -> None:
    """The issue's path: error exemplar -> its trace -> the error span -> the error line."""
    exemplar = world.get("/api/v1/correlate/services/payments").json()["exemplars"][0]
    got = world.get(f"/api/v1/correlate/traces/{exemplar['trace_id']}").json()
    assert any(s["status"] == "error" for s in got["spans"])
    assert any("declined" in x["line"] for x in got["logs"])


def test_a_log_line_to_its_trace(world: World) -> None:
    by_line = world.get("/api/v1/correlate/line", selector='{service="payments"}', ts=str(world.error_ts))
    assert by_line.status_code == 200, by_line.text
    assert by_line.json()["trace_id"] == world.trace_id and by_line.json()["span_count"] == 3
    by_id = world.get("/api/v1/correlate/line", trace_id=world.trace_id.upper())
    assert by_id.json()["spans"] == by_line.json()["spans"]


@pytest.mark.parametrize(
    ("path", "params", "status", "detail"),
    [
        ("/traces/not-hex", {}, 400, "trace ID 'not-hex' must be 1 to 32 hex digits"),
        ("/traces/" + "f" * 33, {}, 400, "must be 1 to 32 hex digits"),
        ("/traces/f00d", {}, 404, f"trace {'0' * 28}f00d not found"),
        ("/traces/f00d", {"start": "2000", "end": "1000"}, 400, "end 1000000000000 must be after start"),
        ("/services/payments", {"start": "100", "end": "50"}, 400, "must be after start"),
        ("/services/payments", {"start": "0"}, 400, "longer than 86400 s (max_window_s)"),
        ("/services/payments", {"end": "yesterday"}, 400, 'invalid end: strconv.ParseInt: parsing "yesterday"'),
        ("/line", {}, 400, "give `selector` and `ts` of the line, or its `trace_id`"),
        ("/line", {"selector": '{service="payments"', "ts": "1"}, 400, "parse error"),
        ("/line", {"selector": '{service="payments"}', "ts": "1"}, 404, 'no log line of {service="payments"} at'),
        ("/line", {"selector": '{service="db"}', "ts": "x"}, 400, "invalid ts"),
        ("/line", {"selector": '{service="db"}', "ts": "9" * 40}, 400, "invalid ts: strconv.ParseInt"),
        ("/services/payments", {"start": "NaN"}, 400, "invalid start"),
        ("/traces/" + "a" * 10_000, {}, 400, "must be 1 to 32 hex digits"),
        ("/line", {"selector": "{" + 'a="b",' * 2_000 + "}", "ts": "1"}, 400, "parse error"),
    ],
)
def test_bad_input_is_a_clear_4xx(world: World, path: str, params: dict[str, str], status: int, detail: str) -> None:
    r = world.get("/api/v1/correlate" + path, **params)
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"] and len(r.json()["detail"]) < 300


def test_tenancy_as_the_loki_api(world: World) -> None:
    r = world.get(f"/api/v1/correlate/traces/{world.trace_id}", headers={})
    assert (r.status_code, r.json()) == (401, {"detail": "no org id"})
    r = world.get(f"/api/v1/correlate/traces/{world.trace_id}", headers={"X-Scope-OrgID": "other"})
    assert r.status_code == 404
    r = world.get("/api/v1/correlate/services/payments", headers={"X-Scope-OrgID": "a|b"})
    assert r.status_code == 400 and "multi-tenant" in r.json()["detail"]


def test_the_openapi_documents_the_answers(world: World) -> None:
    doc = httpx.get(world.url + "/openapi.json").json()
    paths = doc["paths"]
    for path, model in (("/traces/{trace_id}", "TraceCorrelation"), ("/services/{service}", "ServiceCorrelation"),
                        ("/line", "TraceCorrelation")):  # fmt: skip
        op = paths["/api/v1/correlate" + path]["get"]
        assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(model)
        assert op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
        assert op["description"] and all(p.get("description") for p in op["parameters"])
    schema = doc["components"]["schemas"]["TraceCorrelation"]
    assert {"spans", "logs", "metrics", "missing"} <= set(schema["properties"])


def test_prometheus_stopped_answers_keep_logs_and_spans(world: World, prometheus: PrometheusServer) -> None:
    """Runs last in this module: it stops the module's Prometheus."""
    prometheus.stop()
    reasons = []
    for _ in range(3):
        got = world.get(f"/api/v1/correlate/traces/{world.trace_id}").json()
        assert got["span_count"] == 3 and len(got["logs"]) == 4 and got["metrics"] is None
        (missing,) = got["missing"]
        assert missing["part"] == "metrics" and missing["reason"].startswith(
            f"prometheus unreachable at {prometheus.url}"
        )
        reasons.append(missing["reason"])
    assert "connection refused" in reasons[0] and "circuit open, retry in" in reasons[-1]
    service = world.get("/api/v1/correlate/services/payments").json()
    assert service["levels"] == {"error": 1} and service["failing_traces"] and service["exemplars"] == []
    assert [m["part"] for m in service["missing"]] == ["metrics", "exemplars"]
    assert all("circuit open" in m["reason"] for m in service["missing"]) and service["metrics"] is None
    metrics = httpx.get(world.url + "/metrics").text
    assert 'observ_prometheus_circuit_state{state="open"} 1.0' in metrics
    assert 'outcome="circuit_open"' in metrics
