"""Spans and log records made by the real OpenTelemetry SDK, encoded by its own OTLP exporters' encoders."""

from __future__ import annotations

import base64

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

RESOURCE = {
    "service.name": "checkout",
    "k8s.namespace.name": "shop",
    "k8s.pod.name": "checkout-7d9f",
    "k8s.container.name": "app",
    "deployment.environment": "test",
}


def make_spans() -> tuple[list[ReadableSpan], ExportTraceServiceRequest]:
    """A server span with attributes of every type, an event, an error status; a client child linking back."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop.checkout", "2.1.0")
    attrs = {"http.route": "/pay", "http.status_code": 500, "retry": True, "ratio": 0.25, "tags": ["a", "b"]}
    with tracer.start_as_current_span("POST /pay", kind=SpanKind.SERVER, attributes=attrs) as root:
        root.add_event("payment.declined", {"card.brand": "visa", "amount": 12})
        with tracer.start_as_current_span(
            "charge", kind=SpanKind.CLIENT, links=[Link(root.get_span_context(), {"why": "retry"})]
        ) as child:
            child.set_attribute("counts", [1, 2, 3])
        root.set_status(Status(StatusCode.ERROR, "card declined"))
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    return spans, encode_spans(spans)


def make_logs() -> tuple[list[ReadableLogRecord], ExportLogsServiceRequest]:
    """A warning with attributes; an error inside a span (so it carries the trace context); an event with a
    map body and no timestamp (only the observed time the SDK stamps)."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create(RESOURCE))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("shop.checkout", "2.1.0")
    tracer = TracerProvider(resource=Resource.create(RESOURCE)).get_tracer("t")
    logger.emit(
        timestamp=1_700_000_000_000_000_001,
        body="disk almost full",
        severity_number=SeverityNumber.WARN,
        severity_text="WARN",
        attributes={"disk.free_bytes": 1024},
    )
    with tracer.start_as_current_span("work"):
        logger.emit(
            timestamp=1_700_000_000_000_000_002,
            body="payment failed for order o-17",
            severity_number=SeverityNumber.ERROR,
        )
    provider.get_logger("shop.events", "1.0").emit(
        body={"event": "checkout", "items": 3, "total": 9.5}, severity_text="INFO", event_name="checkout.done"
    )
    records = list(exporter.get_finished_logs())
    provider.shutdown()
    return records, encode_logs(records)


def _hex_ids(node: object) -> None:
    if isinstance(node, dict):
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in node:
                node[key] = base64.b64decode(node[key]).hex().upper()
        for v in node.values():
            _hex_ids(v)
    elif isinstance(node, list):
        for v in node:
            _hex_ids(v)


def to_otlp_json(req: Message) -> bytes:
    """The request as OTLP/JSON: proto3 JSON with lowerCamelCase keys, integer enums, hex IDs (upper case,
    which the spec allows), 64-bit integers as strings."""
    doc = json_format.MessageToDict(req, use_integers_for_enums=True)
    _hex_ids(doc)
    return orjson.dumps(doc)
