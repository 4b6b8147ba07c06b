"""Kafka -> DuckDB: the ingester loop, exactly-once by construction.

Offsets live in DuckDB beside the rows. On (re)assignment each partition is
sought to its stored offset, so a crash at any point replays only what the
store does not have; replayed sidecar batches are filtered by source position.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import BaseModel, ConfigDict

from observ.bus import BusConfig, BusError, Consumer, Record, TopicPartition, make_consumer
from observ.model import SCHEMA_VERSION, Batch, DecodedBatch
from observ.store.logstore import AppendResult, LogStore, Prepared, StoreWriteError
from observ.throttle import LogThrottle

log = logging.getLogger("observ.ingest")


class IngestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bus: BusConfig = BusConfig()
    topic: str = "observ.logs"
    group_id: str = "observ-ingester"
    data: str = "./observ-data"
    """The data folder (the store observ.duckdb and its segments inside), as `--data` of every command."""
    max_batch_rows: int = 100_000
    """Rows per DuckDB transaction: large transactions amortise the commit."""
    max_batch_ms: int = 1000
    """Upper bound on how long a row waits in memory before its transaction."""
    max_poll_records: int = 100
    """Records (sidecar batches of up to ~1000 entries) per poll."""
    write_retry_max_ms: int = 5000
    """Longest wait between attempts while the store cannot write (disk full): the ingester waits, never skips."""


class IngestMetrics:
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


def decode_record(rec: Record) -> DecodedBatch:
    headers = dict(rec.headers)
    version = headers.get("schema", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ValueError(f"unsupported schema version {version!r}")
    batch = Batch.decode(rec.value)
    tenant = headers.get("tenant")
    if tenant is not None and tenant.decode() != batch.stream.tenant:
        raise ValueError("tenant header disagrees with the batch")
    return batch


class Ingester:
    """Consumes the log topic into a LogStore; `run()` until `stop()`."""

    def __init__(
        self,
        config: IngestConfig,
        store: LogStore,
        registry: CollectorRegistry,
        consumer_factory: Callable[[BusConfig, str], Consumer] = make_consumer,
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = IngestMetrics(registry)
        self._consumer = consumer_factory(config.bus, config.group_id)
        self._running = True
        self._assigned = False
        self._pending: list[DecodedBatch] = []
        self._pending_rows = 0
        self._offsets: dict[tuple[str, int], int] = {}
        self._rejected: list[tuple[str, int, int, str, bytes]] = []
        self._first_pending = 0.0
        self.inserted_total = 0
        self._rows_at_start = store.count()
        self.metrics.rows.set(self._rows_at_start)
        self.on_commit: Callable[[], None] | None = None
        self._throttle = LogThrottle(every_s=10.0)
        # One prepared append is written while the next one is prepared: DuckDB's insert
        # releases the GIL, so decoding and building columns overlap with it.
        self._writes: queue.Queue[Prepared | None] = queue.Queue(maxsize=1)
        self._written: queue.SimpleQueue[tuple[Prepared, AppendResult] | BaseException] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="duckdb-writer", daemon=True)
        self._writer.start()

    @property
    def ready(self) -> bool:
        return self._assigned

    def _on_assign(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        self._discard_pending()
        self._drain()
        stored = self.store.kafka_offsets(self.config.topic)
        self._assigned = True
        return {tp: stored[tp.partition] for tp in partitions if tp.partition in stored}

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        self._discard_pending()
        self._drain()

    def _discard_pending(self) -> None:
        """Uncommitted rows of a revoked partition are replayed by its next owner from DuckDB's offsets."""
        self._pending.clear()
        self._pending_rows = 0
        self._offsets.clear()
        self._rejected.clear()

    def run(self) -> None:
        c = self._consumer
        c.subscribe([self.config.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while self._running:
                self.step()
            self.flush()
            self._drain()
        finally:
            self._writes.put(None)
            self._writer.join()
            c.close()

    def step(self) -> None:
        """One poll; commits once caught up with the partitions, or when the batch is full or old enough.

        Under a backlog polls come back full and rows accumulate into large transactions;
        once caught up each poll commits, so latency stays at one poll interval.
        """
        records = self._consumer.poll_batch(self.config.max_poll_records, timeout=0.2)
        now = time.monotonic()
        for rec in records:
            if not self._pending_rows and not self._rejected:
                self._first_pending = now
            self.metrics.records.inc()
            self._offsets[(rec.topic, rec.partition)] = rec.offset + 1
            try:
                batch = decode_record(rec)
            except (ValueError, KeyError, TypeError) as e:
                reason = type(e).__name__
                log.error("rejected record %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, e)
                self.metrics.rejected.labels(reason).inc()
                self._rejected.append((rec.topic, rec.partition, rec.offset, f"{reason}: {e}", rec.value))
                continue
            self._pending.append(batch)
            self._pending_rows += len(batch)
        caught_up = len(records) < self.config.max_poll_records
        if self._offsets and (
            caught_up
            or self._pending_rows >= self.config.max_batch_rows
            or (now - self._first_pending) * 1000 >= self.config.max_batch_ms
        ):
            self.flush()
        else:
            self._after_writes()

    def flush(self) -> None:
        """Hand the pending rows to the writer thread (waits while it still writes the previous ones)."""
        if self._offsets:
            prepared = self.store.prepare(self._pending, self._offsets, self._rejected)
            self._discard_pending()
            self._writes.put(prepared)
        self._after_writes()

    def _write_loop(self) -> None:
        failed = False
        while (prepared := self._writes.get()) is not None:
            try:
                if not failed:
                    result = self._write(prepared)
                    if result is None:  # stopped while the store could not write: later appends depend on it
                        failed = True
                    else:
                        self._written.put((prepared, result))
                        self.store.maybe_compact()
            except BaseException as e:  # the poll thread re-raises it; the process restarts from DuckDB
                failed = True
                self._written.put(e)
            finally:
                self._writes.task_done()
        self._writes.task_done()

    def _write(self, prepared: Prepared) -> AppendResult | None:
        """Commit `prepared`, retrying while the store cannot write (disk full, I/O errors).

        Nothing is lost by waiting: the rows stay in Kafka and the offsets are not committed, polling
        stops once the queue is full, and /healthz reports the error. None if stopped before it committed.
        """
        delay = 0.1
        while True:
            start = time.perf_counter()
            try:
                result = self.store.write(prepared)
            except StoreWriteError as e:
                self.metrics.write_errors.inc()
                if not self._throttle.suppressed("write"):
                    log.error("cannot write to the store, retrying every %.0f s: %s", max(delay, 1), e)
                if not self._running:
                    return None
                time.sleep(delay)
                delay = min(delay * 2, self.config.write_retry_max_ms / 1000)
                continue
            self.metrics.commit_seconds.observe(time.perf_counter() - start)
            return result

    def _drain(self) -> None:
        """Wait until every prepared append is written, so DuckDB's offsets are current."""
        self._writes.join()
        self._after_writes()

    def _after_writes(self) -> None:
        """On the poll thread: count what was written and tell Kafka (informational) the new offsets."""
        while True:
            try:
                done = self._written.get_nowait()
            except queue.Empty:
                return
            if isinstance(done, BaseException):
                raise done
            prepared, result = done
            for (tenant, service, level), n in result.per_stream.items():
                self.metrics.lines.labels(tenant, service, level).inc(n)
            self.metrics.duplicates.inc(result.duplicates)
            self.metrics.last_commit.set_to_current_time()
            self.inserted_total += result.inserted
            self.metrics.rows.set(self._rows_at_start + self.inserted_total)
            if self.on_commit:
                self.on_commit()
            try:
                self._consumer.commit({TopicPartition(t, p): o for (t, p), o in prepared.offsets.items()})
            except BusError as e:
                log.warning("group offset commit failed (DuckDB holds the truth): %s", e)

    def stop(self) -> None:
        self._running = False
