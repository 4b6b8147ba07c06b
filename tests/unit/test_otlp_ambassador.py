"""The sidecar's OTLP ambassador on real HTTP and gRPC servers over loopback, shipping into a fake producer whose
acknowledgements the tests control: answers, statuses, partial success, retryable refusals, memory bounds."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import orjson
import pytest
import typer
from google.rpc.error_details_pb2 import BadRequest, RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from typer.testing import CliRunner, Result

from collectors.log_adapter import main
from collectors.log_adapter.cli import ship
from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.sources.otlp import StartError
from collectors.log_adapter.sources.otlp.config import OtlpSourceConfig
from collectors.log_adapter.sources.otlp.source import OtlpSource
from observ.bus import BusError, BusFull, DeliveryReport, OnDelivery
from observ.model import Batch
from observ.otlp.grpc import RETRY_INFO, STATUS_DETAILS
from observ.traces.model import SpanColumns
from tests.unit.otlp.sdk import make_logs, make_spans, to_otlp_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
T0 = 1_700_000_000_000_000_000


class FakeProducer:
    """The bus Producer contract in memory. `mode`: ack (deliver on poll), hold (never answer), fail (transient
    error), too_large (the permanent error Kafka gives a record above message.max.bytes), full (BusFull)."""

    def __init__(self) -> None:
        self.mode = "ack"
        self.delivered: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
        self.waiting: list[tuple[str, bytes, bytes, list[tuple[str, bytes]], OnDelivery]] = []
        self.lock = threading.Lock()
        self.healthy = True
        self.closed = False

    def produce(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]], on_delivery: OnDelivery
    ) -> None:
        if self.mode == "full":
            raise BusFull("queue full")
        if self.mode == "never_fits":
            raise BusError("record can never fit the producer queue")
        if self.mode == "bug":
            raise KeyError("a bug")
        with self.lock:
            self.waiting.append((topic, key, value, headers, on_delivery))

    def poll(self, timeout: float) -> None:
        if self.mode == "hold":
            threading.Event().wait(min(timeout, 0.01))
            return
        with self.lock:
            waiting, self.waiting = self.waiting, []
        for topic, key, value, headers, report in waiting:
            error = {"fail": "_TRANSPORT: broker down", "too_large": "MSG_SIZE_TOO_LARGE: too large"}.get(self.mode)
            if error is None:
                self.delivered.append((topic, key, value, headers))
            report(DeliveryReport(error, topic, 0, len(self.delivered)))
        threading.Event().wait(min(timeout, 0.01))

    def flush(self, timeout: float) -> int:
        self.poll(0)
        return len(self.waiting)

    def close(self) -> None:
        self.closed = True

    def healthcheck(self, timeout: float) -> bool:
        return self.healthy

    def spans(self) -> list[SpanColumns]:
        return [SpanColumns.decode(v) for t, _, v, _ in self.delivered if t == "observ.spans"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sidecar:
    def __init__(self, **otlp: object) -> None:
        for attempt in range(5):  # a free port can be taken by a parallel test before the sidecar binds it
            ports = {"http_port": free_port(), "grpc_port": free_port()}
            settings = {"enabled": True, **ports, "ack_timeout_ms": 300, **otlp}
            self.config = AdapterConfig.model_validate({"tenant": "team-a", "otlp": settings})
            self.registry = CollectorRegistry()
            self.producer = FakeProducer()
            self.source = OtlpSource(self.config, self.registry, self.producer)
            try:
                self.source.start()
                break
            except StartError:
                if attempt == 4 or set(otlp) & set(ports):
                    raise
        self.url = f"http://127.0.0.1:{self.source.http_port}"
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.source.grpc_port}")

    def post(self, path: str, body: bytes, content_type: str = PROTOBUF, **headers: str) -> httpx.Response:
        return httpx.post(self.url + path, content=body, headers={"Content-Type": content_type, **headers}, timeout=10)

    def grpc_export(self, service: str, body: bytes, **kw: object) -> bytes:
        call = self.channel.unary_unary(f"/opentelemetry.proto.collector.{service}/Export")
        return call(body, timeout=10, **kw)  # type: ignore[no-any-return]

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def close(self) -> None:
        self.channel.close()
        self.source.stop(0)


@pytest.fixture
def sidecar(request: pytest.FixtureRequest) -> Iterator[Sidecar]:
    s = Sidecar(**getattr(request, "param", {}))
    yield s
    s.close()


def status_of(r: httpx.Response) -> Status:
    if r.headers["content-type"] == JSON:
        from google.protobuf import json_format

        return json_format.Parse(r.content, Status())
    return Status.FromString(r.content)


def spans_request(*spans: Span, service: str = "checkout") -> ExportTraceServiceRequest:
    attrs = [KeyValue(key="service.name", value=AnyValue(string_value=service))]
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    rs.resource.attributes.extend(attrs)
    return ExportTraceServiceRequest(resource_spans=[rs])


def span(name: str, span_id: bytes, trace_id: bytes = TRACE, **kw: object) -> Span:
    return Span(trace_id=trace_id, span_id=span_id, name=name, start_time_unix_nano=T0, end_time_unix_nano=T0 + 5, **kw)


# --- config -------------------------------------------------------------------------------------------------


def test_the_ambassador_is_off_by_default_and_listens_on_localhost_when_enabled() -> None:
    config = AdapterConfig()
    assert not config.otlp.enabled
    assert (config.otlp.host, config.otlp.http_port, config.otlp.grpc_port) == ("127.0.0.1", 4318, 4317)
    assert config.otlp.spans_topic == "observ.spans" and config.kafka.topic == "observ.logs"


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"htp_port": 1}, "htp_port"), ({"http_port": 70000}, "http_port"), ({"ack_timeout_ms": "soon"}, "ack_timeout_ms"),
     ({"limits": {"max_value_depth": 99}}, "limits.max_value_depth")],
)  # fmt: skip
def test_bad_settings_are_refused_naming_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        OtlpSourceConfig.model_validate(settings)
    assert field in str(e.value)


def test_a_port_in_use_is_a_one_line_start_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = AdapterConfig.model_validate({"otlp": {"enabled": True, "http_port": port, "grpc_port": 0}})
        producer = FakeProducer()
        with pytest.raises(StartError, match=rf"cannot listen on 127.0.0.1:{port} for OTLP/HTTP"):
            OtlpSource(config, CollectorRegistry(), producer).start()
        assert producer.closed, "a source that cannot start releases its producer"


# --- OTLP/HTTP ----------------------------------------------------------------------------------------------


def test_sdk_spans_over_http_protobuf_reach_kafka_once_acknowledged(sidecar: Sidecar) -> None:
    sdk_spans, req = make_spans()
    r = sidecar.post("/v1/traces", req.SerializeToString(), **{"X-Scope-OrgID": "acme"})
    assert r.status_code == 200 and r.headers["content-type"] == PROTOBUF
    assert ExportTraceServiceResponse.FromString(r.content) == ExportTraceServiceResponse()
    [(topic, key, value, headers)] = sidecar.producer.delivered
    batch = SpanColumns.decode(value)
    assert topic == "observ.spans" and headers == [("tenant", b"acme"), ("schema", b"1")]
    assert key == batch.trace_id[0].encode()
    sent = {f"{s.context.span_id:016x}": s for s in sdk_spans}
    assert set(batch.span_id) == set(sent)
    by_name = {s.name: s for s in batch.spans()}
    root = by_name["POST /pay"]
    assert root.attributes["http.route"] == "/pay" and root.status_code == 2 and root.service == "checkout"
    assert by_name["charge"].parent_span_id == root.span_id
    assert sidecar.metric("observ_adapter_otlp_received_total", signal="spans", transport="http") == 2
    assert sidecar.metric("observ_adapter_otlp_shipped_total", signal="spans") == 2
    assert sidecar.metric("observ_adapter_otlp_inflight_bytes") == 0


def test_sdk_logs_over_http_json_go_to_the_logs_topic_as_source_less_batches(sidecar: Sidecar) -> None:
    _, req = make_logs()
    r = sidecar.post("/v1/logs", to_otlp_json(req), JSON)
    assert r.status_code == 200 and r.headers["content-type"] == JSON and r.json() == {}
    batches = [(key, Batch.decode(value), headers) for topic, key, value, headers in sidecar.producer.delivered]
    assert {b.stream.tenant for _, b, _ in batches} == {"team-a"}, "no X-Scope-OrgID: the adapter's tenant"
    for key, b, headers in batches:
        assert key == b.stream.id.encode() and headers == [("tenant", b"team-a"), ("schema", b"1")]
        assert b.source == "" and b.stream.service == "checkout" and b.stream.pod == "checkout-7d9f"
    lines = {line: (b.level[i], b.trace_id[i]) for _, b, _ in batches for i, line in enumerate(b.line)}
    assert lines["disk almost full"] == ("warn", "")
    level, trace_id = lines["payment failed for order o-17"]
    assert level == "error" and len(trace_id) == 32
    metadata = {line: (b.metadata or [{}] * len(b.line))[i] for _, b, _ in batches for i, line in enumerate(b.line)}
    assert metadata["disk almost full"]["disk_free_bytes"] == "1024", "attributes travel as structured metadata"
    assert metadata["disk almost full"]["severity_text"] == "WARN"
    assert sidecar.metric("observ_adapter_otlp_shipped_total", signal="log_records") == 3
    assert sidecar.metric("observ_adapter_otlp_dropped_metadata_total") == 0, "nothing cut at max_attributes"


def test_gzip_bodies_are_read(sidecar: Sidecar) -> None:
    body = gzip.compress(spans_request(span("a", b"\x01" * 8)).SerializeToString())
    assert sidecar.post("/v1/traces", body, **{"Content-Encoding": "gzip"}).status_code == 200
    assert [c.name for c in sidecar.producer.spans()] == [["a"]]


def test_partial_success_reports_invalid_spans_and_ships_the_others(sidecar: Sidecar) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": TRACE.hex(), "spanId": "00000000000000aa", "name": "good"},
        {"traceId": "not-hex", "spanId": "00000000000000bb", "name": "bad id"},
        {"traceId": TRACE.hex()[:30], "spanId": "00000000000000cc", "name": "short id"},
        {"traceId": TRACE.hex(), "spanId": "00000000000000dd", "name": ["not", "a", "string"]},
        {"traceId": TRACE.hex(), "spanId": "00000000000000ee", "name": "huge time", "endTimeUnixNano": str(2**64)},
    ]}]}]}  # fmt: skip
    r = sidecar.post("/v1/traces", orjson.dumps(body), JSON)
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "4"
    for i in (1, 2, 3, 4):
        assert f"resourceSpans[0].scopeSpans[0].spans[{i}]" in partial["errorMessage"]
    assert [c.name for c in sidecar.producer.spans()] == [["good"]]
    assert sidecar.metric("observ_adapter_otlp_rejected_total", signal="spans", reason="invalid") == 4


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/protobuf", "application/jsonx"])
def test_other_content_types_are_415_before_the_body_is_read(sidecar: Sidecar, content_type: str) -> None:
    r = sidecar.post("/v1/traces", b"{}", content_type)
    assert r.status_code == 415 and r.headers["content-type"] == PROTOBUF
    assert "OTLP/HTTP takes application/x-protobuf or application/json" in status_of(r).message
    assert sidecar.metric("observ_adapter_otlp_refused_requests_total", transport="http",
                          reason="unsupported_media_type") == 1  # fmt: skip
    assert sidecar.producer.delivered == []


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"\xff\xff\xff", "the body is not a protobuf ExportTraceServiceRequest"),
     (b"\x0a\x05\x0a\x03", "the body is not a protobuf ExportTraceServiceRequest")],
)  # fmt: skip
def test_malformed_protobuf_is_400_with_a_bad_request_detail(sidecar: Sidecar, body: bytes, message: str) -> None:
    r = sidecar.post("/v1/traces", body)
    assert r.status_code == 400
    status = status_of(r)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and message in status.message
    bad = BadRequest()
    assert status.details[0].Unpack(bad) and message in bad.field_violations[0].description


def test_malformed_json_is_400_answered_in_json(sidecar: Sidecar) -> None:
    r = sidecar.post("/v1/logs", b'{"resourceLogs": [', JSON)
    assert r.status_code == 400 and r.headers["content-type"] == JSON
    assert r.json()["code"] == 3 and r.json()["message"]


@pytest.mark.parametrize("sidecar", [{"max_body_bytes": 2048}], indirect=True)
def test_bodies_above_the_limit_are_413_declared_or_once_inflated(sidecar: Sidecar) -> None:
    r = sidecar.post("/v1/traces", b"\x00" * 4096)
    assert r.status_code == 413 and status_of(r).message == "request body too large: 4096 bytes, limit 2048"
    assert r.headers["connection"] == "close"
    r = sidecar.post("/v1/traces", gzip.compress(b"\x00" * 100_000), **{"Content-Encoding": "gzip"})
    assert r.status_code == 413 and "more than 2048 bytes after decompression" in status_of(r).message
    answer = raw_http(sidecar.source.http_port, b"Content-Length: " + b"9" * 40 + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 413") and b"limit 2048" in answer, "a huge declared length is not read"
    assert sidecar.metric("observ_adapter_otlp_refused_requests_total", transport="http", reason="too_large") == 3


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [({"Content-Encoding": "br"}, 400, 'Content-Encoding "br" not supported'),
     ({"Content-Encoding": "gzip"}, 400, "gzip: "),
     ({"X-Scope-OrgID": "a|b"}, 400, "X-Scope-OrgID: multi-tenant queries"),
     ({"X-Scope-OrgID": "x" * 151}, 400, "X-Scope-OrgID: tenant ID is too long")],
)  # fmt: skip
def test_bad_headers_are_400_saying_which(sidecar: Sidecar, headers: dict[str, str], status: int, message: str) -> None:
    r = sidecar.post("/v1/logs", b"not gzip", **headers)
    assert r.status_code == status and message in status_of(r).message


def test_wrong_paths_and_methods(sidecar: Sidecar) -> None:
    assert httpx.post(sidecar.url + "/v1/metrics", content=b"").status_code == 404
    r = httpx.get(sidecar.url + "/v1/traces")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def raw_http(port: int, head: bytes, body: bytes = b"") -> bytes:
    """The whole answer to a request written by hand (the server closes the connection after a refusal)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + head + b"\r\n" + body)
        c.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := c.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("head", "body", "message"),
    [(b"Content-Length: -5\r\n", b"", b"Content-Length -5 is negative"),
     (b"Content-Length: many\r\n", b"", b"Content-Length 'many' is not a number of bytes"),
     (b"", b"", b"a Content-Length is required"),
     (b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n", b"chunked bodies are not supported"),
     (b"Content-Length: 100\r\n", b"{}", b"the body ended after 2 of its 100 bytes")],
)  # fmt: skip
def test_a_missing_or_lying_content_length_is_400(sidecar: Sidecar, head: bytes, body: bytes, message: bytes) -> None:
    answer = raw_http(sidecar.source.http_port, head, body)
    assert answer.startswith(b"HTTP/1.1 400") and message in answer


# --- delivery: retryable refusals and bounded memory ----------------------------------------------------------


def test_no_acknowledgement_in_time_is_503_with_retry_after_and_the_retry_succeeds(sidecar: Sidecar) -> None:
    body = spans_request(span("a", b"\x01" * 8)).SerializeToString()
    sidecar.producer.mode = "hold"
    r = sidecar.post("/v1/traces", body)
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    status = status_of(r)
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert "Kafka has not acknowledged the records within 0.3 s" in status.message
    retry = RetryInfo()
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds == 2
    assert sidecar.metric("observ_adapter_otlp_rejected_total", signal="spans", reason="unavailable") == 1
    sidecar.producer.mode = "ack"  # the broker is back: the held copy and the retry both arrive, one span ID
    assert sidecar.post("/v1/traces", body).status_code == 200
    assert {sid for c in sidecar.producer.spans() for sid in c.span_id} == {"01" * 8}


def test_a_transient_delivery_error_is_503(sidecar: Sidecar) -> None:
    sidecar.producer.mode = "fail"
    r = sidecar.post("/v1/traces", spans_request(span("a", b"\x01" * 8)).SerializeToString())
    assert r.status_code == 503 and "Kafka delivery failed: _TRANSPORT: broker down" in status_of(r).message


@pytest.mark.parametrize("sidecar", [{"max_inflight_bytes": 64 * 1024}], indirect=True)
def test_past_max_inflight_bytes_requests_are_refused_at_once(sidecar: Sidecar) -> None:
    sidecar.producer.mode = "hold"
    big = spans_request(*(span("x" * 900, i.to_bytes(8, "big")) for i in range(1, 60))).SerializeToString()
    assert sidecar.post("/v1/traces", big).status_code == 503  # held: its bytes stay in flight
    r = sidecar.post("/v1/traces", big)
    assert r.status_code == 503 and "would pass the 65536-byte limit" in status_of(r).message
    assert sidecar.metric("observ_adapter_otlp_refused_requests_total", transport="http", reason="buffer_full") == 1
    held = sidecar.metric("observ_adapter_otlp_inflight_bytes")
    assert 0 < held <= 64 * 1024
    sidecar.producer.mode = "ack"
    huge = spans_request(*(span("x" * 2000, i.to_bytes(8, "big")) for i in range(1, 60))).SerializeToString()
    assert len(huge) > 64 * 1024
    r = sidecar.post("/v1/traces", huge)
    assert r.status_code == 200, "larger than the limit alone, but nothing else waits: taken, or retried forever"


def test_a_full_producer_queue_is_503(sidecar: Sidecar) -> None:
    sidecar.producer.mode = "full"
    r = sidecar.post("/v1/traces", spans_request(span("a", b"\x01" * 8)).SerializeToString())
    assert r.status_code == 503 and "the Kafka producer's queue is full" in status_of(r).message
    assert sidecar.metric("observ_adapter_otlp_inflight_bytes") == 0


@pytest.mark.parametrize("mode", ["too_large", "never_fits"])
def test_a_record_kafka_refuses_for_good_is_reported_in_partial_success(sidecar: Sidecar, mode: str) -> None:
    sidecar.producer.mode = mode
    r = sidecar.post("/v1/traces", spans_request(span("a", b"\x01" * 8), span("b", b"\x02" * 8)).SerializeToString())
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 2 and "Kafka refused the record of 2 spans (" in partial.error_message
    assert sidecar.metric("observ_adapter_otlp_rejected_total", signal="spans", reason="kafka_rejected") == 2


def test_a_bug_is_500_internal_logged_and_counted_and_the_next_request_is_served(sidecar: Sidecar) -> None:
    body = spans_request(span("a", b"\x01" * 8)).SerializeToString()
    sidecar.producer.mode = "bug"
    r = sidecar.post("/v1/traces", body)
    assert r.status_code == 500 and status_of(r).message == "internal error"
    assert sidecar.metric("observ_adapter_otlp_refused_requests_total", transport="http", reason="internal") == 1
    assert sidecar.metric("observ_adapter_otlp_inflight_bytes") == 0, "what was never produced is not held"
    sidecar.producer.mode = "ack"
    assert sidecar.post("/v1/traces", body).status_code == 200


def test_readiness_follows_the_broker(sidecar: Sidecar) -> None:
    assert sidecar.source.ready()
    sidecar.producer.healthy = False
    sidecar.source._checked = 0.0
    assert not sidecar.source.ready()


# --- OTLP/gRPC ----------------------------------------------------------------------------------------------


def test_grpc_spans_and_logs_reach_kafka_with_the_metadata_tenant(sidecar: Sidecar) -> None:
    _, traces = make_spans()
    _, logs = make_logs()
    out = sidecar.grpc_export("trace.v1.TraceService", traces.SerializeToString(), metadata=[("x-scope-orgid", "acme")])
    assert ExportTraceServiceResponse.FromString(out) == ExportTraceServiceResponse()
    out = sidecar.grpc_export("logs.v1.LogsService", logs.SerializeToString())
    assert ExportLogsServiceResponse.FromString(out) == ExportLogsServiceResponse()
    [spans] = sidecar.producer.spans()
    assert spans.tenant == "acme" and len(spans) == 2
    tenants = {h[0][1] for t, _, _, h in sidecar.producer.delivered if t == "observ.logs"}
    assert tenants == {b"team-a"}
    assert sidecar.metric("observ_adapter_otlp_received_total", signal="log_records", transport="grpc") == 3


def test_grpc_malformed_protobuf_is_invalid_argument(sidecar: Sidecar) -> None:
    with pytest.raises(grpc.RpcError) as e:
        sidecar.grpc_export("trace.v1.TraceService", b"\xff\xff\xff")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "not a protobuf ExportTraceServiceRequest" in e.value.details()  # type: ignore[attr-defined]


def test_grpc_unacknowledged_is_unavailable_with_retry_info_both_ways(sidecar: Sidecar) -> None:
    sidecar.producer.mode = "hold"
    with pytest.raises(grpc.RpcError) as e:
        sidecar.grpc_export("trace.v1.TraceService", spans_request(span("a", b"\x01" * 8)).SerializeToString())
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    trailing = dict(e.value.trailing_metadata())  # type: ignore[attr-defined]
    assert RetryInfo.FromString(trailing[RETRY_INFO]).retry_delay.seconds == 2  # what OTel Python reads
    status = Status.FromString(trailing[STATUS_DETAILS])  # what OTel Go reads
    retry = RetryInfo()
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds == 2


@pytest.mark.parametrize("sidecar", [{"max_body_bytes": 2048}], indirect=True)
def test_grpc_messages_above_the_limit_are_resource_exhausted(sidecar: Sidecar) -> None:
    body = spans_request(span("x" * 5000, b"\x01" * 8)).SerializeToString()
    with pytest.raises(grpc.RpcError) as e:
        sidecar.grpc_export("trace.v1.TraceService", body)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]


# --- observ ship --otlp --------------------------------------------------------------------------------------


def ship_cli(*args: str) -> Result:
    app = typer.Typer()
    app.command()(ship)
    return CliRunner().invoke(app, list(args))


def test_ship_otlp_needs_no_paths_and_a_config_file_sets_the_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[AdapterConfig] = []
    monkeypatch.setattr(main, "run", ran.append)
    config = tmp_path / "adapter.yaml"
    config.write_text("otlp:\n  http_port: 14318\n  grpc_port: 0\n")
    assert ship_cli("--otlp", "--config", str(config)).exit_code == 0
    assert ship_cli("--otlp").exit_code == 0
    assert [(c.otlp.enabled, c.otlp.http_port, c.otlp.grpc_port) for c in ran] == [(True, 14318, 0), (True, 4318, 4317)]
    refused = ship_cli()
    assert refused.exit_code == 2 and "or --otlp" in refused.output


def test_ship_otlp_on_a_taken_port_exits_1_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "adapter.yaml"
        config.write_text(f"otlp:\n  http_port: {port}\n  grpc_port: 0\nhttp_port: 0\nstatus_interval_ms: 0\n")
        result = ship_cli("--otlp", "--config", str(config))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"observ ship: cannot listen on 127.0.0.1:{port} for OTLP/HTTP: Address already in use"
    ]


@pytest.mark.parametrize("sidecar", [{"workers": 1, "ack_timeout_ms": 1500}], indirect=True)
def test_grpc_calls_past_twice_the_workers_are_resource_exhausted(sidecar: Sidecar) -> None:
    sidecar.producer.mode = "hold"  # every call waits its whole ack timeout in its worker
    body = spans_request(span("a", b"\x01" * 8)).SerializeToString()
    call = sidecar.channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    futures = [call.future(body, timeout=30) for _ in range(4)]
    codes = sorted(f.exception().code().name for f in futures)  # type: ignore[union-attr]
    assert codes == ["RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "UNAVAILABLE"]


DATA = Path(__file__).parent / "otlp" / "data"


def test_the_spec_examples_ship_as_the_spec_says(sidecar: Sidecar) -> None:
    """opentelemetry-proto's own OTLP/JSON examples (upper-case hex IDs, string 64-bit times)."""
    assert sidecar.post("/v1/traces", (DATA / "trace.json").read_bytes(), JSON).json() == {}
    assert sidecar.post("/v1/logs", (DATA / "logs.json").read_bytes(), JSON).json() == {}
    [spans] = sidecar.producer.spans()
    [s] = spans.spans()
    assert (s.trace_id, s.span_id, s.name, s.service) == (
        "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "I'm a server span", "my.service"
    )  # fmt: skip
    assert (s.scope_name, s.start_ns, s.end_ns, s.kind) == ("my.library", 1544712660000000000, 1544712661000000000, 2)
    [(_, _, value, _)] = [d for d in sidecar.producer.delivered if d[0] == "observ.logs"]
    logs = Batch.decode(value)
    assert (logs.line, logs.trace_id, logs.span_id) == (
        ["Example log record"], ["5b8efff798038103d269b633813fc60c"], ["eee19b7ec3c1b174"]
    )  # fmt: skip
    assert logs.stream.service == "my.service" and logs.ts == [1544712660300000000]
