"""Settings of the correlation API: which metrics hold each service's RED signals, and how much one answer holds.

The metric defaults are the names `alerts/services.yaml` and the generated dashboards query; change them here
for services instrumented differently (e.g. `http_server_requests_seconds_count`, a `service_name` label).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
HOUR_S = 3600


class RedMetrics(BaseModel):
    """Where Prometheus keeps request rate, errors and duration per service (the RED method)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: str = Field("http_requests_total", description="Counter of requests, labelled by service and code.")
    duration_buckets: str = Field(
        "http_request_duration_seconds_bucket", description="Histogram buckets (`le`) of request durations, seconds."
    )
    service_label: str = Field("service", description="The label naming the service, as in the logs' streams.")
    code_label: str = Field("code", description="The label holding the response status.")
    error_codes: str = Field("5..", min_length=1, description="RE2 regex of the `code` values that are errors.")
    range_s: int = Field(300, ge=1, le=86_400, description="Rates and quantiles are over this many seconds.")
    exemplar_label: str = Field(
        "trace_id", description="Exemplar label holding the trace ID (Grafana's exemplarTraceIdDestinations name)."
    )

    @field_validator("requests", "duration_buckets")
    @classmethod
    def _metric_name(cls, v: str) -> str:
        if not _METRIC.fullmatch(v):
            raise ValueError(f"{v!r} is not a Prometheus metric name")
        return v

    @field_validator("service_label", "code_label", "exemplar_label")
    @classmethod
    def _label_name(cls, v: str) -> str:
        if not _LABEL.fullmatch(v):
            raise ValueError(f"{v!r} is not a Prometheus label name")
        return v

    @field_validator("error_codes")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"error_codes {v!r} is not a regex: {e}") from None
        return v


class CorrelateLimits(BaseModel):
    """What one correlation answer holds at most; the defaults answer within a second on a laptop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_spans: int = Field(10_000, ge=1, description="Spans of one trace in an answer (the rest are cut off).")
    max_lines: int = Field(1_000, ge=1, le=100_000, description="Log lines carrying the trace ID in an answer.")
    max_time_lines: int = Field(
        100, ge=0, le=10_000, description="Lines matched by time per service whose lines carry no trace ID."
    )
    max_services: int = Field(20, ge=1, le=200, description="Services of a trace whose metrics are fetched.")
    log_margin_s: float = Field(
        2.0, ge=0, le=600, description="Logs are read this much before and after the trace (Grafana's time shift)."
    )
    trace_lookback_s: int = Field(
        24 * HOUR_S, ge=1, description="Where to look for the logs of a trace no span of which is stored."
    )
    default_window_s: int = Field(HOUR_S, ge=1, description="A service's window when `start` is not given.")
    max_window_s: int = Field(24 * HOUR_S, ge=1, description="Longest service window (end - start).")
    top_messages: int = Field(10, ge=1, le=100, description="Error message templates listed per service.")
    error_lines_scanned: int = Field(
        5_000, ge=1, le=100_000, description="Newest error lines grouped into templates per request."
    )
    max_traces: int = Field(10, ge=1, le=100, description="Slowest and failing traces listed per service.")
    max_exemplars: int = Field(20, ge=1, le=1000, description="Exemplar trace IDs listed per service.")


class CorrelateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    red: RedMetrics = RedMetrics()
    limits: CorrelateLimits = CorrelateLimits()
