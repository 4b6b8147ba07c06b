"""The catalog's vectorised pruning keeps exactly what the per-segment predicate keeps, and a relation that reads its
kept files by path answers every row once whatever compactions, merges and expiries commit before its query."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observ.logql.engine import Engine
from observ.logql.results import Vector
from observ.store.config import MergeConfig, RetentionConfig, StoreConfig
from observ.store.filters import GramFilter, GramParams, TraceFilter
from observ.store.logstore import LogStore
from observ.store.querier import LogQuerier
from observ.store.relation import TAIL_CHANGES, Catalog, Relation, ScanHints, holds_needles, may_match
from observ.store.segments import Segment
from tests.unit.test_segments import all_lines, batch

FAR = 2**63 - 1
PARAMS = GramParams(k=3, window=2)
TENANTS = ("t1", "t2", "t3")
SERVICES = ("api", "db", "web")
WORDS = ("alpha", "beta", "gamma", "delta")

segment_st = st.builds(
    lambda tenant, lo, span, services, traces, words, i: (tenant, lo, lo + span, services, traces, words, i),
    st.sampled_from(TENANTS),
    st.integers(-5, 100),
    st.integers(0, 30),
    st.frozensets(st.sampled_from(SERVICES), min_size=1),
    st.frozensets(st.sampled_from(("tr-a", "tr-b", "tr-c"))),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
    st.integers(0, 9),
)
hints_st = st.builds(
    lambda tenant, start, width, services, traces, needles: ScanHints(
        tenant, start, start + width, services, traces, tuple(needles)
    ),
    st.sampled_from((*TENANTS, "nobody")),
    st.integers(-10, 130) | st.just(0),
    st.integers(0, 40) | st.just(FAR),
    st.none() | st.frozensets(st.sampled_from((*SERVICES, "x"))),
    st.none() | st.frozensets(st.sampled_from(("tr-a", "tr-b", "tr-z"))),
    st.lists(st.sampled_from([f"{w} {n}" for w in WORDS for n in range(10)]), max_size=2),
)


def segment(seg_id: int, tenant: str, lo: int, hi: int, services: frozenset[str], traces: frozenset[str],
            words: list[str], n: int) -> Segment:  # fmt: skip
    lines = pa.array([f"{w} {n} line" for w in words])
    return Segment(
        seg_id, f"/seg-{seg_id:012d}.parquet", tenant, services, lo, hi, len(words), 100, TraceFilter.build(traces),
        GramFilter.build(lines, PARAMS),
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(segment_st, max_size=40), hints_st)
def test_vectorised_pruning_keeps_exactly_what_the_per_segment_predicate_keeps(
    specs: list[tuple[str, int, int, frozenset[str], frozenset[str], list[str], int]], hints: ScanHints
) -> None:
    segs = [segment(i + 1, *spec) for i, spec in enumerate(specs)]
    kept = Catalog(tuple(segs)).prune(hints, holds_needles)
    assert kept == [s for s in segs if may_match(s, hints)]


def test_the_store_prunes_as_the_per_segment_predicate(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "observ.duckdb", StoreConfig(segment_min_rows=1))
    for k in range(8):
        store.append([batch(SERVICES[k % 3], 10, start=k * 100, source=f"s{k}", tenant=TENANTS[k % 2])])
        store.compact()
    for hints in (ScanHints("t1", 1_000, 1_250), ScanHints("t2", 0, FAR, needles=("request 00000305",)),
                  ScanHints("t1", 0, FAR, services=frozenset({"web"})), ScanHints("t3", 0, FAR)):  # fmt: skip
        want = [s for s in store.segments if may_match(s, hints)]
        r = store.relation(hints)
        assert (r.segments_scanned, r.segments_skipped) == (len(want), len(store.segments) - len(want))
        assert all((f"'{s.path}'" in r.sql) == (s in want) for s in store.segments)


# --- consistency -------------------------------------------------------------------------------------------------


def merging(tmp_path: Path, retention_s: float = 0) -> LogStore:
    """Five one-batch segments of t1 (ts 1000+100k .. +9), small enough to merge, and ten hot rows (ts 1600..)."""
    config = StoreConfig(segment_min_rows=1, merge=MergeConfig(), retention=RetentionConfig(period=retention_s))
    store = LogStore(tmp_path / "observ.duckdb", config)
    for k in range(5):
        store.append([batch("api", 10, start=k * 100, source=f"s{k}")])
        store.compact()
    store.append([batch("api", 10, start=600, source="hot")])
    return store


def count(store: LogStore, hints: ScanHints, cur: duckdb.DuckDBPyConnection | None = None) -> int:
    r = store.relation(hints)
    return rows_of(store, r, cur)


def rows_of(store: LogStore, r: Relation, cur: duckdb.DuckDBPyConnection | None = None) -> int:
    row = (cur or store.cursor()).execute(f"SELECT count(*) FROM {r.sql} AS l WHERE tenant = 't1'", r.params).fetchone()
    assert row is not None
    return int(row[0])


def test_a_relation_reading_merged_files_by_path_reads_every_row_once_after_the_merge(tmp_path: Path) -> None:
    store = merging(tmp_path)
    pruned = store.relation(ScanHints("t1", 1_100, 1_310))  # segments 2 to 4 by path, and the hot rows
    whole = store.relation(ScanHints("t1", 0, FAR))
    assert pruned.segments_scanned == 3 and whole.segments_scanned == 5
    store.merge_small()  # the five files leave the catalog (still on disk); the merged one holds their rows
    assert rows_of(store, whole) == 60, "the merged file replaces the five, not added to them"
    assert rows_of(store, pruned) == 60, "the kept files are gone from the catalog: the merged one is read whole"
    store.append([batch("api", 10, start=700, source="late")])
    store.compact()
    assert rows_of(store, whole) == 70
    assert all_lines(store) == sorted(f"api request {i:08d} done" for k in (*range(5), 6, 7)
                                      for i in range(k * 100, k * 100 + 10))  # fmt: skip


def test_a_reader_transaction_older_than_a_compaction_never_reads_its_files_beside_the_hot_rows(
    tmp_path: Path,
) -> None:
    store = merging(tmp_path)
    reader = store.cursor()
    reader.execute("BEGIN TRANSACTION")
    assert count(store, ScanHints("t1", 0, FAR), reader) == 60
    store.compact()
    # built on the new catalog, run in the old snapshot: the hot rows are still hot there, the new file unknown
    assert count(store, ScanHints("t1", 0, FAR), reader) == 60
    assert count(store, ScanHints("t1", 1_600, 1_610), reader) == 10
    reader.execute("COMMIT")
    assert count(store, ScanHints("t1", 0, FAR), reader) == 60


def test_a_relation_lagging_more_compactions_than_the_tail_holds_fails_instead_of_missing_rows(tmp_path: Path) -> None:
    store = merging(tmp_path)
    hints = ScanHints("t1", 0, FAR)
    early = store.relation(hints)
    for k in range(TAIL_CHANGES):
        store.compact()
        store.append([batch("api", 10, start=700 + k * 100, source=f"late{k}")])
    assert rows_of(store, early) == 60 + 10 * TAIL_CHANGES, "every file since is in the tail"
    store.compact()
    with pytest.raises(duckdb.InvalidInputException, match="segment catalog moved on"):
        rows_of(store, early)
    assert count(store, hints) == 60 + 10 * TAIL_CHANGES


def test_expiry_drops_kept_files_from_a_relation_built_before_it(tmp_path: Path) -> None:
    store = merging(tmp_path, retention_s=10)
    r = store.relation(ScanHints("t1", 0, FAR))
    store.expire(1_250 + 10 * 10**9)
    assert [s.ts_min for s in store.segments] == [1_300, 1_400]
    assert rows_of(store, r) == 30, "what a query started after the expiry sees, as through the cold view"


def test_a_logql_query_whose_catalog_was_outrun_is_planned_again_and_answers_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = merging(tmp_path)
    for k in range(TAIL_CHANGES):
        store.append([batch("api", 10, start=700 + k * 100, source=f"late{k}")])
    relation, outrun = store.relation, []

    def then_compact_past_the_tail(hints: ScanHints) -> Relation:
        r = relation(hints)
        if not outrun:  # the first plan only: more compactions commit before its statement runs than the tail holds
            outrun.append(r)
            for k in range(TAIL_CHANGES + 1):
                store.append([batch("api", 1, start=2_000 + k, source=f"more{k}")])
                store.compact()
        return r

    monkeypatch.setattr(store, "relation", then_compact_past_the_tail)
    got = Engine(LogQuerier(store)).query_instant('sum(count_over_time({service="api"}[1h]))', tenant="t1",
                                                  time_ns=3_600 * 10**9)  # fmt: skip
    assert isinstance(got.data, Vector) and outrun
    assert [s.value for s in got.data.samples] == [60 + 10 * TAIL_CHANGES + TAIL_CHANGES + 1]
