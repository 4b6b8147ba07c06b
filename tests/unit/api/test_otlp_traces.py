"""`POST /v1/traces` (TestClient) and gRPC TraceService/Export (real grpcio over loopback) into a real spans store."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson
import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from google.rpc.error_details_pb2 import BadRequest, RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as PbStatus
from prometheus_client import CollectorRegistry, generate_latest

from observ.api.app import create_app
from observ.api.config import ApiConfig, AuthConfig, OtlpConfig
from observ.api.otlp.events import OtlpMetrics
from observ.api.otlp.grpc import start_grpc
from observ.api.otlp.receiver import LogsReceiver, TracesReceiver
from observ.store.logstore import LogStore
from observ.traces.store import SpanAppendResult, SpanStore
from tests.unit.api.test_otlp_grpc import details, free_port
from tests.unit.api.test_otlp_routes import JSON, PROTOBUF, SPAN, T0, TRACE, kv, status_of
from tests.unit.traces.helpers import fail_log_writes

PARENT = bytes.fromhex("0102030405060708")


@pytest.fixture
def stores() -> Iterator[tuple[LogStore, SpanStore]]:
    logs, spans = LogStore(":memory:"), SpanStore(":memory:")
    yield logs, spans
    spans.close()
    logs.close()


def client(stores: tuple[LogStore, SpanStore], config: ApiConfig | None = None) -> TestClient:
    logs, spans = stores
    return TestClient(create_app(logs, CollectorRegistry(), lambda: True, config=config or ApiConfig(), spans=spans))


def span(name: str, span_id: bytes = SPAN, parent: bytes = b"", trace_id: bytes = TRACE, **kw: object) -> PbSpan:
    return PbSpan(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name,
        start_time_unix_nano=T0, end_time_unix_nano=T0 + 5_000_000, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def request(*spans: PbSpan, service: str = "checkout") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    ss.spans.extend(spans)
    return req


def post(c: TestClient, body: bytes, content_type: str = PROTOBUF, **headers: str) -> object:
    return c.post("/v1/traces", content=body, headers={"Content-Type": content_type, **headers})


def two_spans() -> ExportTraceServiceRequest:
    root = span("GET /pay", PARENT, kind=PbSpan.SPAN_KIND_SERVER, attributes=[kv("http.route", "/pay")])
    child = span("charge", SPAN, PARENT, kind=PbSpan.SPAN_KIND_CLIENT, status=PbStatus(code=2, message="declined"))
    return request(root, child)


def test_protobuf_spans_land_with_links_kinds_status_and_attributes(stores: tuple[LogStore, SpanStore]) -> None:
    c = client(stores)
    r = post(c, two_spans().SerializeToString(), **{"X-Scope-OrgID": "acme"})
    assert r.status_code == 200 and r.headers["content-type"] == PROTOBUF
    assert not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
    root, child = sorted(stores[1].trace("acme", TRACE.hex()), key=lambda s: s.parent_span_id)
    assert (root.name, root.parent_span_id, root.kind, root.service) == ("GET /pay", "", 2, "checkout")
    assert root.attributes == {"http.route": "/pay"}
    assert (child.name, child.parent_span_id, child.kind) == ("charge", PARENT.hex(), 3)
    assert (child.status_code, child.status_message) == (2, "declined")
    assert stores[1].trace("default", TRACE.hex()) == []  # another tenant sees nothing
    assert 'observ_otlp_received_spans_total{tenant="acme",transport="http"} 2.0' in c.get("/metrics").text


def test_json_with_hex_ids_and_gzip(stores: tuple[LogStore, SpanStore]) -> None:
    body = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": TRACE.hex(), "spanId": SPAN.hex(), "name": "add", "kind": 1,
                "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 1),
            }]}],
        }]
    }  # fmt: skip
    r = post(client(stores), gzip.compress(orjson.dumps(body)), JSON, **{"Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-type"] == JSON and r.json() == {}
    [s] = stores[1].trace("default", TRACE.hex())
    assert (s.service, s.name, s.kind, s.end_ns - s.start_ns) == ("cart", "add", 1, 1)


def test_a_retried_request_stores_nothing_twice(stores: tuple[LogStore, SpanStore]) -> None:
    c = client(stores)
    body = two_spans().SerializeToString()
    assert post(c, body).status_code == 200 and post(c, body).status_code == 200
    assert stores[1].count() == 2
    metrics = c.get("/metrics").text
    assert 'observ_otlp_received_spans_total{tenant="default",transport="http"} 2.0' in metrics
    assert 'observ_otlp_duplicate_spans_total{transport="http"} 2.0' in metrics


def test_bad_spans_are_rejected_one_by_one_in_partial_success(stores: tuple[LogStore, SpanStore]) -> None:
    c = client(stores)
    good = span("ok")
    bad_id = span("zero trace", trace_id=b"\x00" * 16)
    short = span("short span id", span_id=b"\x01\x02")
    r = post(c, request(good, bad_id, short).SerializeToString())
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 2
    assert "resourceSpans[0].scopeSpans[0].spans[1]" in partial.error_message
    assert "resourceSpans[0].scopeSpans[0].spans[2]" in partial.error_message
    assert [s.name for s in stores[1].trace("default", TRACE.hex())] == ["ok"]
    assert 'observ_otlp_rejected_spans_total{transport="http"} 2.0' in c.get("/metrics").text


def test_json_partial_success_counts_are_strings(stores: tuple[LogStore, SpanStore]) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not hex", "spanId": SPAN.hex(), "name": "x"}]}]}]}
    r = post(client(stores), orjson.dumps(body), JSON)
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "traceId" in partial["errorMessage"]
    assert stores[1].count() == 0


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("text/plain", b"x", 415, "unsupported content type 'text/plain'"),
        (PROTOBUF, b"\xff\xff\xff\xff", 400, "the body is not a protobuf ExportTraceServiceRequest"),
        (JSON, b"{not json", 400, ""),
        (JSON, b'{"resourceSpans": 3}', 400, "resourceSpans"),
    ],
)
def test_undecodable_bodies_are_refused_whole(
    stores: tuple[LogStore, SpanStore], content_type: str, body: bytes, status: int, message: str
) -> None:
    r = post(client(stores), body, content_type)
    assert r.status_code == status, r.content
    got = status_of(r.content) if r.headers["content-type"] == PROTOBUF else json_format.Parse(r.text, Status())
    assert message in got.message
    if status == 400:
        bad = BadRequest()
        assert got.details[0].Unpack(bad) and bad.field_violations[0].description == got.message
    assert stores[1].count() == 0


def test_a_body_above_the_limit_is_413(stores: tuple[LogStore, SpanStore]) -> None:
    c = client(stores, ApiConfig(otlp=OtlpConfig(max_body_bytes=1000)))
    r = post(c, request(span("x" * 2000)).SerializeToString())
    assert r.status_code == 413 and status_of(r.content).code == 8  # RESOURCE_EXHAUSTED
    r = post(c, gzip.compress(b"\x00" * 10_000), PROTOBUF, **{"Content-Encoding": "gzip"})
    assert r.status_code == 413 and "more than 1000 bytes after decompression" in status_of(r.content).message
    r = post(c, b"", PROTOBUF, **{"Content-Encoding": "br"})
    assert r.status_code == 400 and 'Content-Encoding "br" not supported' in status_of(r.content).message


def test_a_store_that_cannot_write_is_503_with_retry_after_then_the_retry_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = LogStore(":memory:"), SpanStore(tmp_path / "spans.duckdb")
    c = client(stores, ApiConfig(otlp=OtlpConfig(retry_after_s=7)))
    body = two_spans().SerializeToString()
    with monkeypatch.context() as m:
        fail_log_writes(stores[1], m)  # every write now fails, as on a full disk
        r = post(c, body)
    assert r.status_code == 503 and r.headers["retry-after"] == "7"
    status, retry = status_of(r.content), RetryInfo()
    assert status.code == 14 and status.message.startswith("cannot store the spans now: ")
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds == 7
    assert stores[1].count() == 0
    assert post(c, body).status_code == 200 and stores[1].count() == 2


def test_tenancy_refusals_and_the_tenant_a_token_allows(stores: tuple[LogStore, SpanStore]) -> None:
    body = two_spans().SerializeToString()
    r = post(client(stores, ApiConfig(auth=AuthConfig(require_tenant=True))), body)
    assert r.status_code == 401 and status_of(r.content) == Status(code=16, message="no org id")
    tokens = client(stores, ApiConfig(auth=AuthConfig(tokens={"s3cret": ["acme"]})))
    r = post(tokens, body, **{"Authorization": "Bearer s3cret", "X-Scope-OrgID": "other"})
    assert r.status_code == 403 and stores[1].count() == 0
    assert post(tokens, body, **{"Authorization": "Bearer s3cret"}).status_code == 200
    assert len(stores[1].trace("acme", TRACE.hex())) == 2


OK = {"traceId": TRACE.hex(), "spanId": SPAN.hex(), "name": "ok", "startTimeUnixNano": "1", "endTimeUnixNano": "2"}


def hostile_json(spans: list[dict[str, object]], stores: tuple[LogStore, SpanStore]) -> dict[str, str]:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [OK, *spans]}]}]}
    r = post(client(stores), orjson.dumps(body), JSON)
    assert r.status_code == 200, r.text
    assert [s.name for s in stores[1].trace("default", TRACE.hex())] == ["ok"]
    return r.json()["partialSuccess"]  # type: ignore[no-any-return]


def test_hostile_json_values_reject_the_span_and_say_where(stores: tuple[LogStore, SpanStore]) -> None:
    partial = hostile_json(
        [
            {**OK, "endTimeUnixNano": "1", "startTimeUnixNano": "2"},
            {**OK, "name": 42},
            {**OK, "spanId": "zz" * 8},
            {**OK, "startTimeUnixNano": str(2**70)},
        ],
        stores,
    )
    assert partial["rejectedSpans"] == "4"
    why = partial["errorMessage"]
    assert "spans[1]: endTimeUnixNano 1 is before startTimeUnixNano 2" in why
    assert "spans[2]: Failed to parse name field" in why
    assert "spans[3]: spanId 'zzzzzzzzzzzzzzzz' is not hex" in why
    assert "spans[4]: Failed to parse startTimeUnixNano field: Value out of range" in why


def test_a_rejected_span_after_an_unparsable_one_is_named_by_its_position_in_the_body(
    stores: tuple[LogStore, SpanStore],
) -> None:
    partial = hostile_json([{**OK, "name": 42}, {**OK, "endTimeUnixNano": "1", "startTimeUnixNano": "2"}], stores)
    assert "spans[2]: endTimeUnixNano 1 is before startTimeUnixNano 2" in partial["errorMessage"]


def test_without_a_spans_store_there_is_no_traces_route() -> None:
    store = LogStore(":memory:")
    c = TestClient(create_app(store, CollectorRegistry(), lambda: True))
    assert c.post("/v1/traces", content=b"", headers={"Content-Type": PROTOBUF}).status_code == 404
    assert c.app.state.spans is None  # type: ignore[attr-defined]
    store.close()


class BrokenSpans:
    def write(self, prepared: object) -> SpanAppendResult:
        raise RuntimeError("a bug, not the client's fault")

    def maybe_compact(self) -> None: ...


def test_a_bug_is_500_internal(stores: tuple[LogStore, SpanStore]) -> None:
    registry = CollectorRegistry()
    receiver = TracesReceiver(BrokenSpans(), ApiConfig(), OtlpMetrics(registry))  # type: ignore[arg-type]
    c = TestClient(create_app(stores[0], registry, lambda: True, otlp_traces=receiver, spans=stores[1]))
    r = post(c, two_spans().SerializeToString())
    assert r.status_code == 500 and status_of(r.content) == Status(code=13, message="internal error")


# --- gRPC: both services on one server ------------------------------------------------------------------------


@pytest.fixture
def grpc_server(stores: tuple[LogStore, SpanStore]) -> Iterator[tuple[grpc.Channel, CollectorRegistry]]:
    registry = CollectorRegistry()
    metrics = OtlpMetrics(registry)
    logs = LogsReceiver(stores[0], ApiConfig(), metrics)
    traces = TracesReceiver(stores[1], ApiConfig(), metrics)
    server = start_grpc([logs, traces], OtlpConfig(grpc_port=free_port()), "127.0.0.1")
    channel = grpc.insecure_channel(server.address)
    yield channel, registry
    channel.close()
    server.stop(0)


def test_grpc_export_stores_spans_once(
    stores: tuple[LogStore, SpanStore], grpc_server: tuple[grpc.Channel, CollectorRegistry]
) -> None:
    channel, registry = grpc_server
    stub = TraceServiceStub(channel)
    for _ in range(2):  # a retry
        assert (
            stub.Export(two_spans(), metadata=[("x-scope-orgid", "acme")], timeout=10) == ExportTraceServiceResponse()
        )
    assert {s.name for s in stores[1].trace("acme", TRACE.hex())} == {"GET /pay", "charge"}
    text = generate_latest(registry).decode()
    assert 'observ_otlp_received_spans_total{tenant="acme",transport="grpc"} 2.0' in text
    assert 'observ_otlp_duplicate_spans_total{transport="grpc"} 2.0' in text


def test_grpc_partial_success_and_invalid_argument(
    stores: tuple[LogStore, SpanStore], grpc_server: tuple[grpc.Channel, CollectorRegistry]
) -> None:
    channel, _ = grpc_server
    resp = TraceServiceStub(channel).Export(request(span("ok"), span("bad", span_id=b"")), timeout=10)
    assert resp.partial_success.rejected_spans == 1 and "spans[1]" in resp.partial_success.error_message
    call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    with pytest.raises(grpc.RpcError) as info:
        call(b"\xff\xff\xff\xff", timeout=10)
    err = info.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "not a protobuf ExportTraceServiceRequest" in details(err).message
    assert stores[1].count() == 1
