"""Self metrics of the Prometheus client: what it asked, how it went, and the breaker's state."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from observ.correlate.breaker import BreakerState

log = logging.getLogger("observ.correlate.prometheus")

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class PrometheusClientMetrics:
    """One per process and registry; sync and async clients may share it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "observ_prometheus_requests",
            "Requests to Prometheus by endpoint and outcome: success, refused (a query error), too_large, "
            "unavailable, timeout, bad_answer; circuit_open counts calls refused by the open breaker, unsent.",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "observ_prometheus_request_duration_seconds",
            "Time of one request to Prometheus (each retry is one), answer read included.",
            ["endpoint"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.circuit_state = Gauge(
            "observ_prometheus_circuit_state",
            "1 for the state the circuit breaker in front of Prometheus is in (closed, open, half_open), else 0.",
            ["state"],
            registry=registry,
        )
        self._show(BreakerState.CLOSED)

    def request(self, endpoint: str, outcome: str, seconds: float | None) -> None:
        self.requests.labels(endpoint, outcome).inc()
        if seconds is not None:
            self.request_seconds.labels(endpoint).observe(seconds)

    def state_changed(self, old: BreakerState, new: BreakerState, why: str) -> None:
        """Breaker callback: moves the gauge and logs the transition (rare: at most one per cool-down)."""
        self._show(new)
        if new is BreakerState.OPEN:
            log.warning("prometheus circuit %s -> open: %s", old, why)
        else:
            log.info("prometheus circuit %s -> %s: %s", old, new, why)

    def _show(self, current: BreakerState) -> None:
        for state in BreakerState:
            self.circuit_state.labels(state.value).set(1 if state is current else 0)
