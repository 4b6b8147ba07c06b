"""Self metrics of the OTLP receivers and the events that move them (`<namespace>_<name>_<unit>_total`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter

from observ.throttle import LogThrottle

log = logging.getLogger("observ.api.otlp")

Transport = Literal["http", "grpc"]
Signal = Literal["log records", "spans"]


@dataclass(frozen=True, slots=True)
class SignalCounters:
    stored: Counter
    duplicates: Counter
    rejected: Counter


def _counters(registry: CollectorRegistry, what: str, name: str, identical: str) -> SignalCounters:
    """`observ_otlp_received_<name>`, `_duplicate_<name>`, `_rejected_<name>` of one signal."""
    return SignalCounters(
        Counter(
            f"observ_otlp_received_{name}",
            f"OTLP {what} stored (a retried one identical to a stored one is not counted again).",
            ["tenant", "transport"],
            registry=registry,
        ),
        Counter(
            f"observ_otlp_duplicate_{name}",
            f"OTLP {what} identical to stored ones ({identical}: a client's retries), not stored.",
            ["transport"],
            registry=registry,
        ),
        Counter(
            f"observ_otlp_rejected_{name}",
            f"OTLP {what} refused one by one (reported in partial_success).",
            ["transport"],
            registry=registry,
        ),
    )


class OtlpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self._throttle = LogThrottle()
        self.signals: dict[Signal, SignalCounters] = {
            "log records": _counters(r, "log records", "log_records", "same stream, time and line"),
            "spans": _counters(r, "spans", "spans", "same trace, span ID and kind"),
        }
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
class Stored:
    """One accepted request of either signal: what it stored, skipped as a retry, and rejected one by one."""

    signal: Signal
    transport: Transport
    tenant: str
    stored: int
    duplicates: int
    rejected: int
    error_message: str
    dropped_metadata: int = 0
    """Log records' metadata pairs the logs store cannot keep yet; spans keep theirs."""

    def emit(self, m: OtlpMetrics) -> None:
        c = m.signals[self.signal]
        c.stored.labels(self.tenant, self.transport).inc(self.stored)
        if self.duplicates:
            c.duplicates.labels(self.transport).inc(self.duplicates)
        if self.dropped_metadata:
            m.dropped_metadata.inc(self.dropped_metadata)
        if self.rejected:
            c.rejected.labels(self.transport).inc(self.rejected)
            if not m.throttled(f"otlp-partial-{self.signal}", self.transport):
                log.warning("OTLP %s for tenant %s: %s", self.signal, self.tenant, self.error_message[:500])


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

    signal: Signal
    transport: Transport
    error: BaseException

    def emit(self, m: OtlpMetrics) -> None:
        log.error("internal error in the OTLP %s %s receiver: %r", self.transport, self.signal, self.error,
                  exc_info=self.error)  # fmt: skip
        m.rejected_requests.labels(self.transport, "internal").inc()
