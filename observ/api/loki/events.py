"""Self metrics of the query service and the events that move them (`<namespace>_<name>_<unit>_total`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from observ.throttle import LogThrottle

log = logging.getLogger("observ.api")

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self._throttle = LogThrottle()
        self.request_seconds = Histogram(
            "observ_api_request_duration_seconds",
            "Time to answer an HTTP request, by route and status (Loki's loki_request_duration_seconds).",
            ["method", "route", "status_code"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.pushed_lines = Counter(
            "observ_push_received_lines", "Lines stored through the push API.", ["tenant"], registry=r
        )
        self.pushed_bytes = Counter(
            "observ_push_received_bytes", "Line bytes stored through the push API.", ["tenant"], registry=r
        )
        self.discarded = Counter(
            "observ_push_discarded_lines", "Pushed lines refused, by Loki's discard reason.", ["reason"], registry=r
        )
        self.rejected_requests = Counter(
            "observ_push_rejected_requests",
            "Push requests refused whole (unreadable body, too large).",
            ["reason"],
            registry=r,
        )
        self.dropped_metadata = Counter(
            "observ_push_dropped_metadata",
            "Structured metadata pairs other than trace_id/span_id, not stored.",
            registry=r,
        )
        self.internal_errors = Counter(
            "observ_api_internal_errors",
            "Requests that failed with an unexpected error (HTTP 500).",
            ["route"],
            registry=r,
        )
        self.tail_connections = Gauge("observ_api_tail_connections", "Open live-tail websockets.", registry=r)
        self.tail_entries = Counter("observ_api_tail_sent_entries", "Entries sent to live-tail clients.", registry=r)

    def throttled(self, kind: str, where: str) -> bool:
        """True when (kind, where) was logged in the last 10 s; counters always move."""
        return self._throttle.suppressed((kind, where))


@dataclass(frozen=True, slots=True)
class PushRefused:
    """Entries of a push were refused (bad body, or validation); the client got a 400 saying why."""

    reason: str
    tenant: str
    detail: str

    def emit(self, m: ApiMetrics, n: int) -> None:
        if not m.throttled("push", self.reason):
            log.warning("push for tenant %s: refused %d entr%s (%s): %s", self.tenant, n, "y" if n == 1 else "ies",
                        self.reason, self.detail[:500])  # fmt: skip
        m.discarded.labels(self.reason).inc(n)


@dataclass(frozen=True, slots=True)
class PushRejected:
    """A push body could not be read at all: nothing of it was stored (Loki rejects the whole request)."""

    reason: str
    tenant: str
    detail: str

    def emit(self, m: ApiMetrics) -> None:
        if not m.throttled("push-request", self.reason):
            log.warning("push for tenant %s rejected (%s): %s", self.tenant, self.reason, self.detail[:500])
        m.rejected_requests.labels(self.reason).inc()


@dataclass(frozen=True, slots=True)
class PushStored:
    tenant: str
    lines: int
    nbytes: int
    dropped_metadata: int

    def emit(self, m: ApiMetrics) -> None:
        m.pushed_lines.labels(self.tenant).inc(self.lines)
        m.pushed_bytes.labels(self.tenant).inc(self.nbytes)
        if self.dropped_metadata:
            m.dropped_metadata.inc(self.dropped_metadata)


@dataclass(frozen=True, slots=True)
class InternalError:
    """A bug or an environment failure, never the user's input: logged with its traceback."""

    route: str
    error: BaseException

    def emit(self, m: ApiMetrics) -> None:
        log.error("internal error on %s: %r", self.route, self.error, exc_info=self.error)
        m.internal_errors.labels(self.route).inc()
