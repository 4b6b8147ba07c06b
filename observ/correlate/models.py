"""The correlation API's answers. Nanosecond times are strings in JSON, as Loki and Tempo write them (a JSON
number loses precision past 2^53); durations are float milliseconds."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.config import JsonDict

from observ.correlate.missing import Missing

Nanos = Annotated[int, PlainSerializer(str, return_type=str, when_used="json")]
"""Unix nanoseconds; a decimal string in JSON."""

UNREACHABLE = "prometheus unreachable at http://127.0.0.1:9090: connection refused (circuit open, retry in 12 s)"
SpanKind = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
SpanStatus = Literal["unset", "ok", "error"]


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class SpanNode(_Answer):
    """One span, in depth-first order of the tree: a parent comes before its children, siblings by start time."""

    span_id: str = Field(examples=["00f067aa0ba902b7"])
    parent_span_id: str = Field(description='The parent\'s ID; "" for a root.', examples=[""])
    children: list[str] = Field(description="IDs of the stored children, by start time.")
    depth: int = Field(description="0 for a root; a span whose parent is not stored is a root too.")
    orphan: bool = Field(False, description="The span names a parent that is not stored (yet).")
    service: str = Field(examples=["checkout"])
    name: str = Field(examples=["POST /api/orders"])
    kind: SpanKind
    status: SpanStatus
    status_message: str = ""
    start_ns: Nanos
    end_ns: Nanos
    duration_ms: float
    attributes: dict[str, Any] = Field(default_factory=dict, description="Span attributes (OTLP JSON values).")


class LogLine(_Answer):
    """A log line of the trace: carrying its ID (`match: trace_id`), or found by time (`match: time`): a line
    without any trace ID, of a service whose lines carry none, written during one of its spans."""

    ts: Nanos
    service: str
    level: str = Field(description='Normalised level (trace, debug, info, warn, error, fatal) or "".')
    labels: dict[str, str] = Field(description="Stream labels, for a Loki query of the same stream.")
    trace_id: str
    span_id: str = Field(description="The line's span ID, or for a line matched by time the span it fell in.")
    line: str
    match: Literal["trace_id", "time"]


class ServiceMetrics(_Answer):
    """A service's RED metrics from Prometheus over `range_s` up to `at`; None where Prometheus has no series
    (or, for quantiles, no request in the window)."""

    service: str
    request_rate: float | None = Field(description="Requests per second.")
    error_ratio: float | None = Field(description="Share of requests whose code is an error, 0 to 1.")
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    latency_p99_s: float | None = None


class Metrics(_Answer):
    at: float = Field(
        description="Unix seconds the metrics were evaluated at: the trace's end + range_s / 2, or now if earlier."
    )
    range_s: int = Field(description="Window of the rates and quantiles.")
    services: list[ServiceMetrics]


TRACE_EXAMPLE: JsonDict = {
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "start_ns": "1764711000000000000",
    "end_ns": "1764711000120000000",
    "duration_ms": 120.0,
    "services": ["checkout", "payments"],
    "span_count": 2,
    "spans": [
        {"span_id": "00f067aa0ba902b7", "parent_span_id": "", "children": ["b7ad6b7169203331"], "depth": 0,
         "orphan": False, "service": "checkout", "name": "POST /api/orders", "kind": "server", "status": "unset",
         "status_message": "", "start_ns": "1764711000000000000", "end_ns": "1764711000120000000",
         "duration_ms": 120.0, "attributes": {"http.route": "/api/orders"}},
        {"span_id": "b7ad6b7169203331", "parent_span_id": "00f067aa0ba902b7", "children": [], "depth": 1,
         "orphan": False, "service": "payments", "name": "charge", "kind": "client", "status": "error",
         "status_message": "card declined", "start_ns": "1764711000010000000", "end_ns": "1764711000100000000",
         "duration_ms": 90.0, "attributes": {}},
    ],
    "logs": [
        {"ts": "1764711000090000000", "service": "payments", "level": "error",
         "labels": {"service": "payments", "level": "error", "pod": "payments-0"},
         "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "b7ad6b7169203331",
         "line": '{"msg":"card declined by issuer 17"}', "match": "trace_id"},
    ],
    "logs_truncated": False,
    "metrics": {"at": 1764711150.12, "range_s": 300, "services": [
        {"service": "checkout", "request_rate": 4.2, "error_ratio": 0.01, "latency_p50_s": 0.08,
         "latency_p95_s": 0.21, "latency_p99_s": 0.4},
        {"service": "payments", "request_rate": 3.9, "error_ratio": 0.12, "latency_p50_s": 0.05,
         "latency_p95_s": 0.3, "latency_p99_s": 0.9},
    ]},
    "missing": [],
}  # fmt: skip


class TraceCorrelation(_Answer):
    """A trace with its spans, its log lines and the RED metrics of its services. Parts that could not be had
    are listed in `missing` with the reason; the rest is still answered."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [TRACE_EXAMPLE]})

    trace_id: str = Field(examples=["4bf92f3577b34da6a3ce929d0e0e4736"])
    start_ns: Nanos | None = Field(description="Earliest span start; None when no span is stored.")
    end_ns: Nanos | None
    duration_ms: float | None
    services: list[str] = Field(description="Services of the spans, then of the lines, each once.")
    span_count: int = Field(description="Spans stored for the trace (the answer lists at most `max_spans`).")
    spans: list[SpanNode]
    logs: list[LogLine] = Field(description="Oldest first.")
    logs_truncated: bool = Field(False, description="More lines carry the trace ID than `max_lines`.")
    metrics: Metrics | None = Field(None, description="None when Prometheus is off or failed (see `missing`).")
    missing: list[Missing] = Field(
        default_factory=list,
        examples=[
            [{"part": "metrics", "reason": "prometheus unreachable at http://127.0.0.1:9090: connection refused"}]
        ],
    )


class MessageTemplate(_Answer):
    """Error lines grouped by their message with numbers, IDs and hex masked (`<*>`)."""

    template: str = Field(examples=["payment declined for order <*> after <*>ms"])
    count: int
    example: str = Field(description="The newest line of the group, as written.")
    last_ns: Nanos
    trace_ids: list[str] = Field(description="Trace IDs of lines of the group (up to 5).")


class ExemplarTrace(_Answer):
    trace_id: str
    reason: Literal["error", "slow"] = Field(description="From an error series, or among the slowest observations.")
    value: float = Field(description="The exemplar's value: the observed duration (s) for a histogram bucket.")
    timestamp: float = Field(description="Unix seconds.")
    series: dict[str, str] = Field(description="Labels of the series that carried it.")


class TraceRef(_Answer):
    """A trace through its longest span of the service."""

    trace_id: str
    span_id: str
    name: str
    start_ns: Nanos
    duration_ms: float
    error: bool = Field(description="Some span of the service in this trace has status error.")


SERVICE_EXAMPLE: JsonDict = {
    "service": "payments",
    "start_ns": "1764707400000000000",
    "end_ns": "1764711000000000000",
    "levels": {"info": 8120, "warn": 31, "error": 9},
    "metrics": {"at": 1764711000.0, "range_s": 300, "services": [
        {"service": "payments", "request_rate": 3.9, "error_ratio": 0.12, "latency_p50_s": 0.05,
         "latency_p95_s": 0.3, "latency_p99_s": 0.9},
    ]},
    "top_errors": [{"template": "card declined by issuer <*>", "count": 7,
                    "example": '{"msg":"card declined by issuer 17"}', "last_ns": "1764711000090000000",
                    "trace_ids": ["4bf92f3577b34da6a3ce929d0e0e4736"]}],
    "errors_scanned": 9,
    "exemplars": [{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "reason": "error", "value": 1.0,
                   "timestamp": 1764711000.1, "series": {"service": "payments", "route": "/pay", "code": "500"}}],
    "slowest_traces": [{"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "53995c3f42cd8ad8",
                        "name": "refund", "start_ns": "1764709000000000000", "duration_ms": 2100.0, "error": False}],
    "failing_traces": [{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "b7ad6b7169203331",
                        "name": "charge", "start_ns": "1764711000010000000", "duration_ms": 90.0, "error": True}],
    "missing": [],
}  # fmt: skip


class ServiceCorrelation(_Answer):
    """A service in a window: its logs by level, top error messages, exemplar and slowest/failing traces."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [SERVICE_EXAMPLE]})

    service: str = Field(examples=["checkout"])
    start_ns: Nanos
    end_ns: Nanos
    levels: dict[str, int] = Field(
        description='Log lines by level in the window; "" for lines without one.', examples=[{"info": 812, "error": 9}]
    )
    metrics: Metrics | None = Field(
        None, description="RED metrics over `range_s` up to the window's end; None when Prometheus is off or failed."
    )
    top_errors: list[MessageTemplate] = Field(description="Most frequent error/fatal message templates.")
    errors_scanned: int = Field(description="Error lines grouped (the newest, at most `error_lines_scanned`).")
    exemplars: list[ExemplarTrace] = Field(description="Trace IDs Prometheus exemplars point at: errors, then slowest.")
    slowest_traces: list[TraceRef]
    failing_traces: list[TraceRef] = Field(description="Newest traces with an error span of the service.")
    missing: list[Missing] = Field(default_factory=list)
