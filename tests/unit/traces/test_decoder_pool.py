"""OTLP trace bodies decoded in decoder processes (`DecoderPool`): the store ends up exactly as when the request's
own thread decodes, rejections and whole-request errors read the same."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import psutil
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from prometheus_client import CollectorRegistry

from observ.api.config import ApiConfig
from observ.api.otlp.events import OtlpMetrics
from observ.api.otlp.receiver import DecoderPool, PreparedTraces, TracesReceiver
from observ.otlp.decode import JSON, PROTOBUF
from observ.otlp.errors import OtlpError
from observ.traces.store import SpanStore

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_700_000_000_000_000_000
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")


@pytest.fixture(scope="module")
def pool() -> Iterator[DecoderPool]:
    with DecoderPool(1) as p:
        yield p


def receivers(pool: DecoderPool) -> tuple[TracesReceiver, TracesReceiver]:
    """(decoding in the pool, decoding in-thread), each into a store of its own."""
    metrics = OtlpMetrics(CollectorRegistry())
    return (
        TracesReceiver(SpanStore(":memory:"), ApiConfig(), metrics, decoders=pool),
        TracesReceiver(SpanStore(":memory:"), ApiConfig(), metrics),
    )


def pb_span(n: int, trace_id: bytes = TRACE, start: int = T0, end: int = T0 + 5, **kw: object) -> PbSpan:
    attrs = [
        KeyValue(key="http.route", value=AnyValue(string_value="/cart")),
        KeyValue(key="n", value=AnyValue(int_value=n)),
        KeyValue(key="ok", value=AnyValue(bool_value=True)),
    ]
    return PbSpan(trace_id=trace_id, span_id=n.to_bytes(8, "big"), name=f"op {n}", start_time_unix_nano=start,
                  end_time_unix_nano=end, attributes=attrs, **kw)  # type: ignore[arg-type]  # fmt: skip


def body(*spans: PbSpan) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="cart")))
    rs.scope_spans.add().spans.extend(spans)
    return req


def stored(r: TracesReceiver) -> list[tuple[object, ...]]:
    assert isinstance(r.store, SpanStore)
    return r.store.cursor().execute("SELECT * FROM spans ORDER BY trace_id, span_id").fetchall()


def test_pooled_decoding_stores_what_in_thread_decoding_stores_and_rejects_the_same(pool: DecoderPool) -> None:
    req = body(
        pb_span(1), pb_span(2, kind=PbSpan.SPAN_KIND_CLIENT),
        pb_span(3, trace_id=b"\x01\x02\x03"),  # not 16 bytes
        pb_span(4, start=T0 + 10, end=T0),  # ends before it starts
        pb_span(5, end=2**64 - 1),  # past int64
    )  # fmt: skip
    pooled, inline = receivers(pool)
    for _ in range(2):  # a retry stores nothing twice
        a, b = (r.export_body(req.SerializeToString(), PROTOBUF, "", "acme") for r in (pooled, inline))
        assert isinstance(a, PreparedTraces) and len(a.columns) == 0
        assert (a.rejected, a.error_message) == (b.rejected, b.error_message)
        assert a.rejected == 3 and "traceId must be 16 bytes" in a.error_message
        assert pooled.response(a, "protobuf") == inline.response(b, "protobuf")
    rows = stored(pooled)
    assert len(rows) == 2 and rows == stored(inline)


def test_an_otlp_json_body_decodes_in_the_pool_too(pool: DecoderPool) -> None:
    good = {"traceId": TRACE.hex().upper(), "spanId": "0000000000000001", "name": "GET /cart",
            "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 5)}  # fmt: skip
    data = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [good, {**good, "spanId": "zz"}]}]}]})
    pooled, inline = receivers(pool)
    a, b = (r.export_body(data, JSON, "", "acme") for r in (pooled, inline))
    assert (a.rejected, a.error_message) == (b.rejected, b.error_message) and a.rejected == 1
    assert [(row[1], row[6]) for row in stored(pooled)] == [(TRACE.hex(), "GET /cart")]
    assert stored(pooled) == stored(inline)


def test_a_body_of_rejected_spans_stores_nothing(pool: DecoderPool) -> None:
    pooled, _ = receivers(pool)
    result = pooled.export_body(body(pb_span(1, trace_id=b"\x00" * 16)).SerializeToString(), PROTOBUF, "", "acme")
    assert isinstance(result, PreparedTraces) and result.prepared is None
    assert result.rejected == 1 and "all zeros" in result.error_message
    assert stored(pooled) == []


def test_a_malformed_body_is_refused_with_the_decoders_reason(pool: DecoderPool) -> None:
    pooled, _ = receivers(pool)
    with pytest.raises(OtlpError, match=r"not a protobuf ExportTraceServiceRequest \(3 bytes\)") as e:
        pooled.export_body(b"\x0a\xff\xff", PROTOBUF, "", "acme")
    refusal = pooled.refusal(e.value, "http", "acme")
    assert (refusal.http_status, refusal.reason) == (400, "invalid")
    with pytest.raises(OtlpError, match="unsupported content type 'text/plain'"):
        pooled.export_body(b"{}", "text/plain", "", "acme")


def test_a_decoder_that_dies_costs_no_request() -> None:
    """A killed decoder breaks a ProcessPoolExecutor for good; the next request is decoded by a new pool."""
    with DecoderPool(1) as decoders:
        decoders.wait_ready()
        receiver = TracesReceiver(SpanStore(":memory:"), ApiConfig(), OtlpMetrics(CollectorRegistry()),
                                  decoders=decoders)  # fmt: skip
        receiver.export_body(body(pb_span(1)).SerializeToString(), PROTOBUF, "", "acme")
        for p in psutil.Process().children():
            if "spawn_main" in " ".join(p.cmdline()):
                p.kill()
                p.wait(10)
        result = receiver.export_body(body(pb_span(2)).SerializeToString(), PROTOBUF, "", "acme")
        assert result.rejected == 0
        assert [row[2] for row in stored(receiver)] == [(1).to_bytes(8, "big").hex(), (2).to_bytes(8, "big").hex()]


def test_ctrl_c_leaves_the_decoders_to_the_service() -> None:
    """A terminal's Ctrl-C reaches every process of the group: the decoders ignore it and keep decoding (before,
    each died printing a KeyboardInterrupt trace while the service was still shutting down gracefully)."""
    with DecoderPool(2) as decoders:
        decoders.wait_ready()
        before = [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]
        for p in before:
            os.kill(p.pid, signal.SIGINT)
        receiver = TracesReceiver(SpanStore(":memory:"), ApiConfig(), OtlpMetrics(CollectorRegistry()),
                                  decoders=decoders)  # fmt: skip
        for n in range(1, 5):
            receiver.export_body(body(pb_span(n)).SerializeToString(), PROTOBUF, "", "acme")
        assert len(stored(receiver)) == 4
        assert all(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in before)


def test_decoders_exit_when_the_service_is_killed(tmp_path: Path) -> None:
    """SIGKILL runs no shutdown: the decoders notice their parent is gone by themselves."""
    script = "import time; from observ.api.otlp.receiver import DecoderPool\n" \
             "p = DecoderPool(2); p.wait_ready(); print('ready', flush=True); time.sleep(60)\n"  # fmt: skip
    service = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert service.stdout is not None and service.stdout.readline() == b"ready\n"
        decoders = [p for p in psutil.Process(service.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        assert len(decoders) == 2
    finally:
        service.kill()
        service.wait(10)
    _, alive = psutil.wait_procs(decoders, timeout=10)
    assert alive == []
