"""The store's duplicate filter and offset bookkeeping: the half of exactly-once that lives in DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from observ.model import Batch, DecodedBatch, Entry, Stream
from observ.store.logstore import LogStore

STREAM = Stream(tenant="t1", service="api", namespace="ns", pod="api-1", container="api", labels=(("app", "api"),))


def batch(lines: range, source: str = "1:2:abc:0", stream: Stream = STREAM) -> DecodedBatch:
    entries = [Entry(ts=1_000 + i, line=f"line {i}", level="info", start=i * 10, end=(i + 1) * 10) for i in lines]
    return Batch.decode(Batch(stream, source, entries, observed_ts=5).encode())


def test_replayed_entries_are_skipped_by_source_position(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    first = store.append([batch(range(0, 10))])
    replay = store.append([batch(range(5, 15))])
    assert (first.inserted, first.duplicates) == (10, 0)
    assert (replay.inserted, replay.duplicates) == (5, 5)
    lines = [r[0] for r in store.cursor().execute("SELECT line FROM logs ORDER BY ts").fetchall()]
    assert lines == [f"line {i}" for i in range(15)]


def test_positions_and_offsets_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    store = LogStore(path)
    store.append([batch(range(0, 3))], offsets={("observ.logs", 0): 42})
    store.close()
    again = LogStore(path)
    assert again.kafka_offsets("observ.logs") == {0: 42}
    assert again.append([batch(range(0, 3))]).inserted == 0
    assert again.count() == 3


def test_sources_and_streams_are_independent(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    other_stream = Stream(tenant="t1", service="api", stream="stderr")
    store.append([batch(range(0, 5))])
    res = store.append([batch(range(0, 5), source="1:2:def:1"), batch(range(0, 5), stream=other_stream)])
    assert res.inserted == 10


def test_columns_and_labels_are_stored(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    store.append([batch(range(0, 1))])
    row = store.cursor().execute("SELECT tenant, service, namespace, pod, labels, ts, observed_ts FROM logs").fetchone()
    assert row == ("t1", "api", "ns", "api-1", '{"app":"api"}', 1000, 5)


def test_failed_transaction_keeps_nothing(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    good = batch(range(0, 3))
    with pytest.raises(duckdb.ConversionException):
        store.append([good], offsets={("t", 0): "not-an-int"})  # type: ignore[dict-item]
    assert store.count() == 0
    assert store.kafka_offsets("t") == {}
    assert store.append([good]).inserted == 3


def test_per_stream_counts_feed_the_ingested_lines_counter(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    b = batch(range(0, 4))
    b.level[1] = "error"
    res = store.append([b])
    assert res.per_stream == {("t1", "api", "info"): 3, ("t1", "api", "error"): 1}
