"""Structured metadata in the logs store: the `metadata` column through hot rows, segments, reopen and the v3 -> v4
migration; and the Kafka wire format with and without it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

from observ.bus.base import Record
from observ.ingester.records import RecordError, decode_log_record
from observ.model import Batch, DecodedBatch, Entry, Stream
from observ.store.config import StoreConfig
from observ.store.logstore import LogStore
from observ.store.relation import ScanHints

STREAM = Stream(tenant="t1", service="api", pod="api-0")
ALL = ScanHints("t1", 0, 2**63 - 1)


def pushed(lines: list[str], metadata: list[dict[str, str]] | None, stream: Stream = STREAM) -> DecodedBatch:
    n = len(lines)
    return DecodedBatch(
        stream=stream, source="", observed_ts=1, ts=[1_000 + i for i in range(n)], level=["info"] * n,
        trace_id=[""] * n, span_id=[""] * n, end=[0] * n, line=lines, metadata=metadata,
    )  # fmt: skip


def rows(store: LogStore) -> list[tuple[str, str]]:
    rel = store.relation(ALL)
    return store.cursor().execute(f"SELECT line, metadata FROM {rel.sql} AS l ORDER BY line", rel.params).fetchall()


def open_store(path: Path) -> LogStore:
    return LogStore(path / "observ.duckdb", StoreConfig(segment_min_rows=1))


def test_metadata_is_kept_hot_in_segments_and_after_reopen(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.append([pushed(["a", "b"], [{"user_agent": "curl", "b": "2"}, {}])])
    store.append([pushed(["c"], None)])
    expected = [("a", '{"b":"2","user_agent":"curl"}'), ("b", "{}"), ("c", "{}")]
    assert rows(store) == expected
    store.compact()
    assert store.cursor().execute("SELECT count(*) FROM logs_hot").fetchone() == (0,)
    assert rows(store) == expected
    store.close()
    assert rows(open_store(tmp_path)) == expected


def _downgrade_to_version_3(path: Path) -> None:
    """What a version 3 store looked like: no `metadata` in the hot table nor in its segments' files."""
    con = duckdb.connect(str(path / "observ.duckdb"))
    con.execute("ALTER TABLE logs_hot DROP COLUMN metadata")
    con.execute("DELETE FROM meta WHERE key = 'metadata_since_segment'")
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    for (name,) in con.execute("SELECT path FROM segments").fetchall():
        seg = path / "segments" / name
        pq.write_table(pq.read_table(seg).drop_columns(["metadata"]), seg)
    con.close()


def test_a_version_3_store_opens_and_its_old_rows_have_empty_metadata(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.append([pushed(["old cold"], None)])
    store.compact()
    store.append([pushed(["old hot"], None)])
    store.close()
    _downgrade_to_version_3(tmp_path)

    store = open_store(tmp_path)
    assert store.cursor().execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("4",)
    assert rows(store) == [("old cold", "{}"), ("old hot", "{}")]
    store.append([pushed(["new"], [{"k": "v"}])])
    store.compact()
    assert len(store.segments) == 2
    expected = [("new", '{"k":"v"}'), ("old cold", "{}"), ("old hot", "{}")]
    assert rows(store) == expected
    assert store.cursor().execute("SELECT line, metadata FROM logs ORDER BY line").fetchall() == expected
    store.close()
    assert rows(open_store(tmp_path)) == expected


def test_pruned_relations_read_old_and_new_segments_alike(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.append([pushed(["an old line"], None)])
    store.compact()
    store.close()
    _downgrade_to_version_3(tmp_path)
    store = open_store(tmp_path)
    store.append([pushed(["a brand new line"], [{"k": "v"}], Stream(tenant="t1", service="web"))])
    store.compact()
    rel = store.relation(ScanHints("t1", 0, 2**63 - 1, services=frozenset(["web"])))
    assert rel.segments_skipped == 1
    got = store.cursor().execute(f"SELECT line, metadata FROM {rel.sql} AS l ORDER BY line", rel.params).fetchall()
    assert got == [("a brand new line", '{"k":"v"}')]


# --- the Kafka wire format ---------------------------------------------------------------------------


def test_a_batch_without_metadata_encodes_as_before_and_decodes_to_none() -> None:
    value = Batch(STREAM, "src", [Entry(ts=1, line="x", end=10)]).encode()
    assert b"metadata" not in value
    decoded = Batch.decode(value)
    assert decoded.metadata is None
    assert decoded.metadata_text() == ["{}"]


def test_metadata_round_trips_through_the_wire_format() -> None:
    entries = [Entry(ts=1, line="x", metadata={"user_agent": "curl"}), Entry(ts=2, line="y")]
    decoded = Batch.decode(Batch(STREAM, "", entries).encode())
    assert decoded.metadata == [{"user_agent": "curl"}, {}]
    assert decoded.metadata_text() == ['{"user_agent":"curl"}', "{}"]
    assert DecodedBatch.from_batch(Batch(STREAM, "", entries)).metadata == decoded.metadata


def test_a_record_written_before_the_field_existed_still_decodes() -> None:
    old = (
        b'{"v":1,"stream":{"tenant":"t1","service":"api","labels":{}},"source":"1:2:abc:0","after":0,'
        b'"observed_ts":5,"ts":[7],"level":["info"],"trace_id":[""],"span_id":[""],"end":[10],"line":["hi"]}'
    )
    decoded = Batch.decode(old)
    assert (decoded.line, decoded.metadata) == (["hi"], None)


def _with_metadata(metadata: object) -> bytes:
    doc = orjson.loads(Batch(STREAM, "", [Entry(ts=1, line="x"), Entry(ts=2, line="y")]).encode())
    doc["metadata"] = metadata
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ([{"a": "b"}], "column 'metadata' must be an array of 2 objects"),
        ({"a": "b"}, "column 'metadata' must be an array of 2 objects"),
        ([{}, ["a"]], "metadata of entry 1 must be an object of strings"),
        ([{"n": 1}, {}], "metadata of entry 0 must be an object of strings"),
        ([{}, {"n": None}], "metadata of entry 1 must be an object of strings"),
    ],
)
def test_a_malformed_metadata_column_is_refused_with_what_and_where(metadata: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Batch.decode(_with_metadata(metadata))


def test_the_ingester_reads_metadata_and_refuses_a_malformed_column_as_that_records_error() -> None:
    entries = [Entry(ts=1, line="x", metadata={"user_agent": "curl"})]
    good = Record("observ.logs", 0, 7, None, Batch(STREAM, "", entries).encode(), [("tenant", b"t1")])
    assert decode_log_record(good).metadata == [{"user_agent": "curl"}]
    bad = Record("observ.logs", 0, 8, None, _with_metadata([{"n": 1}, {}]), [("tenant", b"t1")])
    with pytest.raises(RecordError, match="metadata of entry 0 must be an object of strings"):
        decode_log_record(bad)
