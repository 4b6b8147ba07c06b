"""One OTLP export request, whichever transport brought it: decode, ship to Kafka, answer as OTLP says.

The decoding is the query service's (`observ.otlp`): a body that cannot be read is refused whole (400, 413,
415), a span or log record that cannot be kept is counted in partial_success while the others ship. The
answer is 200 only once Kafka acknowledged every record (see shipper.py); otherwise 503 / UNAVAILABLE with
a retry delay, so the OpenTelemetry exporter retries. The tenant is the request's `X-Scope-OrgID` when it
has one (checked as the Loki API checks it), else the adapter's `tenant`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

from collectors.log_adapter.sources.otlp.config import OtlpSourceConfig
from collectors.log_adapter.sources.otlp.events import (
    Accepted,
    AmbassadorMetrics,
    InternalError,
    Refused,
    Signal,
    Transport,
)
from collectors.log_adapter.sources.otlp.records import log_records, span_records
from collectors.log_adapter.sources.otlp.shipper import Shipper
from observ.api.auth import AuthError, validate_tenant
from observ.otlp.body import decoded_body
from observ.otlp.decode import body_format, decode_logs, decode_traces
from observ.otlp.errors import OtlpError, Unavailable
from observ.otlp.refusal import Refusal, refusal_for
from observ.otlp.response import logs_response, traces_response

GRPC_SERVICES: dict[Signal, str] = {
    "spans": "opentelemetry.proto.collector.trace.v1.TraceService",
    "log_records": "opentelemetry.proto.collector.logs.v1.LogsService",
}


class Ambassador:
    def __init__(
        self,
        config: OtlpSourceConfig,
        shipper: Shipper,
        metrics: AmbassadorMetrics,
        *,
        tenant: str,
        logs_topic: str,
        record_max_items: int,
        record_max_bytes: int,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.shipper = shipper
        self.metrics = metrics
        self.default_tenant = tenant
        self.logs_topic = logs_topic
        self.record_max_items = record_max_items
        self.record_max_bytes = record_max_bytes
        self.now_ns = now_ns

    def tenant(self, asked: str) -> str:
        asked = asked.strip()
        if not asked:
            return self.default_tenant
        try:
            return validate_tenant(asked)
        except AuthError as e:
            raise OtlpError(f"X-Scope-OrgID: {e}") from None

    def export(
        self, signal: Signal, data: bytes, content_type: str, content_encoding: str, tenant: str, transport: Transport
    ) -> bytes:
        """A request body as sent -> the Export*ServiceResponse body once Kafka holds its records."""
        fmt = body_format(content_type)
        raw = decoded_body(data, content_encoding, self.config.max_body_bytes)
        tenant = self.tenant(tenant)
        limits = self.config.limits
        metadata = 0
        if signal == "spans":
            spans = decode_traces(raw, content_type, tenant, limits)
            decoded, rejected, message = len(spans.spans), spans.rejected, spans.error_message
            records = span_records(spans.spans, self.config.spans_topic, self.record_max_items, self.record_max_bytes)
        else:
            now = self.now_ns()
            logs = decode_logs(raw, content_type, tenant, now, limits)
            decoded, rejected, message = len(logs.records), logs.rejected, logs.error_message
            records = log_records(logs.records, self.logs_topic, now, self.record_max_items, self.record_max_bytes)
            metadata = sum(r.dropped for r in logs.records)
        try:
            delivery = self.shipper.ship(records, signal)
        except Unavailable:
            self.metrics.rejected.labels(signal, "unavailable").inc(decoded)
            raise
        message = "; ".join(m for m in (message, *delivery.errors) if m)
        Accepted(signal, transport, decoded, rejected, delivery.rejected, message, metadata).emit(self.metrics)
        rejected += delivery.rejected
        if signal == "spans":
            return traces_response(rejected, message, fmt)
        return logs_response(rejected, message, fmt)

    def refusal(self, error: Exception, transport: Transport) -> Refusal:
        """The refusal an exception of `export` means, counted and logged."""
        refusal = refusal_for(error, self.config.retry_after_s)
        if refusal is None:
            InternalError(transport, error).emit(self.metrics)
            return Refusal("internal", 500, grpc.StatusCode.INTERNAL, "internal error")
        Refused(transport, refusal.reason, refusal.message).emit(self.metrics)
        return refusal
