"""Segments: compaction writes and registers them atomically, startup cleans what a crash left, filters never lie."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observ.model import DecodedBatch, Stream
from observ.store import compact as compact_mod
from observ.store.config import StoreConfig
from observ.store.filters import GramFilter, GramParams, TraceFilter
from observ.store.logstore import LogStore
from observ.store.relation import ScanHints
from observ.store.schema import LOG_COLUMNS
from observ.store.segments import ParquetOptions, segment_name, write_parquet

ALL = (0, 2**63 - 1)


def batch(service: str, n: int, start: int = 0, source: str = "src", tenant: str = "t1") -> DecodedBatch:
    """n entries of one stream; the line names its row so lost or doubled rows show."""
    return DecodedBatch(
        stream=Stream(tenant=tenant, service=service, pod=f"{service}-0"),
        source=source,
        observed_ts=1,
        ts=[1_000 + start + i for i in range(n)],
        level=["info"] * n,
        trace_id=[f"{service}{(start + i) // 3:030x}" if i % 2 else "" for i in range(n)],
        span_id=[""] * n,
        end=[(start + i + 1) * 10 for i in range(n)],
        line=[f"{service} request {start + i:08d} done" for i in range(n)],
    )


def store_at(path: Path, **config: int) -> LogStore:
    return LogStore(path / "observ.duckdb", StoreConfig(**{"segment_min_rows": 1, **config}))


def all_lines(store: LogStore, tenant: str = "t1") -> list[str]:
    rel = store.relation(ScanHints(tenant, *ALL))
    rows = store.cursor().execute(
        f"SELECT line FROM {rel.sql} AS l WHERE tenant = ? ORDER BY line", [*rel.params, tenant]
    )
    return [r[0] for r in rows.fetchall()]


def test_compaction_moves_hot_rows_into_registered_segments(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.append([batch("api", 30), batch("web", 20)])
    before = all_lines(store)
    result = store.compact()
    assert result is not None and result.rows == 50
    assert [sorted(s.services) for s in store.segments] == [["api"], ["web"]]
    assert store.cursor().execute("SELECT count(*) FROM logs_hot").fetchone() == (0,)
    assert store.count() == 50
    # plain SQL over the view `logs` still sees every row
    assert [r[0] for r in store.cursor().execute("SELECT line FROM logs ORDER BY line").fetchall()] == before
    assert all_lines(store) == before
    registered = (
        store.cursor().execute("SELECT path, tenant, rows, ts_min, ts_max FROM segments ORDER BY id").fetchall()
    )
    assert registered == [(segment_name(1), "t1", 30, 1_000, 1_029), (segment_name(2), "t1", 20, 1_000, 1_019)]
    assert sorted(p.name for p in (tmp_path / "segments").iterdir()) == [segment_name(1), segment_name(2)]
    assert store.services("t1") == [
        {"service": "api", "lines": 30, "last_ts": "1029"},
        {"service": "web", "lines": 20, "last_ts": "1019"},
    ]
    assert [r["line"] for r in store.recent("web", limit=2, tenant="t1")] == [
        "web request 00000019 done",
        "web request 00000018 done",
    ]


def test_segments_and_hot_rows_survive_reopen(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.append([batch("api", 10)])
    store.compact()
    store.append([batch("api", 5, start=10)])
    before = all_lines(store)
    store.close()
    again = store_at(tmp_path)
    assert len(again.segments) == 1
    assert again.count() == 15
    assert all_lines(again) == before
    again.append([batch("api", 5, start=15)])
    again.compact()
    assert [s.id for s in again.segments] == [1, 2]


def test_small_services_share_a_segment_and_large_groups_are_split(tmp_path: Path) -> None:
    store = store_at(tmp_path, segment_min_rows=10, segment_max_rows=25)
    store.append([batch("big", 60), batch("a", 3), batch("b", 4)])
    store.compact()
    shape = sorted((sorted(s.services), s.rows) for s in store.segments)
    assert shape == [(["a", "b"], 7), (["big"], 20), (["big"], 20), (["big"], 20)]


def test_compaction_is_triggered_by_the_hot_row_count(tmp_path: Path) -> None:
    store = store_at(tmp_path, compact_rows=40)
    store.append([batch("api", 30)])
    assert store.segments == ()
    store.append([batch("api", 10, start=30)])  # starts it on a thread of its own
    store.join_compaction()
    assert len(store.segments) == 1
    assert store.count() == 40


def test_orphans_of_a_crash_before_commit_are_removed_on_start(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.append([batch("api", 10)])
    store.compact()
    seg_dir = tmp_path / "segments"
    # a crash after the rename but before the registering transaction, and one mid-write
    rows = pa.table({"line": ["x"]})
    orphan = write_parquet(store.cursor(), rows, seg_dir, 7, ParquetOptions())
    (seg_dir / f".tmp-{segment_name(8)}").write_bytes(b"partial")
    store.close()
    again = store_at(tmp_path)
    assert not orphan.exists()
    assert sorted(p.name for p in seg_dir.iterdir()) == [segment_name(1)]
    assert again.count() == 10
    assert all_lines(again) == [f"api request {i:08d} done" for i in range(10)]


def test_failed_registration_keeps_rows_hot_and_removes_the_new_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(*args: object) -> None:
        raise OSError("disk full")

    store = store_at(tmp_path, compact_rows=8)
    monkeypatch.setattr(compact_mod, "register", fail)
    with caplog.at_level(logging.ERROR):
        store.append([batch("api", 10)])
        store.join_compaction()
    assert "compaction failed" in caplog.text
    assert store.segments == ()
    assert list((tmp_path / "segments").iterdir()) == []
    assert store.cursor().execute("SELECT count(*) FROM logs_hot").fetchone() == (10,)
    assert store.cursor().execute("SELECT count(*) FROM segments").fetchone() == (0,)
    monkeypatch.undo()
    store.append([batch("api", 1, start=10)])  # below the retry threshold: still hot
    assert store.segments == ()
    assert store.compact() is not None
    assert store.count() == 11


def test_a_missing_segment_file_is_logged_and_left_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = store_at(tmp_path)
    store.append([batch("api", 10), batch("web", 4)])
    store.compact()
    store.close()
    (tmp_path / "segments" / segment_name(1)).unlink()
    with caplog.at_level(logging.ERROR):
        again = store_at(tmp_path)
    assert "missing" in caplog.text
    assert [s.id for s in again.segments] == [2]
    assert all_lines(again) == [f"web request {i:08d} done" for i in range(4)]


def test_a_version_1_file_keeps_its_rows_as_the_hot_table(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "observ.duckdb"))
    cols = ", ".join(f"{c} BIGINT" if c in ("ts", "observed_ts") else f"{c} VARCHAR" for c in LOG_COLUMNS[:-1])
    con.execute(f"CREATE TABLE logs ({cols})")  # version 1 had no metadata
    con.execute("INSERT INTO logs VALUES ('t1', 5, 5, 'api', '', '', '', 'stdout', '', '', '', '{}', 'old line')")
    con.close()
    store = store_at(tmp_path)
    assert all_lines(store) == ["old line"]
    store.append([batch("api", 2)])
    store.compact()
    assert all_lines(store) == ["api request 00000000 done", "api request 00000001 done", "old line"]


def test_data_directory_with_a_quote_in_its_name(tmp_path: Path) -> None:
    store = store_at(tmp_path / "it's here")
    store.append([batch("api", 3)])
    store.compact()
    assert all_lines(store) == [f"api request {i:08d} done" for i in range(3)]


def test_in_memory_store_has_no_segments(tmp_path: Path) -> None:
    store = LogStore(":memory:", StoreConfig(compact_rows=1))
    store.append([batch("api", 3)])
    assert store.compact() is None
    assert all_lines(store) == [f"api request {i:08d} done" for i in range(3)]


def test_pushed_copies_are_kept_once_hot_or_compacted_and_never_touch_source_ranges(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    first = store.append([batch("api", 3, source="")])
    again = store.append([batch("api", 3, source="")])
    assert (first.inserted, again.inserted, again.duplicates) == (3, 0, 3)
    store.compact()
    overlapping = store.append([batch("api", 5, source="")])
    assert (overlapping.inserted, overlapping.duplicates) == (2, 3)
    assert store.cursor().execute("SELECT count(*) FROM source_ranges").fetchone() == (0,)
    filed = store.append([batch("api", 3, source="f")])
    replay = store.append([batch("api", 3, source="f")])
    assert (filed.inserted, replay.inserted, replay.duplicates) == (3, 0, 3)


# --- filters ---------------------------------------------------------------------------------------------------

lines_st = st.lists(st.text(alphabet="ab01:_- x\u00e9", min_size=0, max_size=40), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(lines_st, st.data(), st.sampled_from([GramParams(), GramParams(k=3, window=2), GramParams(k=6, window=6)]))
def test_gram_filter_never_rejects_a_substring_of_a_line(lines: list[str], data: st.DataObject, p: GramParams) -> None:
    f = GramFilter.build(pa.array(lines), p)
    line = data.draw(st.sampled_from(lines))
    start = data.draw(st.integers(0, len(line)))
    end = data.draw(st.integers(start, len(line)))
    assert f.may_contain(line[start:end])


def test_gram_filter_rejects_absent_long_needles() -> None:
    lines = pa.array([f"GET /api/orders/{i:06d} 200 took {i % 97}ms" for i in range(20_000)])
    f = GramFilter.build(lines)
    assert f.may_contain("/api/orders/012345 200")
    absent = [f"user-{i:012d}-missing" for i in range(200)]
    assert sum(f.may_contain(n) for n in absent) <= 10
    assert len(f.bits) < 20_000 * 4


def test_gram_filter_handles_sliced_and_chunked_arrays() -> None:
    arr = pa.chunked_array([pa.array(["zzzz", "alpha-bravo-charlie"]), pa.array(["delta-echo-foxtrot"])])
    f = GramFilter.build(arr.slice(1))
    assert f.may_contain("alpha-bravo-charlie") and f.may_contain("delta-echo-foxtrot")
    large = GramFilter.build(pa.array(["alpha-bravo-charlie"], type=pa.large_string()))
    assert large.may_contain("bravo-charlie")


@given(st.lists(st.text(min_size=1, max_size=40), min_size=0, max_size=50), st.text(min_size=1, max_size=40))
def test_trace_filter_holds_every_trace_it_was_built_from(ids: list[str], other: str) -> None:
    f = TraceFilter.build([*ids, ""])
    for t in ids:
        assert f.may_contain_any([other, t])
    assert not f.may_contain_any([])
    if not ids:
        assert not f.may_contain_any([other])
