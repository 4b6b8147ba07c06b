"""The OTLP/gRPC LogsService on a real grpcio server over loopback, into a real store: codes, details, limits."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator

import grpc
import pytest
from google.rpc.error_details_pb2 import BadRequest, RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from prometheus_client import CollectorRegistry, generate_latest

from observ.api.config import OTLP_GRPC_PORT, ApiConfig, AuthConfig, OtlpConfig
from observ.api.otlp.events import OtlpMetrics
from observ.api.otlp.grpc import STATUS_DETAILS, GrpcBindError, OtlpGrpcServer, start_grpc
from observ.api.otlp.receiver import LogsReceiver
from observ.store.logstore import LogStore
from tests.unit.api.test_otlp_routes import SPAN, T0, TRACE, record
from tests.unit.api.test_otlp_routes import request as logs

METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Running:
    def __init__(self, config: ApiConfig) -> None:
        self.store = LogStore(":memory:")
        self.registry = CollectorRegistry()
        receiver = LogsReceiver(self.store, config, OtlpMetrics(self.registry))
        otlp = config.otlp.model_copy(update={"grpc_port": free_port()})
        self.server = start_grpc([receiver], otlp, "127.0.0.1")
        self.channel = grpc.insecure_channel(self.server.address)
        self.stub = LogsServiceStub(self.channel)

    def raw(self, body: bytes, **kw: object) -> bytes:
        call = self.channel.unary_unary(METHOD)
        return call(body, timeout=10, **kw)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.channel.close()
        self.server.stop(0)
        self.store.close()


@pytest.fixture
def running(request: pytest.FixtureRequest) -> Iterator[Running]:
    config = getattr(request, "param", ApiConfig())
    r = Running(config)
    yield r
    r.close()


def details(err: grpc.RpcError) -> Status:
    trailing = dict(err.trailing_metadata())  # type: ignore[attr-defined]
    return Status.FromString(trailing[STATUS_DETAILS])


def test_export_stores_records_for_the_metadata_tenant(running: Running) -> None:
    req = logs(record("paid", severity_number=9, trace_id=TRACE, span_id=SPAN))
    resp = running.stub.Export(req, metadata=[("x-scope-orgid", "acme")], timeout=10)
    assert resp == ExportLogsServiceResponse()
    [row] = running.store.recent("checkout", 10, "acme")
    assert (row["line"], row["level"], row["ts"], row["trace_id"], row["span_id"]) == (
        "paid", "info", T0, TRACE.hex(), SPAN.hex(),
    )  # fmt: skip
    assert b'observ_otlp_received_log_records_total{tenant="acme",transport="grpc"} 1.0' in generate_latest(
        running.registry
    )


def test_gzip_compressed_calls_are_read(running: Running) -> None:
    req = logs(record("squeezed"))
    running.stub.Export(req, compression=grpc.Compression.Gzip, timeout=10)
    assert [x["line"] for x in running.store.recent("checkout", 10)] == ["squeezed"]


def test_rejected_records_are_a_partial_success(running: Running) -> None:
    req = logs(record("short id", span_id=b"\x01"), record("kept"))
    partial = running.stub.Export(req, timeout=10).partial_success
    assert partial.rejected_log_records == 1
    assert partial.error_message == (
        "1 log record rejected: resourceLogs[0].scopeLogs[0].logRecords[0]: "
        "spanId must be 8 bytes (16 hex digits), got 1"
    )
    assert [x["line"] for x in running.store.recent("checkout", 10)] == ["kept"]


@pytest.mark.parametrize("body", [b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x0a\x03\x12\x01"])
def test_bytes_that_are_not_a_request_are_invalid_argument(running: Running, body: bytes) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        running.raw(body)
    err = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "the body is not a protobuf ExportLogsServiceRequest" in err.details()  # type: ignore[attr-defined]
    bad = BadRequest()
    assert details(err).details[0].Unpack(bad) and bad.field_violations[0].description == err.details()  # type: ignore[attr-defined]
    assert running.store.count() == 0


def test_a_store_that_cannot_write_is_unavailable_with_retry_info(running: Running) -> None:
    running.store._con.execute("ALTER TABLE logs_hot ADD COLUMN extra INTEGER")  # every insert now fails
    req = logs(record("later"))
    with pytest.raises(grpc.RpcError) as caught:
        running.stub.Export(req, timeout=10)
    err = caught.value
    assert err.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert err.details().startswith("cannot store the log records now: ")  # type: ignore[attr-defined]
    retry = RetryInfo()
    assert details(err).details[0].Unpack(retry) and retry.retry_delay.seconds == 10
    running.store._con.execute("ALTER TABLE logs_hot DROP COLUMN extra")
    running.stub.Export(req, timeout=10)
    assert running.store.count() == 1


@pytest.mark.parametrize("running", [ApiConfig(otlp=OtlpConfig(max_body_bytes=1000))], indirect=True)
def test_messages_above_the_limit_are_resource_exhausted(running: Running) -> None:
    for compression in (grpc.Compression.NoCompression, grpc.Compression.Gzip):  # gzip: small wire, large message
        with pytest.raises(grpc.RpcError) as caught:
            running.stub.Export(logs(record("x" * 5000)), compression=compression, timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert len(gzip.compress(logs(record("x" * 5000)).SerializeToString())) < 1000
    assert running.store.count() == 0


@pytest.mark.parametrize(
    "running", [ApiConfig(auth=AuthConfig(tokens={"s3cret": ["acme"]}))], indirect=True
)  # fmt: skip
def test_tenancy_refusals_map_to_grpc_codes(running: Running) -> None:
    req = logs(record("x"))
    cases = [
        ([], grpc.StatusCode.UNAUTHENTICATED),
        ([("authorization", "Bearer s3cret"), ("x-scope-orgid", "other")], grpc.StatusCode.PERMISSION_DENIED),
        ([("authorization", "Bearer s3cret"), ("x-scope-orgid", "../x")], grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for metadata, code in cases:
        with pytest.raises(grpc.RpcError) as caught:
            running.stub.Export(req, metadata=metadata, timeout=10)
        assert caught.value.code() == code, metadata  # type: ignore[attr-defined]
    running.stub.Export(req, metadata=[("authorization", "Bearer s3cret")], timeout=10)
    assert [x["line"] for x in running.store.recent("checkout", 10, "acme")] == ["x"]


def _receiver() -> LogsReceiver:
    return LogsReceiver(LogStore(":memory:"), ApiConfig(), OtlpMetrics(CollectorRegistry()))


def test_port_zero_is_off() -> None:
    assert start_grpc([_receiver()], OtlpConfig(grpc_port=0), "127.0.0.1") == OtlpGrpcServer(None, "")


def test_a_configured_port_in_use_refuses_the_start() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(GrpcBindError, match=f"cannot listen on 127.0.0.1:{port} for OTLP/gRPC"):
            start_grpc([_receiver()], OtlpConfig(grpc_port=port), "127.0.0.1")


def test_the_default_port_in_use_turns_grpc_off_with_a_note() -> None:
    with socket.socket() as s:
        try:  # whoever holds 4317 already, it is in use
            s.bind(("127.0.0.1", OTLP_GRPC_PORT))
            s.listen()
        except OSError:
            pass
        started = start_grpc([_receiver()], OtlpConfig(), "127.0.0.1")
    assert started.server is None and started.note.startswith(f"cannot listen on 127.0.0.1:{OTLP_GRPC_PORT} (in use?)")
