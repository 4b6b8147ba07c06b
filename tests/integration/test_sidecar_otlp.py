"""The sidecar as an OTLP ambassador (`observ ship --otlp`) with the real broker: the real OpenTelemetry SDK exports
spans and logs over OTLP/HTTP and OTLP/gRPC to localhost, a consumer reads the records back from Kafka; with the
broker down the exporters are told to retry, and once it is back every span arrives."""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import yaml
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from observ.bus import BusConfig, Consumer, Record, make_consumer
from observ.model import Batch
from observ.store.logstore import LogStore
from observ.traces.model import SpanColumns
from observ.traces.store import SpanStore
from tests.integration.harness import Proc, free_port, ingester, wait_for

pytestmark = pytest.mark.kafka

TENANT = "acme"


class Ambassador:
    """`python -m collectors.log_adapter --otlp` with free ports, shipping to two fresh topics."""

    def __init__(
        self, tmp: Path, bootstrap: str, logs_topic: str, spans_topic: str, *extra: str, **otlp: object
    ) -> None:
        self.http_port, self.grpc_port, self.metrics_port = free_port(), free_port(), free_port()
        self.logs_topic, self.spans_topic = logs_topic, spans_topic
        settings = {"http_port": self.http_port, "grpc_port": self.grpc_port, "spans_topic": spans_topic, **otlp}
        tmp.mkdir(parents=True, exist_ok=True)
        config = tmp / "adapter.yaml"
        config.write_text(yaml.safe_dump({"otlp": settings, "tenant": "team-a"}))
        args = [sys.executable, "-m", "collectors.log_adapter", "--otlp", "--config", str(config), "--bootstrap",
                bootstrap, "--topic", logs_topic, "--metrics-port", str(self.metrics_port), "-v", *extra]  # fmt: skip
        self.proc = Proc(args, tmp / "sidecar.log", self.metrics_port)
        self.proc.start()

    def http_spans(self, timeout: float = 10) -> HttpSpanExporter:
        return HttpSpanExporter(endpoint=f"http://127.0.0.1:{self.http_port}/v1/traces", compression=Compression.Gzip,
                                headers={"X-Scope-OrgID": TENANT}, timeout=timeout)  # fmt: skip

    def grpc_spans(self, timeout: float = 10) -> GrpcSpanExporter:
        return GrpcSpanExporter(endpoint=f"127.0.0.1:{self.grpc_port}", insecure=True,
                                headers={"x-scope-orgid": TENANT}, timeout=timeout)  # fmt: skip


@pytest.fixture
def topics(kafka_topic: Callable[..., str]) -> tuple[str, str]:
    return kafka_topic(partitions=2), kafka_topic(partitions=2)


def read_back(bootstrap: str, topics: Sequence[str], done: Callable[[list[Record]], bool]) -> list[Record]:
    consumer: Consumer = make_consumer(BusConfig(bootstrap=bootstrap), f"check-{uuid.uuid4().hex[:8]}")
    records: list[Record] = []
    try:
        consumer.subscribe(list(topics))
        wait_for(lambda: bool(records.extend(consumer.poll_batch(500, 0.5))) or done(records), 90, "the records")
    finally:
        consumer.close()
    return records


def span_columns(records: list[Record], topic: str) -> list[SpanColumns]:
    return [SpanColumns.decode(r.value) for r in records if r.topic == topic]


def checkout(exporter: SpanExporter, logs: LogRecordExporter, service: str) -> str:
    """A server span with a failing client child, and an error log inside the child; the trace ID."""
    resource = Resource.create({"service.name": service, "k8s.pod.name": f"{service}-0"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    log_provider = LoggerProvider(resource=resource)
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    tracer = provider.get_tracer("tests.sidecar", "0.1")
    server = tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER, attributes={"http.status_code": 502})
    client = tracer.start_as_current_span("charge", kind=SpanKind.CLIENT, attributes={"retries": [1, 2]})
    with server, client as charge:
        log_provider.get_logger("tests.sidecar").emit(
            body=f"card declined in {service}", severity_number=SeverityNumber.ERROR
        )
        charge.set_status(Status(StatusCode.ERROR, "card declined"))
        trace_id = f"{charge.get_span_context().trace_id:032x}"
    provider.shutdown()
    log_provider.shutdown()
    return trace_id


@pytest.mark.parametrize("backend", ["confluent", "kafka-python"])
def test_the_sdk_exports_spans_and_logs_over_http_and_grpc_through_the_sidecar_into_kafka(
    tmp_path: Path, kafka_bootstrap: str, topics: tuple[str, str], backend: str
) -> None:
    logs_topic, spans_topic = topics
    amb = Ambassador(tmp_path, kafka_bootstrap, logs_topic, spans_topic, "--backend", backend)
    try:
        http_logs = HttpLogExporter(endpoint=f"http://127.0.0.1:{amb.http_port}/v1/logs", timeout=10)
        grpc_logs = GrpcLogExporter(endpoint=f"127.0.0.1:{amb.grpc_port}", insecure=True, timeout=10)
        traces = {"http": checkout(amb.http_spans(), http_logs, "via-http"),
                  "grpc": checkout(amb.grpc_spans(), grpc_logs, "via-grpc")}  # fmt: skip
        metrics = amb.proc.metrics()
    finally:
        assert amb.proc.stop() == 0, amb.proc.tail()
    for transport in ("http", "grpc"):
        assert metrics[f"observ_adapter_otlp_received_total{{transport={transport}}}"] == 3  # two spans, one log
    assert metrics["observ_adapter_otlp_shipped_total{signal=spans}"] == 4
    assert metrics["observ_adapter_otlp_shipped_total{signal=log_records}"] == 2

    records = read_back(kafka_bootstrap, topics, lambda rs: len(rs) >= 4)
    for r in records:
        assert dict(r.headers)["schema"] == b"1"
    spans = {s.name + "@" + s.service: s for c in span_columns(records, spans_topic) for s in c.spans()}
    assert sorted(spans) == ["POST /checkout@via-grpc", "POST /checkout@via-http", "charge@via-grpc", "charge@via-http"]
    for transport, trace_id in traces.items():
        root, charge = spans[f"POST /checkout@via-{transport}"], spans[f"charge@via-{transport}"]
        assert root.tenant == TENANT and root.trace_id == charge.trace_id == trace_id
        assert charge.parent_span_id == root.span_id and root.parent_span_id == ""
        assert (root.kind, charge.kind, charge.status_code, charge.status_message) == (2, 3, 2, "card declined")
        assert root.attributes == {"http.status_code": 502} and charge.attributes == {"retries": [1, 2]}
        assert root.resource["k8s.pod.name"] == f"via-{transport}-0" and root.scope_name == "tests.sidecar"
    span_tenants = {dict(r.headers)["tenant"] for r in records if r.topic == spans_topic}
    assert span_tenants == {TENANT.encode()}

    log_records = [r for r in records if r.topic == logs_topic]
    assert {dict(r.headers)["tenant"] for r in log_records} == {b"team-a"}, "no X-Scope-OrgID: the adapter's tenant"
    lines = {}
    for r in log_records:
        b = Batch.decode(r.value)
        assert r.key == b.stream.id.encode() and b.source == ""
        lines.update(
            {line: (b.stream.service, b.level[i], b.trace_id[i], b.span_id[i]) for i, line in enumerate(b.line)}
        )
    for transport, trace_id in traces.items():
        service, level, trace, span_id = lines[f"card declined in via-{transport}"]
        charge = spans[f"charge@via-{transport}"]
        assert (service, level, trace, span_id) == (f"via-{transport}", "error", trace_id, charge.span_id)


class Background:
    """One exporter.export() call on a thread of its own: it retries while the broker is down."""

    def __init__(self, exporter: SpanExporter, spans: Sequence[ReadableSpan]) -> None:
        self.result: SpanExportResult | None = None
        self.thread = threading.Thread(target=self._run, args=(exporter, spans), daemon=True)
        self.thread.start()

    def _run(self, exporter: SpanExporter, spans: Sequence[ReadableSpan]) -> None:
        self.result = exporter.export(spans)


def made_spans(n: int, service: str) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.sidecar")
    for i in range(n):
        with tracer.start_as_current_span(f"op {i}", attributes={"i": i}):
            pass
    return list(memory.get_finished_spans())


@pytest.fixture
def broker_back(kafka_broker: object) -> Iterator[None]:
    """A test that stops the broker and fails must not leave it down for the next ones."""
    yield
    kafka_broker.start()  # type: ignore[attr-defined]


def test_with_the_broker_down_exporters_retry_and_every_span_arrives_once_it_is_back(
    tmp_path: Path, kafka_broker: object, kafka_bootstrap: str, topics: tuple[str, str], broker_back: None
) -> None:
    logs_topic, spans_topic = topics
    # The SDKs try 6 times within their timeout, waiting Retry-After between tries: with 3 s + 6 s a try the
    # broker has ~45 s to come back after the first refusal.
    amb = Ambassador(tmp_path, kafka_bootstrap, logs_topic, spans_topic, ack_timeout_ms=3000, retry_after_s=6)
    try:
        sent = {"http": made_spans(40, "outage-http"), "grpc": made_spans(40, "outage-grpc")}
        kafka_broker.stop()  # type: ignore[attr-defined]
        exports = [Background(amb.http_spans(timeout=120), sent["http"]),
                   Background(amb.grpc_spans(timeout=120), sent["grpc"])]  # fmt: skip

        def refused() -> float:
            m = amb.proc.metrics()
            return sum(
                m.get(f"observ_adapter_otlp_refused_requests_total{{transport={t}}}", 0) for t in ("http", "grpc")
            )

        wait_for(lambda: refused() >= 2, 60, "the sidecar to refuse exports while the broker is down")
        m = amb.proc.metrics()
        assert m.get("observ_adapter_otlp_shipped_total", 0) == 0
        assert m["observ_adapter_otlp_rejected_total{reason=unavailable}"] >= 2 * 40, "refused spans are counted"
        kafka_broker.start()  # type: ignore[attr-defined]
        for e in exports:
            e.thread.join(150)
        assert [e.result for e in exports] == [SpanExportResult.SUCCESS] * 2, amb.proc.tail()
    finally:
        assert amb.proc.stop() == 0, amb.proc.tail()
    expected = {f"{s.context.span_id:016x}" for batch in sent.values() for s in batch}
    seen: set[str] = set()

    def all_seen(records: list[Record]) -> bool:
        seen.update(sid for c in span_columns(records, spans_topic) for sid in c.span_id)
        return seen >= expected

    records = read_back(kafka_bootstrap, [spans_topic], all_seen)
    copies = [sid for c in span_columns(records, spans_topic) for sid in c.span_id]
    assert set(copies) == expected, "every span arrived (retries may repeat some: the spans store keeps one copy)"


def test_bad_input_is_a_clear_4xx_and_the_good_spans_of_a_request_still_ship(
    tmp_path: Path, kafka_bootstrap: str, topics: tuple[str, str]
) -> None:
    logs_topic, spans_topic = topics
    amb = Ambassador(tmp_path, kafka_bootstrap, logs_topic, spans_topic, max_body_bytes=64 * 1024)
    url = f"http://127.0.0.1:{amb.http_port}"
    trace = uuid.uuid4().hex
    spans = [{"traceId": trace.upper(), "spanId": "00000000000000a1", "name": "kept", "kind": 2},
             {"traceId": "zz" * 16, "spanId": "00000000000000a2", "name": "bad trace id"},
             {"traceId": trace, "spanId": "a3", "name": "short span id"},
             {"traceId": trace, "spanId": "00000000000000a4", "name": "kept too", "startTimeUnixNano": "5",
              "endTimeUnixNano": 9}]  # fmt: skip
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "bad"}}]},
                               "scopeSpans": [{"spans": spans}]}]}  # fmt: skip
    try:
        r = httpx.post(f"{url}/v1/traces", json=body, timeout=30)
        assert r.status_code == 200, r.text
        partial = r.json()["partialSuccess"]
        assert partial["rejectedSpans"] == "2" and "spans[1]" in partial["errorMessage"]
        assert "spans[2]" in partial["errorMessage"]
        proto = {"Content-Type": "application/x-protobuf"}
        r = httpx.post(f"{url}/v1/traces", content=b"\x0a\xff\xff\xff\x0f", headers=proto, timeout=30)
        assert r.status_code == 400 and RpcStatus.FromString(r.content).message.startswith(
            "the body is not a protobuf ExportTraceServiceRequest"
        )
        r = httpx.post(f"{url}/v1/logs", content=b"hello", headers={"Content-Type": "text/plain"}, timeout=30)
        assert (
            r.status_code == 415 and "OTLP/HTTP takes application/x-protobuf" in RpcStatus.FromString(r.content).message
        )
        r = httpx.post(f"{url}/v1/logs", content=b"\x00" * 100_000, headers=proto, timeout=30)
        assert r.status_code == 413 and "limit 65536" in RpcStatus.FromString(r.content).message
        metrics = amb.proc.metrics()
    finally:
        assert amb.proc.stop() == 0, amb.proc.tail()
    for reason in ("invalid", "unsupported_media_type", "too_large"):
        assert metrics[f"observ_adapter_otlp_refused_requests_total{{reason={reason}}}"] == 1
    assert metrics["observ_adapter_otlp_rejected_total{reason=invalid}"] == 2
    records = read_back(kafka_bootstrap, [spans_topic], lambda rs: len(rs) >= 1)
    [batch] = span_columns(records, spans_topic)
    assert (batch.name, batch.trace_id, batch.span_id) == (
        ["kept", "kept too"], [trace, trace], ["00000000000000a1", "00000000000000a4"]
    )  # fmt: skip
    assert (batch.start_ns, batch.end_ns, batch.kind) == ([0, 5], [0, 9], [2, 0])


def test_sidecar_to_kafka_to_the_ingester_the_traces_and_their_logs_land_in_the_stores(
    tmp_path: Path, kafka_bootstrap: str, topics: tuple[str, str]
) -> None:
    logs_topic, spans_topic = topics
    amb = Ambassador(tmp_path / "sidecar", kafka_bootstrap, logs_topic, spans_topic)
    data = tmp_path / "data"
    data.mkdir()
    ing = ingester(data, kafka_bootstrap, logs_topic, "--spans-topic", spans_topic)
    ing.start()
    try:

        def grpc_logs() -> GrpcLogExporter:
            return GrpcLogExporter(endpoint=f"127.0.0.1:{amb.grpc_port}", insecure=True,
                                   headers={"x-scope-orgid": TENANT}, timeout=10)  # fmt: skip

        trace_id = checkout(amb.http_spans(), grpc_logs(), "e2e")
        checkout(amb.http_spans(), grpc_logs(), "e2e")  # a second trace, same service
        wait_for(lambda: ing.metrics().get("observ_ingested_spans_total", 0) >= 4, 90, "the spans in the store")
        wait_for(lambda: ing.metrics().get("observ_ingested_lines_total", 0) >= 2, 90, "the log lines in the store")
    finally:
        assert amb.proc.stop() == 0, amb.proc.tail()
        assert ing.stop() == 0, ing.tail()
    spans = SpanStore(data / "spans.duckdb")
    try:
        assert sorted(s.name for s in spans.trace(TENANT, trace_id)) == ["POST /checkout", "charge"]
        assert spans.count() == 4
    finally:
        spans.close()
    logs = LogStore(data / "observ.duckdb")
    try:
        rows = logs.recent("e2e", 10, TENANT)
        assert sorted(r["line"] for r in rows) == ["card declined in e2e"] * 2
        assert trace_id in {r["trace_id"] for r in rows}
    finally:
        logs.close()


def test_with_the_broker_down_the_bytes_held_stay_under_max_inflight_bytes(
    tmp_path: Path, kafka_broker: object, kafka_bootstrap: str, topics: tuple[str, str], broker_back: None
) -> None:
    logs_topic, spans_topic = topics
    limit = 1024 * 1024
    amb = Ambassador(tmp_path, kafka_bootstrap, logs_topic, spans_topic, ack_timeout_ms=200, max_inflight_bytes=limit)
    url = f"http://127.0.0.1:{amb.http_port}/v1/traces"
    try:
        kafka_broker.stop()  # type: ignore[attr-defined]
        statuses = []
        for n in range(30):  # ~6 MB of spans while nothing can be acknowledged
            spans = [{"traceId": f"{n + 1:032x}", "spanId": f"{i + 1:016x}", "name": "x" * 1000} for i in range(200)]
            body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
            r = httpx.post(url, json=body, timeout=30)
            statuses.append(r.status_code)
            assert r.headers.get("retry-after") == "2", r.text
        m = amb.proc.metrics()
        assert set(statuses) == {503}
        assert m["observ_adapter_otlp_refused_requests_total{reason=buffer_full}"] > 0
        assert m["observ_adapter_otlp_refused_requests_total{reason=not_acknowledged}"] > 0
        assert 0 < m["observ_adapter_otlp_inflight_bytes"] <= limit
        kafka_broker.start()  # type: ignore[attr-defined]
        wait_for(lambda: amb.proc.metrics()["observ_adapter_otlp_inflight_bytes"] == 0, 90, "what was held to ship")
    finally:
        assert amb.proc.stop() == 0, amb.proc.tail()
