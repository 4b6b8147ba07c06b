"""What Prometheus says about services: their RED metrics at an instant, and exemplar trace IDs in a window.

Each function returns its answer or a `Missing` saying why there is none (the first failed query's reason).
The queries of one answer run side by side on `pool`, so a slow Prometheus costs one call's time, not five;
when it is down, the breaker opens on their failures and later answers are refused without network I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Literal

from observ.correlate.config import RedMetrics
from observ.correlate.missing import Missing
from observ.correlate.models import ExemplarTrace, Metrics, ServiceMetrics
from observ.correlate.prometheus import ExemplarSeries, PrometheusClient, VectorResult, or_missing
from observ.correlate.promql import exemplar_selectors, red_queries
from observ.traces.query import trace_id as parse_trace_id


def red_metrics(
    prom: PrometheusClient, red: RedMetrics, services: Sequence[str], at: float, pool: Executor
) -> Metrics | Missing:
    """Each service's request rate, error ratio and latency quantiles over `red.range_s` up to `at`."""
    queries = red_queries(red, services)
    answers = pool.map(lambda expr: or_missing(lambda: prom.query(expr, at=at)), queries.values())
    values: dict[str, dict[str, float]] = {s: {} for s in services}
    for (name, expr), answer in zip(queries.items(), list(answers), strict=True):
        if isinstance(answer, Missing):
            return answer
        if not isinstance(answer.data, VectorResult):
            return Missing(part="metrics", reason=f"prometheus answered a {answer.data.result_type} to {expr}")
        for sample in answer.data.result:
            service = sample.metric.get(red.service_label, "")
            if service in values and sample.value is not None and math.isfinite(sample.value.value):
                values[service][name] = sample.value.value
    rows = [ServiceMetrics.model_validate({"service": s, "request_rate": None, "error_ratio": None, **values[s]})
            for s in services]  # fmt: skip
    return Metrics(at=at, range_s=red.range_s, services=rows)


def exemplar_traces(
    prom: PrometheusClient, red: RedMetrics, service: str, start_s: float, end_s: float, limit: int, pool: Executor
) -> list[ExemplarTrace] | Missing:
    """Trace IDs of the service's exemplars in [start_s, end_s]: errors (newest first), then the slowest
    observations; each trace once, at most `limit`. Exemplars without a valid trace ID are skipped."""
    errors = re.compile(red.error_codes)
    found: list[ExemplarTrace] = []

    def ask(expr: str) -> list[ExemplarSeries] | Missing:
        got = or_missing(lambda: prom.query_exemplars(expr, start_s, end_s), part="exemplars")
        return got if isinstance(got, Missing) else got.data

    for answer in list(pool.map(ask, exemplar_selectors(red, service))):
        if isinstance(answer, Missing):
            return answer
        for series in answer:
            failed = errors.fullmatch(series.series_labels.get(red.code_label, "")) is not None
            for e in series.exemplars:
                try:
                    tid = parse_trace_id(e.trace_id(red.exemplar_label) or "")
                except ValueError:
                    continue
                reason: Literal["error", "slow"] = "error" if failed else "slow"
                found.append(ExemplarTrace(trace_id=tid, reason=reason, value=e.value, timestamp=e.timestamp,
                                           series=series.series_labels))  # fmt: skip
    found.sort(key=lambda x: (x.reason != "error", -x.timestamp if x.reason == "error" else -x.value))
    seen: set[str] = set()
    out = []
    for x in found:
        if x.trace_id not in seen:
            seen.add(x.trace_id)
            out.append(x)
    return out[:limit]
