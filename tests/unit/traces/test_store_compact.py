"""Spans store compaction and pruning: every span kept, traces contiguous, no segment holding a match pruned."""

from __future__ import annotations

import tempfile
import threading
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observ.store.config import StoreConfig
from observ.store.relation import ScanHints, in_bounds
from observ.traces import compact as compact_module
from observ.traces.segments import trace_slices
from observ.traces.store import FAR, SpanStore
from tests.unit.traces.helpers import cols, sid, span, tid


def test_trace_finds_its_spans_in_the_hot_table_and_several_segments(tmp_path: Path) -> None:
    store = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=10**9))
    for round_ in range(3):
        store.append([cols(span(1, round_ + 1, start=round_ * 100), span(round_ + 10, 1, start=round_ * 100))])
        store.compact()
    store.append([cols(span(1, 9, start=1000))])
    assert len(store.segments) == 3
    assert [s.span_id for s in store.trace("t1", tid(1))] == [sid(1), sid(2), sid(3), sid(9)]
    assert store.count() == 7
    other = store.reader().relation(ScanHints("t1", 0, FAR, trace_ids=frozenset([tid(11)])))
    assert (other.segments_scanned, other.segments_skipped) == (1, 2)


def test_a_segment_holds_one_tenant_sorted_by_trace_then_start(tmp_path: Path) -> None:
    store = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=10**9))
    store.append([cols(*(span(t, n, start=1000 - 10 * n) for t in (3, 1, 2) for n in (1, 2, 3)))])
    store.append([cols(span(1, 1, tenant="t2"))])
    result = store.compact()
    assert result is not None and result.rows == 10
    by_tenant = {s.tenant: s for s in store.segments}
    assert sorted(by_tenant) == ["t1", "t2"]
    rows = pq.read_table(by_tenant["t1"].path, columns=["trace_id", "start_ns"]).to_pylist()
    assert [(r["trace_id"], r["start_ns"]) for r in rows] == sorted((tid(t), 1000 - 10 * n) for t in (1, 2, 3)
                                                                    for n in (1, 2, 3))  # fmt: skip
    seg = by_tenant["t1"]
    assert (seg.ts_min, seg.ts_max, seg.rows) == (970, 1000, 9)
    assert store.cursor().execute("SELECT count(*) FROM spans_hot").fetchone() == (0,)


def test_each_span_keeps_its_own_resource_through_a_compaction(tmp_path: Path) -> None:
    """Resources are a dictionary per hot table, and compaction sorts by their index across tables whose
    dictionaries differ: every span must come out with the resource it came in with."""
    store = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=10**9))
    want = {}
    for n in range(1, 13):
        resource = {"service.name": f"svc-{n % 5}", "pod": f"pod-{n % 3}"}
        store.append([cols(span(n % 4, n, start=1000 - n, resource=resource))])
        want[sid(n)] = resource
    before = {s.span_id: s.resource for t in range(4) for s in store.trace("t1", tid(t))}
    store.compact()
    after = {s.span_id: s.resource for t in range(4) for s in store.trace("t1", tid(t))}
    assert before == after == want


def test_maybe_compact_runs_once_the_hot_table_is_full(tmp_path: Path) -> None:
    store = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=3))
    store.append([cols(span(1, 1), span(1, 2))])
    store.join_compaction()
    assert store.segments == ()
    store.append([cols(span(1, 3))])  # starts it on its own thread; appends do not wait for it
    store.join_compaction()
    assert len(store.segments) == 1


def test_a_failed_compaction_keeps_every_span_hot_and_removes_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=2, segment_max_rows=1))
    real = compact_module.write_parquet
    calls: list[Path] = []

    def second_fails(*args: object) -> Path:
        if calls:
            raise OSError("disk full")
        calls.append(real(*args))  # type: ignore[arg-type]
        return calls[-1]

    monkeypatch.setattr(compact_module, "write_parquet", second_fails)
    store.append([cols(span(1, 1)), cols(span(2, 1))])  # maybe_compact fails, logs, keeps the rows
    store.join_compaction()
    assert store.segments == ()
    assert not calls[0].exists()
    assert store.cursor().execute("SELECT count(*) FROM spans_hot").fetchone() == (2,)
    monkeypatch.setattr(compact_module, "write_parquet", real)
    result = store.compact()
    assert result is not None and result.rows == 2 and len(store.segments) == 2
    assert [s.span_id for s in store.trace("t1", tid(2))] == [sid(1)]


# --- cutting a compaction into segments never splits a trace ---------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=60), st.integers(1, 12))
def test_trace_slices_cover_every_row_and_never_cut_a_trace(sizes: list[int], max_rows: int) -> None:
    ids = [tid(t) for t, n in enumerate(sizes) for _ in range(n)]
    rows = pa.table({"trace_id": ids, "i": list(range(len(ids)))})
    parts = trace_slices(rows, max_rows)
    assert [i for p in parts for i in p["i"].to_pylist()] == list(range(len(ids)))
    owner = {}
    for k, p in enumerate(parts):
        traces = set(p["trace_id"].to_pylist())
        assert len(p) <= max_rows or len(traces) == 1, "only a trace larger than max_rows makes a larger part"
        for t in traces:
            assert owner.setdefault(t, k) == k, f"trace {t} cut between parts"


# --- pruning never drops a segment holding a match (as tests/unit/test_relation.py for logs) ---------------------

span_st = st.tuples(
    st.sampled_from(["t1", "t2"]),  # tenant
    st.integers(1, 12),  # trace
    st.integers(1, 4),  # span number
    st.integers(0, 2),  # kind
    st.integers(0, 1_000),  # start
    st.integers(0, 50),  # duration
    st.sampled_from(["api", "db", "web"]),
)
step_st = st.one_of(st.lists(span_st, min_size=1, max_size=8), st.just("compact"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step_st, min_size=1, max_size=10), st.integers(1, 6))
def test_no_trace_or_span_in_a_window_is_lost_to_pruning(steps: list, max_rows: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = SpanStore(Path(d) / "spans.duckdb", StoreConfig(compact_rows=10**9, segment_max_rows=max_rows))
        model: dict[tuple[str, str, str, int], tuple[int, int]] = {}
        for step in steps:
            if step == "compact":
                store.compact()
                continue
            batch = []
            for tenant, trace, n, kind, start, dur, svc in step:
                model.setdefault((tenant, tid(trace), sid(n), kind), (start, start + dur))
                batch.append(span(trace, n, start=start, end_ns=start + dur, kind=kind, service=svc, tenant=tenant))
            by_tenant = {t: [s for s in batch if s.tenant == t] for t in {s.tenant for s in batch}}
            store.append([cols(*spans) for spans in by_tenant.values()])
        store.compact()
        assert store.count() == len(model)
        cur = store.cursor()
        for tenant in ("t1", "t2"):
            for trace in range(1, 13):
                got = {(s.span_id, s.kind): (s.start_ns, s.end_ns) for s in store.trace(tenant, tid(trace))}
                want = {(k[2], k[3]): v for k, v in model.items() if k[:2] == (tenant, tid(trace))}
                assert got == want
            # windows [t, t + 1) at every span's start and end: the edges where a bound off by one would prune
            for t in sorted({t for k, v in model.items() if k[0] == tenant for t in v}):
                holding = {
                    f
                    for (f,) in cur.execute(
                        "SELECT DISTINCT filename FROM spans_cold WHERE tenant = ? AND start_ns < ? AND end_ns >= ?",
                        [tenant, t + 1, t],
                    ).fetchall()
                }
                kept = {s.path for s in store.segments if in_bounds(s, ScanHints(tenant, t, t + 1))}
                assert holding <= kept, f"window [{t}, {t + 1}) of {tenant}"
        store.close()


def test_readers_see_every_span_once_while_compactions_commit(tmp_path: Path) -> None:
    """A compaction moves spans from the hot table into segments in one transaction: a reader's trace() never
    sees a span twice or misses one that was stored before it began."""
    store = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=10**9))
    store.append([cols(span(1, 1))])
    stop = threading.Event()
    seen: list[list[str]] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                seen.append([s.span_id for s in store.trace("t1", tid(1))])
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(2, 12):
            store.append([cols(span(1, n, start=n), span(100 + n, 1))])
            store.compact()
    finally:
        stop.set()
        reader.join()
    assert not errors
    assert seen
    for before, ids in pairwise([[], *seen]):
        assert len(ids) == len(set(ids)), "a span seen twice"
        assert ids == [sid(n) for n in range(1, len(ids) + 1)], "a stored span missing"
        assert len(ids) >= len(before), "a later read lost spans"
    assert [s.span_id for s in store.trace("t1", tid(1))] == [sid(n) for n in range(1, 12)]


def test_a_missing_segment_file_is_logged_and_the_rest_still_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=10**9))
    store.append([cols(span(1, 1))])
    store.compact()
    store.append([cols(span(1, 2))])
    store.compact()
    store.close()
    Path(store.segments[0].path).unlink()
    again = SpanStore(tmp_path / "spans.duckdb")
    assert "span segment 1" in caplog.text and "file is missing" in caplog.text
    assert [s.span_id for s in again.trace("t1", tid(1))] == [sid(2)]


def test_an_in_memory_store_keeps_spans_hot() -> None:
    store = SpanStore(":memory:", StoreConfig(compact_rows=1))
    store.append([cols(span(1, 1), span(1, 2))])
    assert store.compact() is None and store.segments == ()
    assert [s.span_id for s in store.trace("t1", tid(1))] == [sid(1), sid(2)]
