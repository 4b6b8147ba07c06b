"""OTLP logs into a real `observ serve`, sent by the real OpenTelemetry SDK over OTLP/HTTP and OTLP/gRPC, read back
through the Loki API: body, level, timestamps, trace and span IDs, tenant."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import yaml
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests.integration.harness import Proc, free_port

TENANT = "acme"


class Served:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.grpc_port = free_port()
        config = tmp / "observ.yaml"
        config.write_text(yaml.safe_dump({"api": {"otlp": {"grpc_port": self.grpc_port}}}))
        args = ["serve", "--create", "--data", str(tmp / "data"), "--port", str(self.port), "--config", str(config)]
        self.proc = Proc([sys.executable, "-m", "observ.cli.main", *args], tmp / "serve.log", self.port)
        self.proc.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def query(self, logql: str, start_ns: int, **params: str) -> list[dict[str, object]]:
        r = httpx.get(
            f"{self.url}/loki/api/v1/query_range",
            params={"query": logql, "start": str(start_ns), "end": str(time.time_ns() + 10**9), "limit": "100",
                    "direction": "forward", **params},
            headers={"X-Scope-OrgID": TENANT},
            timeout=30,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        return r.json()["data"]["result"]  # type: ignore[no-any-return]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path)
    yield s
    assert s.proc.stop() == 0, s.proc.tail()


class SentTwice(LogRecordExporter):
    """Sends every batch twice, as a client does when the answer to its first try was lost; both must succeed."""

    def __init__(self, exporter: LogRecordExporter) -> None:
        self.exporter = exporter

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        results = [self.exporter.export(batch), self.exporter.export(batch)]
        assert results == [LogRecordExportResult.SUCCESS] * 2, results
        return results[0]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.exporter.shutdown()


def emit_in_a_span(exporter: LogRecordExporter, service: str) -> tuple[str, str, int]:
    """Two records (info, then error) inside one active span, each sent twice; (trace id, span id, first time)."""
    resource = Resource.create({"service.name": service, "k8s.pod.name": f"{service}-0"})
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(SimpleLogRecordProcessor(SentTwice(exporter)))
    logger = provider.get_logger("tests.otlp")
    tracer = TracerProvider(resource=resource).get_tracer("tests.otlp")
    ts = time.time_ns() - 5 * 10**9
    with tracer.start_as_current_span("checkout") as span:
        ctx = span.get_span_context()
        logger.emit(timestamp=ts, severity_number=SeverityNumber.INFO, body=f"{service} started",
                    attributes={"order.id": 42})  # fmt: skip
        logger.emit(timestamp=ts + 1000, severity_number=SeverityNumber.ERROR, severity_text="ERROR",
                    body=f"{service} failed: card declined")  # fmt: skip
    provider.shutdown()
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", ts


def entries(streams: list[dict[str, object]]) -> list[tuple[str, str, str, str, str, str]]:
    """(ts, line, level, trace_id, span_id, pod) of every entry, oldest first: the Loki API splits streams by level
    and lists structured metadata with the labels."""
    out = []
    for s in streams:
        labels: dict[str, str] = s["stream"]  # type: ignore[assignment]
        for ts, line in s["values"]:  # type: ignore[attr-defined]
            out.append((ts, line, labels.get("level", ""), labels.get("trace_id", ""), labels.get("span_id", ""),
                        labels.get("pod", "")))  # fmt: skip
    return sorted(out)


def check(served: Served, service: str, trace_id: str, span_id: str, ts: int) -> None:
    start = ts - 10**9
    expected = [
        (str(ts), f"{service} started", "info", trace_id, span_id, f"{service}-0"),
        (str(ts + 1000), f"{service} failed: card declined", "error", trace_id, span_id, f"{service}-0"),
    ]
    assert entries(served.query(f'{{service="{service}"}}', start)) == expected
    assert entries(served.query(f'{{service=~"otlp-.+"}} | trace_id="{trace_id}"', start)) == expected
    assert entries(served.query(f'{{service=~"otlp-.+"}} | span_id="{span_id}" | level="error"', start)) == expected[1:]


def test_the_sdk_exports_logs_over_http_and_grpc_into_the_loki_api(served: Served) -> None:
    http = HttpLogExporter(endpoint=f"{served.url}/v1/logs", headers={"X-Scope-OrgID": TENANT},
                           compression=Compression.Gzip, timeout=10)  # fmt: skip
    http_ids = emit_in_a_span(http, "otlp-http")
    grpc = GrpcLogExporter(endpoint=f"127.0.0.1:{served.grpc_port}", insecure=True,
                           headers={"x-scope-orgid": TENANT}, timeout=10)  # fmt: skip
    grpc_ids = emit_in_a_span(grpc, "otlp-grpc")
    assert http_ids[0] != grpc_ids[0]
    check(served, "otlp-http", *http_ids)
    check(served, "otlp-grpc", *grpc_ids)
    metrics = served.proc.metrics()
    for transport in ("http", "grpc"):  # every record was sent twice, and stored once
        assert metrics[f"observ_otlp_received_log_records_total{{transport={transport}}}"] == 2
        assert metrics[f"observ_otlp_duplicate_log_records_total{{transport={transport}}}"] == 2
    assert metrics.get("observ_otlp_dropped_metadata_total", 0) == 0, "every attribute is kept as metadata"
    r = httpx.get(f"{served.url}/loki/api/v1/query_range", params={"query": '{service="otlp-http"}'}, timeout=30)
    assert r.json()["data"]["result"] == [], "another tenant sees none of them"
