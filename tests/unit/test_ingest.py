"""The ingester loop with an in-memory consumer: offsets, rejects and replays (the broker is tested elsewhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from observ.bus import BusConfig, Record, TopicPartition
from observ.health_server import serve_health
from observ.ingester.ingester import IngestConfig, Ingester
from observ.model import SCHEMA_VERSION, Batch, Entry, Stream
from observ.store.logstore import LogStore, StoreWriteError
from observ.traces.store import SpanStore

TOPIC = "observ.logs"
STREAM = Stream(tenant="acme", service="api")


def record(offset: int, lines: range, value: bytes | None = None) -> Record:
    entries = [Entry(ts=i, line=f"l{i}", level="info", start=i, end=i + 1) for i in lines]
    payload = value if value is not None else Batch(STREAM, "src", entries).encode()
    headers = [("tenant", b"acme"), ("schema", SCHEMA_VERSION)]
    return Record(TOPIC, 0, offset, STREAM.id.encode(), payload, headers, 0)


class FakeConsumer:
    """Partitions of any topic, each read from the position on_assign says (else the committed one, else 0)."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.committed: dict[TopicPartition, int] = {}
        self.position: dict[TopicPartition, int] = {}
        self.topics: list[str] = []

    def subscribe(self, topics, on_assign=None, on_revoke=None) -> None:  # type: ignore[no-untyped-def]
        self.topics = topics
        parts = sorted({TopicPartition(r.topic, r.partition) for r in self.records if r.topic in topics},
                       key=lambda tp: (tp.topic, tp.partition))  # fmt: skip
        starts = on_assign(parts) if on_assign and parts else {}
        self.position = {tp: starts.get(tp, self.committed.get(tp, 0)) for tp in parts}

    def poll_batch(self, max_records: int, timeout: float) -> list[Record]:
        out = []
        for r in self.records:
            tp = TopicPartition(r.topic, r.partition)
            if tp in self.position and r.offset >= self.position[tp] and len(out) < max_records:
                out.append(r)
                self.position[tp] = r.offset + 1
        return out

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update(offsets)

    def close(self) -> None:
        pass


def run_once(store: LogStore, records: list[Record]) -> tuple[Ingester, FakeConsumer]:
    consumer = FakeConsumer(records)
    ing = Ingester(IngestConfig(bus=BusConfig(), topic=TOPIC), store, CollectorRegistry(), lambda c, g: consumer)
    consumer.subscribe([TOPIC], on_assign=ing._on_assign)
    ing.step()
    ing.flush()
    ing._drain()
    return ing, consumer


def test_bad_record_is_kept_with_its_reason_and_the_rest_is_stored(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    ing, consumer = run_once(
        store, [record(0, range(0, 3)), record(1, range(0, 0), b"\x00not json"), record(2, range(3, 5))]
    )
    assert store.count() == 5
    rows = store.cursor().execute("SELECT record_offset, reason FROM rejected_records").fetchall()
    assert len(rows) == 1 and rows[0][0] == 1 and "JSON" in rows[0][1]
    assert ing.metrics.rejected.labels("JSONDecodeError")._value.get() == 1
    assert store.kafka_offsets(TOPIC) == {0: 3}
    assert consumer.committed == {TopicPartition(TOPIC, 0): 3}


def test_restart_resumes_from_duckdb_offsets_and_skips_resent_entries(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    run_once(store, [record(0, range(0, 10))])
    # the sidecar re-sent entries 5..14 after a crash (offset 1); the ingester restarts from DuckDB's offset
    ing, _ = run_once(store, [record(0, range(0, 10)), record(1, range(5, 15))])
    assert store.count() == 15
    assert ing.metrics.duplicates._value.get() == 5
    lines = [r[0] for r in store.cursor().execute("SELECT line FROM logs ORDER BY ts").fetchall()]
    assert lines == [f"l{i}" for i in range(15)]
    assert ing.metrics.lines.labels("acme", "api", "info")._value.get() == 5


def test_one_poll_of_batches_whose_timestamps_step_back_stores_them_all(tmp_path: Path) -> None:
    """Lines carry their own time and it steps back between batches of one source (a late writer)."""
    records = []
    for k in range(20):
        entries = [Entry(ts=10**12 - k * 120 * 10**9 + i, line=f"b{k} l{i}", start=k * 10 + i, end=k * 10 + i + 1)
                   for i in range(10)]  # fmt: skip
        payload = Batch(STREAM, "src", entries, after=k * 10).encode()
        records.append(record(k, range(0), payload))
    store = LogStore(tmp_path / "db.duckdb")
    ing, consumer = run_once(store, records)
    assert store.count() == 200
    assert ing.metrics.duplicates._value.get() == 0
    assert consumer.committed == {TopicPartition(TOPIC, 0): 20}


class FullDisk:
    """A store (logs or spans) whose first writes fail as DuckDB does on ENOSPC."""

    def __init__(self, store: LogStore | SpanStore, failures: int) -> None:
        self.store, self.failures = store, failures

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    @property
    def write_error(self) -> str | None:
        return "StoreWriteError: No space left on device" if self.failures else None

    def write(self, prepared: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise StoreWriteError('Failed to commit: Could not write file "x.wal": No space left on device')
        return self.store.write(prepared)


def test_a_store_that_cannot_write_is_retried_in_order_and_nothing_is_skipped(tmp_path: Path) -> None:
    store = FullDisk(LogStore(tmp_path / "db.duckdb"), failures=3)
    records = [record(0, range(0, 10)), record(1, range(10, 20))]
    consumer = FakeConsumer(records)
    config = IngestConfig(bus=BusConfig(), topic=TOPIC, write_retry_max_ms=20)
    ing = Ingester(config, store, CollectorRegistry(), lambda c, g: consumer)  # type: ignore[arg-type]
    consumer.subscribe([TOPIC], on_assign=ing._on_assign)
    ing.step()
    ing.flush()
    ing._drain()
    assert store.failures == 0 and ing.metrics.write_errors._value.get() == 3
    assert store.count() == 20 and store.kafka_offsets(TOPIC) == {0: 2}
    assert consumer.committed == {TopicPartition(TOPIC, 0): 2}


def test_health_endpoint_reports_a_store_that_cannot_write() -> None:
    trouble: list[str] = []
    server = serve_health("127.0.0.1", 0, CollectorRegistry(), lambda: True, lambda: trouble[0] if trouble else None)
    url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
    try:
        assert httpx.get(url).status_code == 200
        trouble.append("StoreWriteError: No space left on device")
        r = httpx.get(url)
        assert r.status_code == 503 and "No space left" in r.text
    finally:
        server.shutdown()
