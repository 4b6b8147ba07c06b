"""Spans into a real `observ serve --create` and `observ up`, sent by the real OpenTelemetry SDK (TracerProvider +
OTLPSpanExporter) over OTLP/HTTP and OTLP/gRPC, every batch twice; read back from `<data>/spans.duckdb` once the
process stopped."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from observ.traces.model import Span
from observ.traces.store import SpanStore
from tests.integration.harness import Proc, free_port

TENANT = "acme"


class SentTwice(SpanExporter):
    """Sends every batch twice, as a client does when the answer to its first try was lost; both must succeed."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        results = [self.exporter.export(spans), self.exporter.export(spans)]
        assert results == [SpanExportResult.SUCCESS] * 2, results
        return results[0]

    def shutdown(self) -> None:
        self.exporter.shutdown()


def checkout(exporter: SpanExporter, service: str) -> str:
    """A server span with a client child that fails and an internal grandchild; the trace ID."""
    provider = TracerProvider(resource=Resource.create({"service.name": service, "k8s.pod.name": f"{service}-0"}))
    provider.add_span_processor(SimpleSpanProcessor(SentTwice(exporter)))
    tracer = provider.get_tracer("tests.otlp", "1.2.3")
    with tracer.start_as_current_span(
        "POST /checkout", kind=SpanKind.SERVER, attributes={"http.status_code": 502}
    ) as root:
        with tracer.start_as_current_span("charge", kind=SpanKind.CLIENT, attributes={"retries": [1, 2]}) as charge:
            with tracer.start_as_current_span("sign"):
                pass
            charge.set_status(Status(StatusCode.ERROR, "card declined"))
        trace_id = f"{root.get_span_context().trace_id:032x}"
    provider.shutdown()
    return trace_id


def check(spans: list[Span], service: str) -> None:
    by_name = {s.name: s for s in spans}
    assert sorted(by_name) == ["POST /checkout", "charge", "sign"]
    root, charge, sign = by_name["POST /checkout"], by_name["charge"], by_name["sign"]
    assert root.parent_span_id == "" and charge.parent_span_id == root.span_id and sign.parent_span_id == charge.span_id
    assert (root.kind, charge.kind, sign.kind) == (2, 3, 1)  # SERVER, CLIENT, INTERNAL
    assert (charge.status_code, charge.status_message) == (2, "card declined") and root.status_code == 0
    assert root.attributes == {"http.status_code": 502} and charge.attributes == {"retries": [1, 2]}
    assert {s.service for s in spans} == {service} and root.resource["k8s.pod.name"] == f"{service}-0"
    assert (root.scope_name, root.scope_version) == ("tests.otlp", "1.2.3")
    assert root.start_ns <= charge.start_ns <= sign.start_ns <= sign.end_ns <= charge.end_ns <= root.end_ns


@pytest.mark.parametrize("command", [["serve", "--create"], ["up"]])
def test_the_sdk_exports_spans_over_http_and_grpc_into_the_spans_store(tmp_path: Path, command: list[str]) -> None:
    port, grpc_port = free_port(), free_port()
    config = tmp_path / "observ.yaml"
    config.write_text(yaml.safe_dump({"api": {"otlp": {"grpc_port": grpc_port}}}))
    args = [*command, "--data", str(tmp_path / "data"), "--port", str(port), "--config", str(config)]
    proc = Proc([sys.executable, "-m", "observ.cli.main", *args], tmp_path / "observ.log", port)
    proc.start()
    try:
        http = HttpSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", headers={"X-Scope-OrgID": TENANT},
                                compression=Compression.Gzip, timeout=10)  # fmt: skip
        http_trace = checkout(http, "otlp-http")
        grpc = GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True,
                                headers={"x-scope-orgid": TENANT}, timeout=10)  # fmt: skip
        grpc_trace = checkout(grpc, "otlp-grpc")
        metrics = proc.metrics()
    finally:
        assert proc.stop() == 0, proc.tail()
    for transport in ("http", "grpc"):  # every span was sent twice, and stored once
        assert metrics[f"observ_otlp_received_spans_total{{transport={transport}}}"] == 3
        assert metrics[f"observ_otlp_duplicate_spans_total{{transport={transport}}}"] == 3
    store = SpanStore(tmp_path / "data" / "spans.duckdb")
    try:
        check(store.trace(TENANT, http_trace), "otlp-http")
        check(store.trace(TENANT, grpc_trace), "otlp-grpc")
        assert store.trace("default", http_trace) == [], "another tenant sees none of them"
        assert store.count() == 6
    finally:
        store.close()
