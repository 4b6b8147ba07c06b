"""Self metrics of the OTLP receivers and the events that move them (`<namespace>_<name>_<unit>_total`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter

from observ.throttle import LogThrottle

log = logging.getLogger("observ.api.otlp")

Transport = Literal["http", "grpc"]


class OtlpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self._throttle = LogThrottle()
        self.stored = Counter(
            "observ_otlp_received_log_records",
            "OTLP log records stored (a retried record identical to a stored one is not counted again).",
            ["tenant", "transport"],
            registry=r,
        )
        self.duplicates = Counter(
            "observ_otlp_duplicate_log_records",
            "OTLP log records identical to stored ones (same stream, time and line: a client's retries), not stored.",
            ["transport"],
            registry=r,
        )
        self.rejected_records = Counter(
            "observ_otlp_rejected_log_records",
            "OTLP log records refused one by one (reported in partial_success).",
            ["transport"],
            registry=r,
        )
        self.rejected_requests = Counter(
            "observ_otlp_rejected_requests",
            "OTLP requests refused whole, by reason (invalid, too_large, unsupported_media_type, unauthorized, "
            "store_unavailable, internal).",
            ["transport", "reason"],
            registry=r,
        )
        self.dropped_metadata = Counter(
            "observ_otlp_dropped_metadata",
            "Metadata pairs of accepted OTLP log records (attributes, scope, ...): the store keeps none yet.",
            registry=r,
        )

    def throttled(self, kind: str, where: str) -> bool:
        """True when (kind, where) was logged in the last 10 s; counters always move."""
        return self._throttle.suppressed((kind, where))


@dataclass(frozen=True, slots=True)
class LogsStored:
    transport: Transport
    tenant: str
    records: int
    duplicates: int
    rejected: int
    dropped_metadata: int
    error_message: str

    def emit(self, m: OtlpMetrics) -> None:
        m.stored.labels(self.tenant, self.transport).inc(self.records)
        if self.duplicates:
            m.duplicates.labels(self.transport).inc(self.duplicates)
        if self.dropped_metadata:
            m.dropped_metadata.inc(self.dropped_metadata)
        if self.rejected:
            m.rejected_records.labels(self.transport).inc(self.rejected)
            if not m.throttled("otlp-partial", self.transport):
                log.warning("OTLP logs for tenant %s: %s", self.tenant, self.error_message[:500])


@dataclass(frozen=True, slots=True)
class RequestRefused:
    """Nothing of the request was stored; the client got the reason (and, for store_unavailable, a retry hint)."""

    transport: Transport
    reason: str
    tenant: str
    detail: str

    def emit(self, m: OtlpMetrics) -> None:
        if not m.throttled("otlp-request", self.reason):
            log.warning("OTLP %s request for tenant %s refused (%s): %s", self.transport, self.tenant or "?",
                        self.reason, self.detail[:500])  # fmt: skip
        m.rejected_requests.labels(self.transport, self.reason).inc()


@dataclass(frozen=True, slots=True)
class InternalError:
    """A bug or an environment failure, never the client's input: logged with its traceback."""

    transport: Transport
    error: BaseException

    def emit(self, m: OtlpMetrics) -> None:
        log.error("internal error in the OTLP %s logs receiver: %r", self.transport, self.error, exc_info=self.error)
        m.rejected_requests.labels(self.transport, "internal").inc()
