"""The spans store's hot log: records read back as written, torn or corrupt tails cut off, failed appends undone;
and the store's recovery from it (reopen, a crash between a compaction's commit and its file deletion, a store
made before the log)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from observ.store.config import StoreConfig
from observ.store.relation import ScanHints
from observ.traces import store as store_module
from observ.traces.hotlog import HotLog
from observ.traces.schema import ARROW_SCHEMA
from observ.traces.store import FAR, TOPIC, SpanStore
from tests.unit.traces.helpers import cols, sid, span, tid

SCHEMA = pa.schema([("trace_id", pa.string()), ("n", pa.int64())])


def rows(*ns: int) -> pa.Table:
    return pa.table({"trace_id": [f"t{n}" for n in ns], "n": list(ns)}, schema=SCHEMA)


def replayed(directory: Path, after: int = 0) -> list[list[int]]:
    return [r.rows["n"].to_pylist() for r in HotLog(directory, SCHEMA).replay(after)]


def test_records_come_back_with_their_offsets_and_rejects(tmp_path: Path) -> None:
    log = HotLog(tmp_path, SCHEMA)
    log.append([rows(1, 2), rows(3)], {("spans", 0): 7, ("spans", 2): 9}, [])
    log.append([], {("spans", 0): 8}, [("spans", 0, 7, "bad protobuf", b"\xff\x00", 123)])
    log.close()
    first, second = HotLog(tmp_path, SCHEMA).replay(0)
    assert first.rows["n"].to_pylist() == [1, 2, 3] and first.rows.schema == SCHEMA
    assert first.offsets == {("spans", 0): 7, ("spans", 2): 9} and first.rejected == []
    assert second.rows.num_rows == 0 and second.offsets == {("spans", 0): 8}
    assert second.rejected == [("spans", 0, 7, "bad protobuf", b"\xff\x00", 123)]


@pytest.mark.parametrize("cut", [1, 10, 100])
def test_a_torn_last_record_is_cut_off_and_appends_go_to_a_new_file(tmp_path: Path, cut: int) -> None:
    log = HotLog(tmp_path, SCHEMA)
    log.append([rows(1)], {}, [])
    log.append([rows(2)], {}, [])
    log.close()
    (path,) = tmp_path.iterdir()
    intact = path.stat().st_size
    os.truncate(path, intact - cut)  # the crash came during the second record's write
    assert replayed(tmp_path) == [[1]]
    assert path.stat().st_size < intact - cut, "the torn record was truncated away"
    again = HotLog(tmp_path, SCHEMA)
    again.append([rows(3)], {}, [])
    assert len(again.numbers()) == 2, "never appended after a replayed file's end"
    assert replayed(tmp_path) == [[1], [3]]


def test_a_corrupt_record_and_what_follows_it_are_not_replayed(tmp_path: Path) -> None:
    log = HotLog(tmp_path, SCHEMA)
    for n in (1, 2, 3):
        log.append([rows(n)], {}, [])
    log.close()
    (path,) = tmp_path.iterdir()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte inside the second record fails its CRC
    path.write_bytes(bytes(data))
    assert replayed(tmp_path) == [[1]]


def test_a_failed_append_leaves_the_log_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = HotLog(tmp_path, SCHEMA)
    log.append([rows(1)], {}, [])

    def eio(_: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", eio)
        with pytest.raises(OSError, match="Input/output"):
            log.append([rows(2)], {}, [])
    log.append([rows(3)], {}, [])
    log.close()
    assert replayed(tmp_path) == [[1], [3]]


def test_replay_starts_after_the_compacted_files_and_drop_removes_them(tmp_path: Path) -> None:
    log = HotLog(tmp_path, SCHEMA)
    log.append([rows(1)], {}, [])
    through = log.rotate()
    log.append([rows(2)], {}, [])
    assert replayed(tmp_path, after=through) == [[2]]
    log.drop_through(through)
    assert log.numbers() == [through + 1]


# --- the store ---------------------------------------------------------------------------------------------


def store_at(path: Path) -> SpanStore:
    return SpanStore(path, StoreConfig(compact_rows=10**9))


def test_hot_spans_offsets_and_rejects_come_back_once_after_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    store = store_at(path)
    store.append([cols(span(1, 1), span(1, 2))], offsets={(TOPIC, 0): 5}, rejected=[(TOPIC, 0, 4, "bad", b"x")])
    store.append([cols(span(2, 1))], offsets={(TOPIC, 0): 6, (TOPIC, 1): 3})
    store.close()
    for _ in range(2):  # the second open replays the same files again: still once
        again = store_at(path)
        assert again.count() == 3 and [s.span_id for s in again.trace("t1", tid(1))] == [sid(1), sid(2)]
        assert again.kafka_offsets(TOPIC) == {0: 6, 1: 3}
        assert again.cursor().execute("SELECT count(*) FROM rejected_records").fetchone() == (1,)
        assert again.append([cols(span(1, 2), span(2, 1))]).duplicates == 2
        again.close()


def test_a_log_written_with_resources_as_plain_text_comes_back(tmp_path: Path) -> None:
    """Records of a version that kept `resource` as a string column (not a dictionary) replay into the store."""
    path = tmp_path / "spans.duckdb"
    store = store_at(path)
    store.append([cols(span(1, 1))])
    plain = ARROW_SCHEMA.set(ARROW_SCHEMA.get_field_index("resource"), pa.field("resource", pa.string()))
    old, resource = store._state.table.cast(plain), store.trace("t1", tid(1))[0].resource
    store.close()
    for f in (path.parent / "span-hot").iterdir():
        f.unlink()
    HotLog(path.parent / "span-hot", plain).append([old], {(TOPIC, 0): 2}, [])
    again = store_at(path)
    assert again.count() == 1 and again.kafka_offsets(TOPIC) == {0: 2}
    assert again.append([cols(span(1, 2))]).inserted == 1
    assert [s.resource for s in again.trace("t1", tid(1))] == [resource, resource]


def test_a_crash_after_a_compaction_commits_does_not_bring_its_spans_back_hot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "spans.duckdb"
    store = store_at(path)
    store.append([cols(span(1, 1))], offsets={(TOPIC, 0): 1})
    assert store._log is not None
    monkeypatch.setattr(store._log, "drop_through", lambda _: None)  # the crash: its log files are not deleted
    store.compact()
    store.append([cols(span(1, 2))], offsets={(TOPIC, 0): 2})
    store.close()
    again = store_at(path)
    assert again.count() == 2 and len(again.segments) == 1
    assert [s.span_id for s in again.trace("t1", tid(1))] == [sid(1), sid(2)]
    assert again.kafka_offsets(TOPIC) == {0: 2}
    assert len(list((tmp_path / "span-hot").iterdir())) == 1, "the compacted file is deleted on open"


def test_a_torn_write_loses_only_the_torn_group_and_its_offsets(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    store = store_at(path)
    store.append([cols(span(1, 1))], offsets={(TOPIC, 0): 1})
    store.append([cols(span(2, 1))], offsets={(TOPIC, 0): 2})
    store.close()
    (log,) = (tmp_path / "span-hot").iterdir()
    os.truncate(log, log.stat().st_size - 3)
    again = store_at(path)
    assert again.count() == 1 and again.kafka_offsets(TOPIC) == {0: 1}, "Kafka re-delivers the torn group"


def test_spans_hot_rows_of_a_store_made_before_the_log_move_into_it(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    store_at(path).close()
    con = duckdb.connect(str(path))
    old = pa.Table.from_pylist([{  # one row as the old hot table held it
        "tenant": "t1", "trace_id": tid(1), "span_id": sid(1), "parent_span_id": "", "trace_state": "",
        "service": "web", "name": "GET /", "kind": 2, "start_ns": 10, "end_ns": 30, "duration_ns": 20,
        "status_code": 0, "status_message": "", "attributes": "{}", "events": "[]", "links": "[]",
        "resource": "{}", "scope_name": "", "scope_version": "", "flags": 0, "dropped_attributes_count": 0,
        "dropped_events_count": 0, "dropped_links_count": 0,
    }], schema=ARROW_SCHEMA)  # fmt: skip
    con.register("old", old)
    con.execute("INSERT INTO spans_hot SELECT * FROM old")
    con.close()
    for _ in range(2):
        again = store_at(path)
        assert [(s.name, s.service) for s in again.trace("t1", tid(1))] == [("GET /", "web")]
        assert again._con.execute("SELECT count(*) FROM spans_hot").fetchone() == (0,), "the file's table empties"
        again.close()


def test_expired_hot_spans_stay_gone_after_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    store = SpanStore(path, StoreConfig(compact_rows=10**9, retention={"period": "1h"}))
    hour = 3600 * 10**9
    store.append([cols(span(1, 1, start=0), span(2, 1, start=3 * hour))])
    expiry = store.expire(3 * hour + 10)
    assert [(d.tenant, d.segments, d.rows) for d in expiry.deleted] == [("t1", 0, 1)]
    store.append([cols(span(3, 1, start=3 * hour))])
    store.close()
    again = SpanStore(path, StoreConfig(compact_rows=10**9))
    assert again.count() == 2 and again.trace("t1", tid(1)) == []


def test_a_reader_taken_before_a_compaction_sees_every_span_once_after_it(tmp_path: Path) -> None:
    store = store_at(tmp_path / "spans.duckdb")
    store.append([cols(span(1, 1), span(1, 2))])
    store.compact()
    store.append([cols(span(1, 3))])
    reader = store.reader()
    r = reader.relation(ScanHints("t1", 0, FAR, trace_ids=frozenset([tid(1)])))
    store.compact()  # the hot span moves to a segment; a merge then rewrites both segments
    store.merge_small()
    store.append([cols(span(1, 4))])
    got = reader.cursor.execute(f"SELECT span_id FROM {r.sql} AS s ORDER BY span_id", r.params).fetchall()
    assert [s for (s,) in got] == [sid(1), sid(2), sid(3)]
    assert [s.span_id for s in store.trace("t1", tid(1))] == [sid(1), sid(2), sid(3), sid(4)]


def test_small_hot_tables_merge_and_every_span_stays_readable_once(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    store = store_at(path)
    for n in range(1, 41):
        store.append([cols(span(n % 5, n, start=n))])
    assert len(store._state.hot) < 16, "each run of 16 one-span tables became one"
    assert store.count() == 40 and store._state.table.num_rows == 40
    assert [s.span_id for s in store.trace("t1", tid(2))] == [sid(n) for n in range(2, 41, 5)]
    assert store.append([cols(span(2, 7))]).duplicates == 1
    store.compact()
    assert (store._state.hot, store.count(), sum(s.rows for s in store.segments)) == ((), 40, 40)
    store.append([cols(span(9, 1))])
    store.close()
    again = store_at(path)
    assert again.count() == 41 and len(again.trace("t1", tid(2))) == 8


def test_hot_tables_merge_one_tier_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tier's run leaves the newer, smaller tables alone: a merged table is not merged again with each new run
    of small ones (which copied a span ~3 times over 200,000 spans instead of ~2)."""
    monkeypatch.setattr(store_module, "_FANOUT", 4)
    monkeypatch.setattr(store_module, "_TIER", (2, 16))
    store = store_at(tmp_path / "spans.duckdb")
    sizes = []
    for n in range(1, 42):
        store.append([cols(span(n % 5, n, start=n))])
        sizes.append(tuple(t.num_rows for t in store._state.hot))
    assert sizes[6] == (4, 1, 1, 1), "3 one-span tables do not drag the 4-span table into a merge"
    assert sizes[16] == (16, 1) and sizes[40] == (16, 16, 4, 4, 1)
    assert store.count() == 41 and [s.span_id for s in store.trace("t1", tid(2))] == [sid(n) for n in range(2, 42, 5)]


def test_flush_leaves_every_span_readable_by_plain_sql_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    store = store_at(path)
    store.append([cols(span(1, 1), span(1, 2))], offsets={(TOPIC, 0): 9})
    store.flush()
    store.append([cols(span(2, 1))])  # after the flush: only in the log
    store.close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchone() == (2, 2)
        assert con.execute("SELECT part, next_offset FROM kafka_offsets").fetchall() == [(0, 9)]
    finally:
        con.close()
    assert store_at(path).count() == 3
