"""What Prometheus says about services: their RED metrics at an instant, and exemplar trace IDs in a window.

Each function returns its answer or a `Missing` saying why there is none. The first failed call ends the
part: when Prometheus is down, asking the next four queries would only wait four more times (or, once the
breaker is open, repeat the same reason).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from observ.correlate.config import RedMetrics
from observ.correlate.missing import Missing
from observ.correlate.models import ExemplarTrace, Metrics, ServiceMetrics
from observ.correlate.prometheus import PrometheusClient, VectorResult, or_missing
from observ.correlate.promql import exemplar_selectors, red_queries
from observ.traces.query import trace_id as parse_trace_id


def red_metrics(prom: PrometheusClient, red: RedMetrics, services: Sequence[str], at: float) -> Metrics | Missing:
    """Each service's request rate, error ratio and latency quantiles over `red.range_s` up to `at`."""
    values: dict[str, dict[str, float]] = {s: {} for s in services}
    for name, expr in red_queries(red, services).items():
        answer = or_missing(lambda expr=expr: prom.query(expr, at=at))  # type: ignore[misc]
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
    prom: PrometheusClient, red: RedMetrics, service: str, start_s: float, end_s: float, limit: int
) -> list[ExemplarTrace] | Missing:
    """Trace IDs of the service's exemplars in [start_s, end_s]: errors (newest first), then the slowest
    observations; each trace once, at most `limit`. Exemplars without a valid trace ID are skipped."""
    errors = re.compile(red.error_codes)
    found: list[ExemplarTrace] = []
    for expr in exemplar_selectors(red, service):
        answer = or_missing(lambda expr=expr: prom.query_exemplars(expr, start_s, end_s), part="exemplars")  # type: ignore[misc]
        if isinstance(answer, Missing):
            return answer
        for series in answer.data:
            failed = errors.fullmatch(series.series_labels.get(red.code_label, "")) is not None
            for e in series.exemplars:
                try:
                    tid = parse_trace_id(e.trace_id(red.exemplar_label) or "")
                except ValueError:
                    continue
                reason = "error" if failed else "slow"
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
