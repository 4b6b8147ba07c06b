"""Internal events of the log adapter: each one logs and moves a self metric.

Naming follows `<namespace>_<name>_<unit>_total`. Every metric lives in the
`REGISTRY` passed to the adapter so tests can read exact values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from observ.throttle import LogThrottle

log = logging.getLogger("observ.log_adapter")


class Metrics:
    """The adapter's self metrics, bound to one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._throttle = LogThrottle()
        r = self.registry
        self.lines_read = Counter("observ_adapter_lines_read", "Physical lines read from sources.", registry=r)
        self.bytes_read = Counter("observ_adapter_read_bytes", "Bytes read from sources.", registry=r)
        self.entries_shipped = Counter(
            "observ_adapter_entries_shipped", "Entries acknowledged by the sink.", registry=r
        )
        self.bytes_shipped = Counter("observ_adapter_shipped_bytes", "Line bytes acknowledged.", registry=r)
        self.dropped = Counter("observ_adapter_dropped_entries", "Entries dropped, by reason.", ["reason"], registry=r)
        self.truncated = Counter(
            "observ_adapter_truncated_entries",
            "Entries truncated or altered, by reason.",
            ["reason"],
            registry=r,
        )
        self.source_errors = Counter(
            "observ_adapter_source_errors", "Errors opening or reading sources.", ["reason"], registry=r
        )
        self.sink_errors = Counter("observ_adapter_sink_errors", "Delivery failures retried.", registry=r)
        self.lag_bytes = Gauge("observ_adapter_lag_bytes", "Bytes in sources not yet read.", registry=r)
        self.files_open = Gauge("observ_adapter_files_open", "Files held open (being read).", registry=r)
        self.files_waiting = Gauge(
            "observ_adapter_files_waiting",
            "Files with unread data that wait for a handle (open-file cap reached, or EMFILE).",
            registry=r,
        )
        self.inflight_bytes = Gauge(
            "observ_adapter_inflight_bytes", "Bytes handed to the sink, not yet acknowledged.", registry=r
        )
        self.checkpoint_age = Gauge(
            "observ_adapter_checkpoint_age_seconds",
            "Seconds since the checkpoint was last written.",
            registry=r,
        )
        self.backpressure = Counter(
            "observ_adapter_backpressure_waits",
            "Times reading paused because the sink was full.",
            registry=r,
        )

    def throttled(self, kind: str, reason: str, where: str) -> bool:
        """True when this (kind, reason, where) was logged in the last 10 s: a garbage file must not flood the log.

        The counters always move; only the log line is skipped.
        """
        return self._throttle.suppressed((kind, reason, where))


@dataclass(frozen=True, slots=True)
class Dropped:
    """An entry (or part of one) could not be shipped at all."""

    reason: str
    where: str
    detail: str = ""

    def emit(self, m: Metrics, n: int = 1) -> None:
        log.warning(
            "dropped %d entr%s at %s: %s %s",
            n,
            "y" if n == 1 else "ies",
            self.where,
            self.reason,
            self.detail,
        )
        m.dropped.labels(self.reason).inc(n)


@dataclass(frozen=True, slots=True)
class Truncated:
    """An entry was shipped but altered: cut at a size bound, or bytes replaced (invalid UTF-8)."""

    reason: str
    where: str
    detail: str = ""

    def emit(self, m: Metrics, n: int = 1) -> None:
        if not m.throttled("altered", self.reason, self.where):
            log.warning("altered entry at %s: %s %s", self.where, self.reason, self.detail)
        m.truncated.labels(self.reason).inc(n)


@dataclass(frozen=True, slots=True)
class SourceError:
    """A file could not be opened or read; the others go on."""

    reason: str
    path: str
    detail: str = ""

    def emit(self, m: Metrics) -> None:
        if not m.throttled("source", self.reason, self.path):
            log.error("source %s: %s %s", self.path, self.reason, self.detail)
        m.source_errors.labels(self.reason).inc()
