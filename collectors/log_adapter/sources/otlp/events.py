"""Self metrics of the OTLP ambassador and the events that move them (`<namespace>_<name>_<unit>_total`).

`signal` is `spans` or `log_records`; `transport` is `http` or `grpc`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

from observ.throttle import LogThrottle

log = logging.getLogger("observ.log_adapter.otlp")

Signal = Literal["spans", "log_records"]
Transport = Literal["http", "grpc"]


class AmbassadorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self._throttle = LogThrottle()
        self.received = Counter(
            "observ_adapter_otlp_received",
            "OTLP spans and log records decoded and handed to Kafka.",
            ["signal", "transport"],
            registry=r,
        )
        self.rejected = Counter(
            "observ_adapter_otlp_rejected",
            "OTLP spans and log records refused, by reason: invalid (reported in partial_success), "
            "kafka_rejected (Kafka refused their record for good), unavailable (the client was told to retry).",
            ["signal", "reason"],
            registry=r,
        )
        self.shipped = Counter(
            "observ_adapter_otlp_shipped", "OTLP spans and log records acknowledged by Kafka.", ["signal"], registry=r
        )
        self.refused_requests = Counter(
            "observ_adapter_otlp_refused_requests",
            "OTLP requests refused whole, by reason (invalid, too_large, unsupported_media_type, buffer_full, "
            "not_acknowledged, busy, internal).",
            ["transport", "reason"],
            registry=r,
        )
        self.inflight_bytes = Gauge(
            "observ_adapter_otlp_inflight_bytes", "OTLP records handed to Kafka, not acknowledged yet.", registry=r
        )
        self.dropped_metadata = Counter(
            "observ_adapter_otlp_dropped_metadata",
            "Metadata pairs of shipped OTLP log records (attributes, scope, ...): log batches carry none yet.",
            registry=r,
        )

    def throttled(self, kind: str, where: str) -> bool:
        """True when (kind, where) was logged in the last 10 s; counters always move."""
        return self._throttle.suppressed((kind, where))


@dataclass(frozen=True, slots=True)
class Accepted:
    """A request whose records Kafka acknowledged, but for those it rejected one by one."""

    signal: Signal
    transport: Transport
    received: int
    rejected: int
    kafka_rejected: int
    error_message: str
    dropped_metadata: int = 0
    """Metadata pairs of the shipped log records, which log batches cannot carry yet."""

    def emit(self, m: AmbassadorMetrics) -> None:
        m.received.labels(self.signal, self.transport).inc(self.received)
        if self.dropped_metadata:
            m.dropped_metadata.inc(self.dropped_metadata)
        if self.rejected:
            m.rejected.labels(self.signal, "invalid").inc(self.rejected)
        if self.kafka_rejected:
            m.rejected.labels(self.signal, "kafka_rejected").inc(self.kafka_rejected)
        if (self.rejected or self.kafka_rejected) and not m.throttled(f"partial-{self.signal}", self.transport):
            log.warning("OTLP %s over %s: %s", self.signal, self.transport, self.error_message[:500])


@dataclass(frozen=True, slots=True)
class Refused:
    """Nothing of the request was taken; the client got the reason (and, when retryable, a delay)."""

    transport: Transport
    reason: str
    detail: str

    def emit(self, m: AmbassadorMetrics) -> None:
        if not m.throttled("refused", self.reason):
            log.warning("OTLP %s request refused (%s): %s", self.transport, self.reason, self.detail[:500])
        m.refused_requests.labels(self.transport, self.reason).inc()


@dataclass(frozen=True, slots=True)
class InternalError:
    """A bug or an environment failure, never the client's input: logged with its traceback."""

    transport: Transport
    error: BaseException

    def emit(self, m: AmbassadorMetrics) -> None:
        log.error("internal error in the OTLP %s ambassador: %r", self.transport, self.error, exc_info=self.error)
        m.refused_requests.labels(self.transport, "internal").inc()
