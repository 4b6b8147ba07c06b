"""The ingester's Prometheus metrics, one class per lane: what a commit stored and which records were refused.

Their names are read by the dashboards and alert rules: they stay as they are.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from observ.store.logstore import AppendResult
from observ.traces.store import SpanAppendResult

__all__ = ["IngestMetrics", "SpanIngestMetrics"]


class IngestMetrics:
    """The log lane's counters and the loop's own (records, commits, write errors)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.lines = Counter("observ_ingested_lines", "Log lines stored.", ["tenant", "service", "level"], registry=r)
        self.duplicates = Counter(
            "observ_ingest_duplicate_lines", "Replayed lines skipped by source position.", registry=r
        )
        self.records = Counter("observ_ingest_records", "Kafka records consumed.", registry=r)
        self.rejected = Counter(
            "observ_ingest_rejected_records", "Records that could not be decoded.", ["reason"], registry=r
        )
        self.commit_seconds = Histogram("observ_ingest_commit_seconds", "Time of one DuckDB transaction.", registry=r)
        self.write_errors = Counter(
            "observ_ingest_write_errors", "Transactions that failed to commit and were retried.", registry=r
        )
        self.rows = Gauge("observ_store_log_rows", "Log rows in the store (all tenants).", registry=r)
        self.last_commit = Gauge(
            "observ_ingest_last_commit_timestamp_seconds", "Wall time of the last commit.", registry=r
        )

    def written(self, result: AppendResult) -> None:
        for (tenant, service, level), n in result.per_stream.items():
            self.lines.labels(tenant, service, level).inc(n)
        self.duplicates.inc(result.duplicates)
        self.rows.inc(result.inserted)

    def rejected_record(self, reason: str) -> None:
        self.rejected.labels(reason).inc()


class SpanIngestMetrics:
    """The span lane's counters."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.spans = Counter("observ_ingested_spans", "Spans stored.", ["tenant", "service"], registry=r)
        self.duplicates = Counter(
            "observ_ingest_duplicate_spans", "Spans already stored (same trace, span ID and kind), skipped.", registry=r
        )
        self.rejected = Counter(
            "observ_ingest_rejected_span_records", "Span records that could not be decoded.", ["reason"], registry=r
        )
        self.rows = Gauge("observ_store_span_rows", "Spans in the spans store (all tenants).", registry=r)

    def written(self, result: SpanAppendResult) -> None:
        for (tenant, service), n in result.per_service.items():
            self.spans.labels(tenant, service).inc(n)
        self.duplicates.inc(result.duplicates)
        self.rows.inc(result.inserted)

    def rejected_record(self, reason: str) -> None:
        self.rejected.labels(reason).inc()
