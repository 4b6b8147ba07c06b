"""Kafka -> DuckDB: the ingester loop, exactly-once by construction.

Offsets live in DuckDB beside the rows. On (re)assignment each partition is
sought to its stored offset, so a crash at any point replays only what the
store does not have; replayed sidecar batches are filtered by source position,
spans by their identity. One consumer reads the log topic and the span topic;
each topic is a lane (lanes.py) with its own decoder (records.py), store and counters (metrics.py).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, model_validator

from observ import ingest_defaults
from observ.bus import BusConfig, BusError, Consumer, Record, TopicPartition, make_consumer
from observ.ingest_defaults import LOKI_DEFAULTS, IngestDefaults
from observ.ingester.lanes import HasOffsets, Lane
from observ.ingester.metrics import IngestMetrics, SpanIngestMetrics
from observ.ingester.records import RecordError, decode_log_record, decode_span_record
from observ.model import DecodedBatch
from observ.store.config import StoreSettings
from observ.store.hotcold import StoreWriteError
from observ.store.logstore import LogStore
from observ.throttle import LogThrottle
from observ.traces.store import SpanStore

__all__ = ["IngestConfig", "Ingester"]

log = logging.getLogger("observ.ingest")

AnyLane = Lane[Any, Any, Any]


class IngestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bus: BusConfig = BusConfig()
    topic: str = "observ.logs"
    spans_topic: str | None = "observ.spans"
    """Span batches (OTLP ambassadors) into `<data>/spans.duckdb`; None = logs only."""
    group_id: str = "observ-ingester"
    data: str = "./observ-data"
    """The data folder (the store observ.duckdb and its segments inside), as `--data` of every command."""
    max_batch_rows: int = 100_000
    """Rows (lines and spans) per DuckDB transaction: large transactions amortise the commit."""
    max_batch_ms: int = 1000
    """Upper bound on how long a row waits in memory before its transaction."""
    max_poll_records: int = 100
    """Records (sidecar batches of up to ~1000 entries) per poll."""
    write_retry_max_ms: int = 5000
    """Longest wait between attempts while the store cannot write (disk full): the ingester waits, never skips."""
    store: StoreSettings = StoreSettings()
    """The stores' settings and their maintenance (retention, merging), as in `observ serve`'s config file."""
    defaults: IngestDefaults = LOKI_DEFAULTS
    """Loki 3's `service_name` and `detected_level`, added here to the sidecar's batches as Loki's distributor adds
    them (the sidecar leaves them out: its records stay small and the settings stay on the server)."""

    @model_validator(mode="after")
    def _topics_differ(self) -> IngestConfig:
        if self.spans_topic == self.topic:
            raise ValueError(f"the log and span topics must differ: both are {self.topic!r}")
        return self


class Ingester:
    """Consumes the log topic into a LogStore and, given a SpanStore, the span topic into it; `run()` until `stop()`."""

    def __init__(
        self,
        config: IngestConfig,
        store: LogStore,
        registry: CollectorRegistry,
        consumer_factory: Callable[[BusConfig, str], Consumer] = make_consumer,
        spans: SpanStore | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = IngestMetrics(registry)
        self.metrics.rows.set(store.count())
        self.lanes: dict[str, AnyLane] = {config.topic: Lane(config.topic, self._decode_log, store, self.metrics)}
        self.span_metrics: SpanIngestMetrics | None = None
        if spans is not None and config.spans_topic:
            self.span_metrics = SpanIngestMetrics(registry)
            self.span_metrics.rows.set(spans.count())
            lane = Lane(config.spans_topic, decode_span_record, spans, self.span_metrics)
            self.lanes[config.spans_topic] = lane
        self._consumer = consumer_factory(config.bus, config.group_id)
        self._running = True
        self._assigned = False
        self._pending_rows = 0
        self._first_pending = 0.0
        self.on_commit: Callable[[], None] | None = None
        self._throttle = LogThrottle(every_s=10.0)
        # One prepared append is written while the next one is prepared: DuckDB's insert
        # releases the GIL, so decoding and building columns overlap with it.
        self._writes: queue.Queue[tuple[AnyLane, HasOffsets] | None] = queue.Queue(maxsize=1)
        self._written: queue.SimpleQueue[tuple[AnyLane, HasOffsets, Any] | BaseException] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="duckdb-writer", daemon=True)
        self._writer.start()

    def _decode_log(self, rec: Record) -> DecodedBatch:
        return ingest_defaults.apply(decode_log_record(rec), self.config.defaults)

    @property
    def ready(self) -> bool:
        return self._assigned

    @property
    def inserted_total(self) -> int:
        """Log lines stored since start."""
        return self.lanes[self.config.topic].inserted

    @property
    def spans_inserted_total(self) -> int:
        """Spans stored since start (0 without a span lane)."""
        lane = self.lanes.get(self.config.spans_topic or "")
        return lane.inserted if lane else 0

    @property
    def write_error(self) -> str | None:
        """Why a store cannot commit, for /healthz: the first lane's that cannot."""
        return next((lane.sink.write_error for lane in self.lanes.values() if lane.sink.write_error), None)

    def _on_assign(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        self._discard_pending()
        self._drain()
        starts: dict[TopicPartition, int] = {}
        for topic, lane in self.lanes.items():
            stored = lane.sink.kafka_offsets(topic)
            starts.update(
                {tp: stored[tp.partition] for tp in partitions if tp.topic == topic and tp.partition in stored}
            )
        self._assigned = True
        return starts

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        self._discard_pending()
        self._drain()

    def _discard_pending(self) -> None:
        """Uncommitted rows of a revoked partition are replayed by its next owner from DuckDB's offsets."""
        for lane in self.lanes.values():
            lane.clear()
        self._pending_rows = 0

    def run(self) -> None:
        c = self._consumer
        c.subscribe(list(self.lanes), on_assign=self._on_assign, on_revoke=self._on_revoke)
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
            lane = self.lanes.get(rec.topic)
            if lane is None:
                log.error("record of topic %r, which this ingester does not read: skipped", rec.topic)
                continue
            if not any(ln.offsets for ln in self.lanes.values()):
                self._first_pending = now
            self.metrics.records.inc()
            lane.offsets[(rec.topic, rec.partition)] = rec.offset + 1
            try:
                batch = lane.decode(rec)
            except RecordError as e:
                log.error("rejected record %s[%d]@%d: %s: %s", rec.topic, rec.partition, rec.offset, e.reason, e)
                lane.counts.rejected_record(e.reason)
                lane.refused.append((rec.topic, rec.partition, rec.offset, f"{e.reason}: {e}", rec.value))
                continue
            lane.pending.append(batch)
            self._pending_rows += len(batch)
        caught_up = len(records) < self.config.max_poll_records
        if any(lane.offsets for lane in self.lanes.values()) and (
            caught_up
            or self._pending_rows >= self.config.max_batch_rows
            or (now - self._first_pending) * 1000 >= self.config.max_batch_ms
        ):
            self.flush()
        else:
            self._after_writes()

    def flush(self) -> None:
        """Hand each lane's pending rows to the writer thread (waits while it still writes the previous ones)."""
        for lane in self.lanes.values():
            prepared = lane.take()
            if prepared is not None:
                self._writes.put((lane, prepared))
        self._pending_rows = 0
        self._after_writes()

    def _write_loop(self) -> None:
        failed = False
        while (item := self._writes.get()) is not None:
            lane, prepared = item
            try:
                if not failed:
                    result = self._write(lane, prepared)
                    if result is None:  # stopped while the store could not write: later appends depend on it
                        failed = True
                    else:
                        self._written.put((lane, prepared, result))
                        lane.sink.maybe_compact()
            except BaseException as e:  # the poll thread re-raises it; the process restarts from DuckDB
                failed = True
                self._written.put(e)
            finally:
                self._writes.task_done()
        self._writes.task_done()

    def _write(self, lane: AnyLane, prepared: HasOffsets) -> Any:
        """Commit `prepared`, retrying while the store cannot write (disk full, I/O errors).

        Nothing is lost by waiting: the rows stay in Kafka and the offsets are not committed, polling
        stops once the queue is full, and /healthz reports the error. None if stopped before it committed.
        """
        delay = 0.1
        while True:
            start = time.perf_counter()
            try:
                result = lane.sink.write(prepared)
            except StoreWriteError as e:
                self.metrics.write_errors.inc()
                if not self._throttle.suppressed(("write", lane.topic)):
                    log.error("cannot write %s to the store, retrying every %.0f s: %s", lane.topic, max(delay, 1), e)
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
            lane, prepared, result = done
            lane.counts.written(result)
            lane.inserted += result.inserted
            self.metrics.last_commit.set_to_current_time()
            if self.on_commit:
                self.on_commit()
            try:
                self._consumer.commit({TopicPartition(t, p): o for (t, p), o in prepared.offsets.items()})
            except BusError as e:
                log.warning("group offset commit failed (DuckDB holds the truth): %s", e)

    def stop(self) -> None:
        self._running = False
