"""What one demo service reports, the way an instrumented app does: spans (OpenTelemetry SDK), RED metrics with
`trace_id` exemplars (prometheus-client), and JSON log lines carrying the current span's trace and span IDs.

Metric names and labels are the ones `alerts/services.yaml` and the generated dashboards query; the `service`
label comes from the scrape target, as Kubernetes relabelling puts a pod's app label on its series.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import orjson
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import format_span_id, format_trace_id
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder

from collectors.demo.podlog import PodLog

BUCKETS = (0.05, 0.1, 0.3, 0.5, 1.0, 2.5, 5.0)
"""The `le` bounds the latency SLIs of alerts/services.yaml name: a threshold must be one of them."""


class Telemetry:
    """Spans go to `processor` (a BatchSpanProcessor over OTLP/HTTP in the demo, an in-memory one in tests)."""

    def __init__(
        self,
        service: str,
        log: PodLog,
        processor: SpanProcessor | None,
        *,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.service = service
        self._log = log
        self._now = now
        resource = Resource.create({"service.name": service, "service.namespace": "demo", "k8s.namespace.name": "demo"})
        self.provider = TracerProvider(resource=resource)
        if processor is not None:
            self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("collectors.demo")
        self.registry = CollectorRegistry()
        labels = ["route", "method", "code"]
        self.requests = Counter("http_requests", "HTTP requests answered.", labels, registry=self.registry)
        self.duration = Histogram(
            "http_request_duration_seconds", "Time to answer.", labels, buckets=BUCKETS, registry=self.registry
        )

    def observe(self, method: str, route: str, code: int, seconds: float) -> None:
        """Count one answered request; its trace ID rides along as an exemplar (OpenMetrics exposition only)."""
        exemplar = {"trace_id": format_trace_id(trace.get_current_span().get_span_context().trace_id)}
        self.requests.labels(route, method, str(code)).inc(exemplar=exemplar)
        self.duration.labels(route, method, str(code)).observe(seconds, exemplar=exemplar)

    def log(self, level: str, msg: str, stream: str = "stdout", **fields: object) -> None:
        """One JSON line with the current span's IDs, as OpenTelemetry's logging instrumentation adds them."""
        now = self._now()
        ctx = trace.get_current_span().get_span_context()
        record: dict[str, object] = {"ts": now.isoformat(), "level": level, "service": self.service, "msg": msg}
        record.update(fields)
        if ctx.is_valid:
            record["trace_id"] = format_trace_id(ctx.trace_id)
            record["span_id"] = format_span_id(ctx.span_id)
        self._log.write(stream, orjson.dumps(record).decode(), now)

    def plain(self, stream: str, text: str) -> None:
        """Unstructured text (a traceback) whose first line ends with `trace_id=<id>`, as logfmt-ish loggers write."""
        first, sep, rest = text.partition("\n")
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            first += f" trace_id={format_trace_id(ctx.trace_id)}"
        self._log.write(stream, first + sep + rest, self._now())

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The /metrics body in the format `accept` asks for: OpenMetrics (with exemplars) for Prometheus."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def shutdown(self) -> None:
        """Flush and stop the span processor."""
        self.provider.shutdown()
