"""`POST /v1/logs` through FastAPI's TestClient into a real store: every status OTLP/HTTP defines, hostile bodies."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from google.rpc.error_details_pb2 import BadRequest, RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from prometheus_client import CollectorRegistry

from observ.api.app import create_app
from observ.api.config import ApiConfig, AuthConfig, OtlpConfig, PushConfig
from observ.api.otlp.events import OtlpMetrics
from observ.api.otlp.receiver import LogsReceiver
from observ.store.logstore import AppendResult, LogStore

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
T0 = 1_700_000_000_000_000_000


@pytest.fixture
def store() -> Iterator[LogStore]:
    s = LogStore(":memory:")
    yield s
    s.close()


def client(store: LogStore, config: ApiConfig | None = None) -> TestClient:
    return TestClient(create_app(store, CollectorRegistry(), lambda: True, config=config or ApiConfig()))


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def request(*records: LogRecord, service: str = "checkout", **resource: str) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend([kv("service.name", service), *(kv(k, v) for k, v in resource.items())])
    sl = rl.scope_logs.add()
    sl.scope.name = "tests"
    sl.log_records.extend(records)
    return req


def record(body: str, ts: int = T0, **kw: object) -> LogRecord:
    return LogRecord(time_unix_nano=ts, body=AnyValue(string_value=body), **kw)  # type: ignore[arg-type]


def post(c: TestClient, body: bytes, content_type: str = PROTOBUF, **headers: str) -> object:
    return c.post("/v1/logs", content=body, headers={"Content-Type": content_type, **headers})


def status_of(content: bytes) -> Status:
    return Status.FromString(content)


def test_protobuf_records_land_with_their_ids_level_and_time(store: LogStore) -> None:
    req = request(
        record("card declined", severity_number=17, trace_id=TRACE, span_id=SPAN),
        record("retrying", ts=T0 + 5, severity_text="Warning"),
        k8s_namespace_name="shop",
    )
    req.resource_logs[0].resource.attributes.append(kv("k8s.pod.name", "checkout-1"))
    r = post(client(store), req.SerializeToString())
    assert r.status_code == 200 and r.headers["content-type"] == PROTOBUF
    assert r.content == b"" and not ExportLogsServiceResponse.FromString(r.content).HasField("partial_success")
    rows = store.recent("checkout", 10, "default")
    assert [(x["line"], x["level"], x["ts"], x["trace_id"], x["span_id"], x["pod"]) for x in rows] == [
        ("retrying", "warn", T0 + 5, "", "", "checkout-1"),
        ("card declined", "error", T0, TRACE.hex(), SPAN.hex(), "checkout-1"),
    ]


def test_json_body_is_answered_in_json(store: LogStore) -> None:
    body = {
        "resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
            "scopeLogs": [{"logRecords": [{
                "timeUnixNano": str(T0), "severityNumber": 9, "body": {"stringValue": "added"},
                "traceId": TRACE.hex().upper(), "spanId": SPAN.hex(),
            }]}],
        }]
    }  # fmt: skip
    r = post(client(store), orjson.dumps(body), "application/json; charset=utf-8")
    assert (r.status_code, r.headers["content-type"], r.json()) == (200, JSON, {})
    [row] = store.recent("cart", 10, "default")
    assert (row["line"], row["level"], row["trace_id"], row["span_id"]) == ("added", "info", TRACE.hex(), SPAN.hex())


def test_gzip_bodies_are_read(store: LogStore) -> None:
    r = post(
        client(store), gzip.compress(request(record("zipped")).SerializeToString()), **{"Content-Encoding": "gzip"}
    )
    assert r.status_code == 200 and [x["line"] for x in store.recent("checkout", 10)] == ["zipped"]


def test_empty_request_is_a_success(store: LogStore) -> None:
    r = post(client(store), b"")
    assert (r.status_code, r.content) == (200, b"") and store.count() == 0


def test_partial_success_counts_and_explains_rejected_records(store: LogStore) -> None:
    req = request(
        record("bad id", trace_id=b"\x01\x02\x03"), record("kept", trace_id=TRACE), record("zero", span_id=bytes(8))
    )
    c = client(store)
    r = post(c, req.SerializeToString())
    assert r.status_code == 200
    partial = ExportLogsServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_log_records == 1
    assert partial.error_message.startswith(
        "1 log record rejected: resourceLogs[0].scopeLogs[0].logRecords[0]: traceId"
    )
    assert sorted(x["line"] for x in store.recent("checkout", 10)) == ["kept", "zero"], "all-zero span ID means none"
    metrics = c.get("/metrics").text
    assert 'observ_otlp_rejected_log_records_total{transport="http"} 1.0' in metrics
    assert 'observ_otlp_received_log_records_total{tenant="default",transport="http"} 2.0' in metrics


def test_partial_success_in_json_writes_the_count_as_a_string(store: LogStore) -> None:
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"body": {"stringValue": "b64 id"}, "traceId": "W47/95gDgQPSabYzgT/GDA=="},
        {"body": {"stringValue": "fine"}, "timeUnixNano": str(T0)},
    ]}]}]}  # fmt: skip
    r = post(client(store), orjson.dumps(body), JSON)
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1" and "not hex (OTLP/JSON writes IDs as hex" in partial["errorMessage"]
    assert [x["line"] for x in store.recent("unknown_service", 10)] == ["fine"]


def test_attributes_are_stored_as_metadata_not_counted_as_dropped(store: LogStore) -> None:
    rec = record("with attrs", attributes=[kv("user.id", "u1"), kv("http.route", "/pay")])
    c = client(store)
    assert post(c, request(rec).SerializeToString()).status_code == 200
    [(md,)] = store.cursor().execute("SELECT metadata FROM logs").fetchall()
    assert {"user_id": "u1", "http_route": "/pay"}.items() <= orjson.loads(md).items()
    assert "observ_otlp_dropped_metadata_total 0.0" in c.get("/metrics").text


def test_the_push_settings_decide_service_name_and_detected_level_of_otlp_records_too(store: LogStore) -> None:
    off = ApiConfig(push=PushConfig(discover_service_name=[], discover_log_levels=False))
    on = ({"service_name": "unknown_service"}, "error")  # no service.name: Loki's OTLP endpoint discovers one
    for config, want in ((ApiConfig(), on), (off, ({}, None))):
        store.cursor().execute("DELETE FROM logs_hot")
        body = request(record("error: card declined"), service="").SerializeToString()
        assert post(client(store, config), body).status_code == 200
        [(labels, md)] = store.cursor().execute("SELECT labels, metadata FROM logs").fetchall()
        service_name = {k: v for k, v in orjson.loads(labels or "{}").items() if k == "service_name"}
        assert (service_name, orjson.loads(md or "{}").get("detected_level")) == want


def test_a_retried_request_is_stored_once(store: LogStore) -> None:
    body = request(record("once", trace_id=TRACE), record("twice the same", ts=T0 + 1)).SerializeToString()
    c = client(store)
    assert post(c, body).status_code == 200 and post(c, body).status_code == 200
    assert store.count() == 2
    metrics = c.get("/metrics").text
    assert 'observ_otlp_received_log_records_total{tenant="default",transport="http"} 2.0' in metrics
    assert 'observ_otlp_duplicate_log_records_total{transport="http"} 2.0' in metrics


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/protobuf", "application/x-protobuf-json"])
def test_other_content_types_are_415_with_a_protobuf_status(store: LogStore, content_type: str) -> None:
    r = post(client(store), request(record("x")).SerializeToString(), content_type)
    assert r.status_code == 415 and r.headers["content-type"] == PROTOBUF
    assert "OTLP/HTTP takes application/x-protobuf or application/json" in status_of(r.content).message
    assert store.count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"\x0a\xff\xff\xff\xff\x0f",
            "the body is not a protobuf ExportLogsServiceRequest (6 bytes)",
        ),  # length past the end
        (b"\xff\xff\xff\xff", "the body is not a protobuf ExportLogsServiceRequest"),  # invalid tag
        (b"\x0a\x03\x12\x01", "the body is not a protobuf ExportLogsServiceRequest"),  # truncated nested message
        (request(record("MARK")).SerializeToString().replace(b"MARK", b"\xff\xfe\xfd\xfc"), "not a protobuf"),
    ],
)
def test_undecodable_protobuf_is_400_with_a_bad_request_detail(store: LogStore, body: bytes, message: str) -> None:
    c = client(store)
    r = post(c, body)
    assert r.status_code == 400 and r.headers["content-type"] == PROTOBUF
    status = status_of(r.content)
    assert message in status.message and status.code == 3  # INVALID_ARGUMENT
    detail = BadRequest()
    assert status.details[0].Unpack(detail) and detail.field_violations[0].description == status.message
    assert store.count() == 0
    assert 'observ_otlp_rejected_requests_total{reason="invalid",transport="http"} 1.0' in c.get("/metrics").text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "invalid JSON: unexpected end of data"),
        (b"[1, 2]", "the body must be a JSON object, got list"),
        (b'{"resourceLogs": "all of them"}', "resourceLogs: must be an array, got str"),
        (
            b'{"resourceLogs": [{"scopeLogs": [{"logRecords": 7}]}]}',
            "scopeLogs[0].logRecords: must be an array, got int",
        ),
        (b"\xff\xfe{}", "invalid JSON: str is not valid UTF-8"),
    ],
)
def test_malformed_json_is_400_with_a_json_status(store: LogStore, body: bytes, message: str) -> None:
    r = post(client(store), body, JSON)
    assert r.status_code == 400 and r.headers["content-type"] == JSON
    status = r.json()
    assert message in status["message"] and status["code"] == 3
    assert status["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert store.count() == 0


def test_wrong_types_inside_a_json_record_reject_only_that_record(store: LogStore) -> None:
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"body": {"stringValue": "bad time"}, "timeUnixNano": "soon"},
        {"body": {"stringValue": "huge time"}, "timeUnixNano": str(2**64)},
        {"body": {"stringValue": "good"}, "timeUnixNano": str(T0)},
    ]}]}]}  # fmt: skip
    r = post(client(store), orjson.dumps(body), JSON)
    partial = r.json()["partialSuccess"]
    assert r.status_code == 200 and partial["rejectedLogRecords"] == "2"
    assert "logRecords[0]" in partial["errorMessage"] and "logRecords[1]" in partial["errorMessage"]
    assert [x["line"] for x in store.recent("unknown_service", 10)] == ["good"]


def test_bad_content_encodings_are_400(store: LogStore) -> None:
    c = client(store)
    r = post(c, b"not gzip at all", **{"Content-Encoding": "gzip"})
    assert r.status_code == 400 and status_of(r.content).message.startswith("gzip: ")
    r = post(c, b"", **{"Content-Encoding": "br"})
    assert r.status_code == 400 and status_of(r.content).message == (
        'Content-Encoding "br" not supported: OTLP/HTTP takes gzip (or deflate) or none'
    )


def test_bodies_above_the_limit_are_413(store: LogStore) -> None:
    c = client(store, ApiConfig(otlp=OtlpConfig(max_body_bytes=1000)))
    big = request(record("x" * 2000)).SerializeToString()
    r = post(c, big)
    assert r.status_code == 413 and "request body too large" in status_of(r.content).message
    assert status_of(r.content).code == 8  # RESOURCE_EXHAUSTED
    bomb = gzip.compress(b"\x00" * 10_000)  # small on the wire, large once inflated
    r = post(c, bomb, JSON, **{"Content-Encoding": "gzip"})
    assert r.status_code == 413 and r.headers["content-type"] == JSON
    assert r.json()["message"] == "request body too large: more than 1000 bytes after decompression"
    assert store.count() == 0


def test_a_store_that_cannot_write_is_503_with_retry_after_then_the_retry_lands(store: LogStore) -> None:
    c = client(store, ApiConfig(otlp=OtlpConfig(retry_after_s=7)))
    body = request(record("after the disk is freed")).SerializeToString()
    store._con.execute("ALTER TABLE logs_hot ADD COLUMN extra INTEGER")  # every insert now fails
    r = post(c, body)
    assert r.status_code == 503 and r.headers["retry-after"] == "7"
    status = status_of(r.content)
    retry = RetryInfo()
    assert status.code == 14 and status.message.startswith("cannot store the log records now: ")
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds == 7
    assert (
        'observ_otlp_rejected_requests_total{reason="store_unavailable",transport="http"} 1.0' in c.get("/metrics").text
    )
    store._con.execute("ALTER TABLE logs_hot DROP COLUMN extra")
    assert post(c, body).status_code == 200 and store.count() == 1


def test_the_tenant_comes_from_x_scope_orgid(store: LogStore) -> None:
    r = post(client(store), request(record("for acme")).SerializeToString(), **{"X-Scope-OrgID": "acme"})
    assert r.status_code == 200
    assert [x["line"] for x in store.recent("checkout", 10, "acme")] == ["for acme"]
    assert store.recent("checkout", 10, "default") == []


def test_tenancy_refusals_use_the_loki_api_rules(store: LogStore) -> None:
    body = request(record("x")).SerializeToString()
    strict = client(store, ApiConfig(auth=AuthConfig(require_tenant=True)))
    r = post(strict, body)
    assert r.status_code == 401 and status_of(r.content) == Status(code=16, message="no org id")
    tokens = client(store, ApiConfig(auth=AuthConfig(tokens={"s3cret": ["acme"]})))
    r = post(tokens, body, JSON, **{"Authorization": "Bearer s3cret", "X-Scope-OrgID": "other"})
    assert r.status_code == 403 and r.json() == {"code": 7, "message": "tenant 'other' is not allowed for this token"}
    assert post(tokens, body).status_code == 401
    assert post(client(store), body, **{"X-Scope-OrgID": "a|b"}).status_code == 400
    assert post(tokens, body, **{"Authorization": "Bearer s3cret"}).status_code == 200
    assert [x["line"] for x in store.recent("checkout", 10, "acme")] == ["x"]


def test_the_receiver_can_be_switched_off(store: LogStore) -> None:
    r = post(client(store, ApiConfig(otlp=OtlpConfig(enabled=False))), request(record("x")).SerializeToString())
    assert r.status_code == 404 and store.count() == 0


def nested(depth: int) -> AnyValue:
    value = AnyValue(string_value="leaf")
    for _ in range(depth):
        outer = AnyValue()
        outer.array_value.values.append(value)
        value = outer
    return value


def field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (the protobuf library refuses to build messages this deep)."""
    size, n = b"", len(payload)
    while True:
        size += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            break
    return bytes([number << 3 | 2]) + size + payload


def deep_protobuf(depth: int) -> bytes:
    """A request whose one log body is arrays nested `depth` deep."""
    value = field(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        value = field(5, field(1, value))  # AnyValue.array_value -> ArrayValue.values
    log_record = field(5, value)  # LogRecord.body
    return field(1, field(2, field(2, log_record)))  # resource_logs -> scope_logs -> log_records


def test_values_nested_past_the_limits(store: LogStore) -> None:
    """Past max_value_depth the record is rejected; past protobuf's own recursion limit the whole body is."""
    c = client(store)
    deep = LogRecord(time_unix_nano=T0, body=nested(20))
    r = post(c, request(deep, record("shallow")).SerializeToString())
    partial = ExportLogsServiceResponse.FromString(r.content).partial_success
    assert r.status_code == 200 and partial.rejected_log_records == 1 and "logRecords[0]" in partial.error_message
    r = post(c, deep_protobuf(200))
    assert r.status_code == 400 and "not a protobuf ExportLogsServiceRequest" in status_of(r.content).message
    assert [x["line"] for x in store.recent("checkout", 10)] == ["shallow"]


def test_attributes_past_the_limit_are_dropped_and_counted(store: LogStore) -> None:
    many = record("busy", attributes=[kv(f"k{i}", "v") for i in range(3000)])
    c = client(store)
    assert post(c, request(many).SerializeToString()).status_code == 200
    assert [x["line"] for x in store.recent("checkout", 10)] == ["busy"]
    # 1024 attributes kept, 1976 cut at the limit (and named in dropped_attributes_count)
    assert "observ_otlp_dropped_metadata_total 1976.0" in c.get("/metrics").text


class BrokenStore:
    def append(self, batches: list[object]) -> AppendResult:
        raise RuntimeError("a bug, not the client's fault")


def test_a_bug_is_500_internal_and_counted(store: LogStore) -> None:
    registry = CollectorRegistry()
    receiver = LogsReceiver(BrokenStore(), ApiConfig(), OtlpMetrics(registry))  # type: ignore[arg-type]
    c = TestClient(create_app(store, registry, lambda: True, otlp_logs=receiver))
    r = post(c, request(record("x")).SerializeToString())
    assert r.status_code == 500 and status_of(r.content) == Status(code=13, message="internal error")
    assert 'observ_otlp_rejected_requests_total{reason="internal",transport="http"} 1.0' in c.get("/metrics").text
