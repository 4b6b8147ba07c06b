"""Issue 9's path on the Kafka deployment, every part real: the demo services (OpenTelemetry SDK exporting over
OTLP/HTTP and OTLP/gRPC to the sidecar's ambassador, prometheus-client RED metrics with `trace_id` exemplars, JSON
logs in the kubelet layout), `observ ship --otlp` -> Kafka -> `observ serve --bootstrap`, and Debian's Prometheus
with exemplar storage scraping the demo.

Switch the payments fault on; then from the failing service's error ratio the correlation API returns exemplar
trace IDs, whose traces hold the error spans, whose logs hold the injected error message. Grafana's own links are
followed too: the trace-to-logs query it sends finds those lines, and trace-to-metrics shows the error ratio.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import httpx
import pytest
import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from collectors.demo.faults import FaultMode, error_message
from collectors.demo.workload import DemoWorkload
from observ.cli.prometheus_runner import Targets, scrape_config
from observ.dashboards.provisioning import TEMPO_UID, ProvisioningConfig, datasources
from tests.integration.harness import Proc, free_port, sidecar, wait_for

pytestmark = pytest.mark.kafka

FAILING = "payments"
OVER_GRPC = frozenset({"payments", "inventory"})
"""These export spans over OTLP/gRPC, the others over OTLP/HTTP: both ambassador transports carry the trace."""


class Stack:
    def __init__(self, api: str, prometheus_url: str, demo: DemoWorkload) -> None:
        self.api, self.prometheus_url, self.demo = api, prometheus_url, demo

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(self.api + path, params=params, timeout=30)  # type: ignore[arg-type]

    def promql(self, expr: str) -> list[dict]:
        got = httpx.post(f"{self.prometheus_url}/api/v1/query", data={"query": expr}, timeout=30)
        assert got.status_code == 200, got.text
        return got.json()["data"]["result"]


def _processors(http_port: int, grpc_port: int) -> Callable[[str], SpanProcessor]:
    def make(service: str) -> SpanProcessor:
        if service in OVER_GRPC:
            exporter = GrpcSpanExporter(endpoint=f"http://127.0.0.1:{grpc_port}", insecure=True, timeout=10)
        else:
            exporter = HttpSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces", timeout=10)
        return BatchSpanProcessor(exporter, schedule_delay_millis=500)

    return make


@pytest.fixture
def stack(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, kafka_broker, prometheus_factory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    name = tmp.name.replace("_", "-")
    kafka_broker.start()
    logs_topic, spans_topic = f"e2e-logs-{name}", f"e2e-spans-{name}"
    for topic in (logs_topic, spans_topic):
        kafka_broker.create_topic(topic, 2)
    http_port, grpc_port = free_port(), free_port()
    adapter = tmp / "adapter.yaml"
    adapter.write_text(
        yaml.safe_dump({"otlp": {"http_port": http_port, "grpc_port": grpc_port, "spans_topic": spans_topic}})
    )
    demo = DemoWorkload(tmp / "demo", rate=15.0, processor_for=_processors(http_port, grpc_port))
    api_port = free_port()
    config = scrape_config(Targets(services=demo.targets, observ=f"127.0.0.1:{api_port}"), [])
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    prometheus = prometheus_factory(config=config, flags=["--enable-feature=exemplar-storage"])
    ship = sidecar(tmp / "ship", [demo.glob], kafka_bootstrap, logs_topic, "--otlp", "--config", str(adapter))
    (tmp / "ship").mkdir()
    serve_args = [sys.executable, "-m", "observ.cli.main", "serve", "--data", str(tmp / "store"), "--bootstrap",
                  kafka_bootstrap, "--topic", logs_topic, "--spans-topic", spans_topic, "--group", f"g-{name}",
                  "--port", str(api_port), "--prometheus-url", prometheus.url]  # fmt: skip
    serve = Proc(serve_args, tmp / "serve.log", api_port)
    serve.start()
    ship.start()
    demo.start()
    try:
        yield Stack(f"http://127.0.0.1:{api_port}", prometheus.url, demo)
    finally:
        demo.stop()
        ship.stop()
        serve.stop()


def _error_exemplars(stack: Stack) -> list[dict]:
    got = stack.get(f"/api/v1/correlate/services/{FAILING}")
    assert got.status_code == 200, got.text
    answer = got.json()
    assert not [m for m in answer["missing"] if m["part"] == "metrics"], answer["missing"]
    return [e for e in answer["exemplars"] if e["reason"] == "error"]


def _exemplar_path(stack: Stack) -> None:
    mine = f'service="{FAILING}"'
    ratio = (
        f'sum(rate(http_requests_total{{{mine}, code=~"5.."}}[30s])) / sum(rate(http_requests_total{{{mine}}}[30s]))'
    )
    wait_for(lambda: bool(stack.promql(f"sum(http_requests_total{{service='{FAILING}'}})")), 90, "payments scraped")
    stack.demo.faults.set(FAILING, FaultMode.error)
    wait_for(lambda: any(float(s["value"][1]) > 0.5 for s in stack.promql(ratio)), 90, "the payments error ratio up")
    wait_for(lambda: bool(_error_exemplars(stack)), 90, "error exemplars of payments")
    message = error_message(FAILING)
    checked = 0
    for exemplar in _error_exemplars(stack)[:3]:
        tid = exemplar["trace_id"]

        def complete(tid: str = tid) -> dict | None:
            got = stack.get(f"/api/v1/correlate/traces/{tid}")
            if got.status_code != 200:
                return None
            answer = got.json()
            errors = [s for s in answer["spans"] if s["status"] == "error" and s["service"] == FAILING]
            lines = [ln for ln in answer["logs"] if message in ln["line"]]
            return answer if errors and lines else None

        wait_for(lambda tid=tid: complete(tid) is not None, 60, f"trace {tid} with its error span and error line")
        answer = complete()
        assert answer is not None
        services = {s["service"] for s in answer["spans"]}
        assert {"frontend", "checkout", FAILING} <= services, "the trace crossed HTTP and gRPC exporters"
        failing = next(s for s in answer["spans"] if s["status"] == "error" and s["service"] == FAILING)
        assert message in failing["status_message"]
        errors = [ln for ln in answer["logs"] if message in ln["line"]]
        assert all(ln["trace_id"] == tid and ln["match"] == "trace_id" for ln in errors)
        assert any(ln["level"] == "error" and ln["service"] == FAILING for ln in errors)
        assert answer["metrics"] is not None
        mine = next(m for m in answer["metrics"]["services"] if m["service"] == FAILING)
        assert mine["error_ratio"] is not None and mine["error_ratio"] > 0
        tempo = stack.get(f"/api/v2/traces/{tid}")
        assert tempo.status_code == 200 and tid in tempo.text
        checked += 1
    assert checked >= 1


def _grafana_links(stack: Stack) -> None:
    """What Grafana sends from a span of the trace view: the provisioned trace-to-logs and trace-to-metrics queries."""
    stack.demo.faults.set(FAILING, FaultMode.error)
    failing = f'{{resource.service.name="{FAILING}" && status=error}}'

    def search() -> list[dict]:
        got = stack.get("/api/search", q=failing, limit=5)
        assert got.status_code == 200, got.text
        return got.json().get("traces", [])

    wait_for(lambda: bool(search()), 90, "a failing payments trace in search")
    tid = search()[0]["traceID"]
    (tempo,) = [d for d in datasources(ProvisioningConfig())["datasources"] if d["uid"] == TEMPO_UID]
    tags = f'service="{FAILING}"'
    query = tempo["jsonData"]["tracesToLogsV2"]["query"].replace("$$", "$")
    query = query.replace("${__tags}", tags).replace("${__span.traceId}", tid)
    message = error_message(FAILING)

    def lines() -> list[str]:
        got = stack.get("/loki/api/v1/query_range", query=query, since="15m", limit=100)
        assert got.status_code == 200, got.text
        return [v[1] for s in got.json()["data"]["result"] for v in s["values"]]

    wait_for(lambda: any(message in ln for ln in lines()), 60, "the trace's error line through trace-to-logs")
    for q in tempo["jsonData"]["tracesToMetrics"]["queries"]:
        expr = q["query"].replace("$$", "$").replace("$__tags", tags)
        wait_for(lambda expr=expr: bool(stack.promql(expr)), 60, f"trace-to-metrics {q['name']}")


def test_from_the_error_ratio_to_exemplar_traces_to_error_spans_to_their_logs(stack: Stack) -> None:
    """One stack for both checks: its processes live as long as one test (the harness reaps them after each)."""
    _exemplar_path(stack)
    _grafana_links(stack)
