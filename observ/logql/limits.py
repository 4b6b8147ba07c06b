"""Per-query limits, with Loki's defaults so a laptop behaves like a stock Loki."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from observ.gocompat.durations import format_duration, go_duration_string
from observ.logql.errors import LimitError, LogQLError

HOUR_NS = 3600 * 10**9
MAX_POINTS = 11_000
"""Points per series a range query may ask for (Loki's and Prometheus' fixed limit)."""
TOO_MANY_POINTS = (
    "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter"
)
"""Loki's wording (pkg/loghttp errStepTooSmall); Prometheus says it differently."""


class QueryLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_entries: int = Field(5000, ge=1, description="max_entries_limit_per_query: largest `limit` accepted.")
    max_series: int = Field(500, ge=1, description="max_query_series: series a metric query may return.")
    max_query_length_ns: int = Field(721 * HOUR_NS, ge=1, description="max_query_length: end - start.")
    max_query_range_ns: int = Field(
        721 * HOUR_NS, ge=1, description="max_query_range: longest `[range]` of a range aggregation (Loki: unlimited)."
    )
    max_response_bytes: int = Field(
        100 * 2**20, ge=1, description="Lines and labels a log query may return (Loki: the 100 MB gRPC message cap)."
    )
    query_timeout_s: float = Field(60.0, gt=0, description="Wall-clock budget of one query.")
    max_concurrent: int = Field(
        4, ge=1, description="querier.max-concurrent: queries (query, query_range) evaluated at once; the rest wait. "
        "Lower it to keep ingestion's share of the process under query load (docs/loki-api.md, Limits).",
    )  # fmt: skip
    max_lines_scanned_python: int = Field(
        20_000_000, ge=1, description="Rows a query may pull into the Python pipeline before it is refused."
    )

    def check_range(self, start_ns: int, end_ns: int) -> None:
        """Loki's checks of a query's time range (its limits middleware, before any query or index lookup)."""
        if end_ns < start_ns:
            raise LogQLError("end timestamp must not be before or equal to start time")
        if end_ns - start_ns > self.max_query_length_ns:
            raise LimitError(
                f"the query time range exceeds the limit (query length: {go_duration_string(end_ns - start_ns)}, "
                f"limit: {format_duration(self.max_query_length_ns)})"
            )
