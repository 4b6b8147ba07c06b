"""PromQL for a service's RED metrics and exemplars, built from `RedMetrics` names and quoted values only.

Service names come from stored spans and logs, i.e. from any client: they enter PromQL as quoted string
literals (Go escaping, which PromQL's lexer reads) and, in a regex, with every metacharacter escaped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from observ.correlate.config import RedMetrics
from observ.gocompat.strconv import go_quote

QUANTILES = {"latency_p50_s": 0.5, "latency_p95_s": 0.95, "latency_p99_s": 0.99}


def selector(metric: str, matchers: Sequence[tuple[str, str, str]]) -> str:
    """`metric{name op "value", ...}`."""
    return metric + "{" + ",".join(f"{name}{op}{go_quote(value)}" for name, op, value in matchers) + "}"


def service_matcher(red: RedMetrics, services: Sequence[str]) -> tuple[str, str, str]:
    """`service="a"` for one service, `service=~"a|b\\.c"` for several."""
    if not services:
        raise ValueError("no service to ask Prometheus about")
    if len(services) == 1:
        return (red.service_label, "=", services[0])
    return (red.service_label, "=~", "|".join(re.escape(s) for s in services))


def red_queries(red: RedMetrics, services: Sequence[str]) -> dict[str, str]:
    """Instant queries by answer field; each answers one sample per service (`by (<service_label>)`)."""
    svc = service_matcher(red, services)
    by = f"sum by ({red.service_label})"
    window = f"[{red.range_s}s]"
    requests = f"{by} (rate({selector(red.requests, [svc])}{window}))"
    errors = f"{by} (rate({selector(red.requests, [svc, (red.code_label, '=~', red.error_codes)])}{window}))"
    buckets = f"sum by ({red.service_label}, le) (rate({selector(red.duration_buckets, [svc])}{window}))"
    queries = {
        "request_rate": requests,
        # `or ... * 0`: a service without a single error has ratio 0, not no answer.
        "error_ratio": f"({errors} or {requests} * 0) / {requests}",
    }
    queries.update({name: f"histogram_quantile({q}, {buckets})" for name, q in QUANTILES.items()})
    return queries


def exemplar_selectors(red: RedMetrics, service: str) -> tuple[str, str]:
    """(error requests, request durations) of one service, for `query_exemplars`."""
    svc = service_matcher(red, [service])
    return (
        selector(red.requests, [svc, (red.code_label, "=~", red.error_codes)]),
        selector(red.duration_buckets, [svc]),
    )
