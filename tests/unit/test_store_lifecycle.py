"""Store lifecycle: which segments retention deletes per tenant, how small segments are grouped for merging, and
that both change the catalog in one transaction while files stay until no reader can hold them."""

from __future__ import annotations

import errno
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from observ.api.config import ServeConfig
from observ.store import segments as segfiles
from observ.store.config import MergeConfig, RetentionConfig, StoreConfig, StoreSettings
from observ.store.lifecycle import Graveyard, LifecycleMetrics, Maintainer, start_maintenance
from observ.store.logstore import LogStore
from observ.store.merge import Merged, plan
from observ.store.relation import ScanHints
from observ.store.retention import Deleted, Expiry, expired, tally
from observ.traces.store import FAR, SpanStore
from tests.unit.test_segments import all_lines, batch
from tests.unit.traces.helpers import cols, span, tid

S = 1_000_000_000


@dataclass(frozen=True)
class Seg:
    id: int
    tenant: str
    ts_min: int
    ts_max: int
    rows: int = 10
    bytes: int = 100
    path: str = field(default="")


# --- planning ---------------------------------------------------------------------------------------------------


def test_retention_cutoff_is_per_tenant_and_zero_keeps_forever() -> None:
    cfg = RetentionConfig.model_validate({"period": "1h", "tenants": {"short": "10m", "forever": 0}})
    now = 10 * 3600 * S
    assert cfg.cutoff("anyone", now) == now - 3600 * S
    assert cfg.cutoff("short", now) == now - 600 * S
    assert cfg.cutoff("forever", now) is None
    assert RetentionConfig().cutoff("anyone", now) is None


def test_expired_segments_are_those_entirely_older_than_their_tenants_cutoff() -> None:
    cutoffs = {"a": 1000, "b": 500, "keep": None}
    segs = [
        Seg(1, "a", 0, 999),  # all older than a's cutoff
        Seg(2, "a", 900, 1000),  # straddles (newest row at the cutoff): kept whole
        Seg(3, "b", 0, 999),  # b's cutoff is earlier
        Seg(4, "b", 0, 499),
        Seg(5, "keep", 0, 1),
    ]
    assert [s.id for s in expired(segs, cutoffs.__getitem__)] == [1, 4]


def test_tally_counts_segments_and_hot_rows_per_tenant() -> None:
    gone = [Seg(1, "a", 0, 1, rows=10, bytes=100), Seg(2, "a", 0, 1, rows=5, bytes=50), Seg(3, "b", 0, 1)]
    assert tally(gone, {"a": 3, "c": 7, "d": 0}) == [
        Deleted("a", 2, 18, 150),
        Deleted("b", 1, 10, 100),
        Deleted("c", 0, 7, 0),
    ]


def test_merge_plan_packs_small_segments_of_one_tenant_in_time_order() -> None:
    segs = [
        Seg(1, "a", 300, 399, bytes=40),
        Seg(2, "a", 100, 199, bytes=40),
        Seg(3, "a", 200, 299, bytes=500),  # not small
        Seg(4, "b", 0, 99, bytes=40),  # alone in its tenant: nothing to merge with
        Seg(5, "a", 0, 99, bytes=40),
        Seg(6, "a", 400, 499, bytes=40),
        Seg(7, "a", 500, 599, bytes=40),
    ]
    groups = plan(segs, small_bytes=100, target_bytes=130, max_rows=1000, max_groups=10)
    assert [[s.id for s in g] for g in groups] == [[5, 2, 1], [6, 7]]


def test_merge_plan_respects_the_row_cap_and_the_groups_per_run() -> None:
    segs = [Seg(i, "a", i * 10, i * 10 + 9, rows=30) for i in range(1, 9)]
    assert [[s.id for s in g] for g in plan(segs, 1000, 10**9, max_rows=60, max_groups=10)] == [
        [1, 2], [3, 4], [5, 6], [7, 8],
    ]  # fmt: skip
    assert [[s.id for s in g] for g in plan(segs, 1000, 10**9, max_rows=60, max_groups=2)] == [[1, 2], [3, 4]]
    assert plan(segs, 0, 10**9, max_rows=60, max_groups=10) == []


def test_graveyard_unlinks_files_only_once_their_delay_passed(tmp_path: Path) -> None:
    now = [0.0]
    grave = Graveyard(10, clock=lambda: now[0])
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("x")
    b.write_text("x")
    grave.bury([str(a)])
    now[0] = 5
    grave.bury([str(b)])
    assert grave.sweep() == [] and a.exists()
    now[0] = 10
    assert grave.sweep() == [str(a)] and not a.exists() and b.exists()
    assert grave.sweep(everything=True) == [str(b)] and not b.exists()


# --- config -----------------------------------------------------------------------------------------------------


def test_store_settings_take_loki_durations_and_keep_the_spans_defaults() -> None:
    s = StoreSettings.model_validate(
        {"logs": {"retention": {"period": "744h"}}, "spans": {"compact_rows": 5}, "delete_delay_s": "5m"}
    )
    assert s.logs.retention.period == 744 * 3600
    assert (s.spans.compact_rows, s.spans.zstd_level, s.logs.zstd_level) == (5, 3, 9)
    assert s.delete_delay_s == 300
    assert StoreSettings().spans.zstd_level == 3


@pytest.mark.parametrize(
    ("values", "where", "says"),
    [
        ({"logs": {"retention": {"period": "30 days"}}}, ("logs", "retention", "period"), "not a duration"),
        ({"logs": {"retention": {"tenants": {"a": "-1h"}}}}, ("logs", "retention", "tenants", "a"), "greater than"),
        ({"spans": {"merge": {"small_bytes": -1}}}, ("spans", "merge", "small_bytes"), "greater than"),
        ({"logs": {"retention": {"perod": "1h"}}}, ("logs", "retention", "perod"), "Extra inputs"),
    ],
)
def test_bad_store_settings_say_what_and_where(values: dict, where: tuple[str, ...], says: str) -> None:
    with pytest.raises(ValidationError) as info:
        StoreSettings.model_validate(values)
    (err,) = info.value.errors()
    assert err["loc"] == where and says in err["msg"]


# --- the logs store ---------------------------------------------------------------------------------------------


def segmented(tmp_path: Path, **retention: object) -> LogStore:
    """Five one-batch segments of tenant t1 (ts 1000+100k .. +9), one of t2, and hot rows of both."""
    store = LogStore(
        tmp_path / "observ.duckdb",
        StoreConfig(segment_min_rows=1, retention=RetentionConfig.model_validate(retention), merge=MergeConfig()),
    )
    for k in range(5):
        store.append([batch("api", 10, start=k * 100, source=f"s{k}")])
        store.compact()
    store.append([batch("api", 10, start=0, source="t2", tenant="t2")])
    store.compact()
    store.append([batch("api", 10, start=600, source="h"), batch("api", 10, start=600, source="h2", tenant="t2")])
    return store


def test_retention_deletes_old_segments_and_hot_rows_of_each_tenant_by_its_own_period(tmp_path: Path) -> None:
    # now 2000 ns; t1 keeps 650 ns (cutoff 1350), t2 forever
    store = segmented(tmp_path, period=650e-9, tenants={"t2": 0})
    paths = [s.path for s in store.segments]
    dry = store.expire(2000, dry_run=True)
    assert dry.paths == [] and len(store.segments) == 6 and store.count() == 80
    expiry = store.expire(2000)
    assert expiry.deleted == dry.deleted
    # segments 1-3 (ts_max 1009, 1109, 1209) go; 4 (1300..1309) too; 5 (1400..1409) stays; hot 1600.. stays
    assert [d.tenant for d in expiry.deleted] == ["t1"] and expiry.deleted[0].segments == 4
    assert expiry.deleted[0].rows == 40
    assert expiry.paths == paths[:4]
    assert [s.id for s in store.segments] == [5, 6]
    assert len(all_lines(store)) == 20 and len(all_lines(store, "t2")) == 20
    assert store.cursor().execute("SELECT count(*) FROM segments").fetchone() == (2,)
    assert store.cursor().execute("SELECT count(DISTINCT segment_id) FROM segment_services").fetchone() == (2,)
    assert all(Path(p).exists() for p in expiry.paths), "files stay until the caller's delay passed"
    later = store.expire(1000 + 1000 + 650 + 10)  # now the hot rows (ts 1600..1609) are older than the cutoff
    assert later.deleted == [Deleted("t1", 1, 20, later.deleted[0].bytes)]
    assert store.count() == 20 and store._hot_rows == 10


def test_unregistered_files_are_orphans_on_the_next_open(tmp_path: Path) -> None:
    store = segmented(tmp_path, period=1e-9, tenants={"t2": 0})
    expiry = store.expire(10**6)
    store.close()
    assert all(Path(p).exists() for p in expiry.paths)
    reopened = LogStore(tmp_path / "observ.duckdb")
    assert not any(Path(p).exists() for p in expiry.paths)
    assert reopened.count() == 20  # t2's, kept forever
    reopened.close()


def test_merge_keeps_every_row_sorted_as_compaction_sorts_and_swaps_the_catalog(tmp_path: Path) -> None:
    store = segmented(tmp_path)
    before = all_lines(store)
    merged = store.merge_small()
    assert [(m.tenant, m.sources, m.segment) for m in merged] == [("t1", [1, 2, 3, 4, 5], 7)]
    assert [s.id for s in store.segments] == [6, 7]
    assert all_lines(store) == before
    seg = store.segments[-1]
    assert (seg.rows, seg.ts_min, seg.ts_max, seg.services) == (50, 1000, 1409, frozenset({"api"}))
    ts = [t for (t,) in store.cursor().execute("SELECT ts FROM read_parquet(?)", [seg.path]).fetchall()]
    assert ts == sorted(ts)
    assert seg.traces.may_contain_any(frozenset([f"api{(400 + 1) // 3:030x}"]))
    assert seg.grams.may_contain("api request 00000407 done")
    assert store.cursor().execute("SELECT list(id ORDER BY id) FROM segments").fetchone() == ([6, 7],)


def test_a_relation_built_before_a_merge_still_finds_every_row_after_it(tmp_path: Path) -> None:
    """The query of a relation pruned on the old catalog runs after the swap: the merged file's id is above every
    id that catalog knew (it is named at commit), so `filename > newest` keeps it."""
    store = segmented(tmp_path)
    r = store.relation(ScanHints("t1", 1100, 1110))  # prunes to segment 2
    assert r.segments_skipped > 0
    store.merge_small()
    store.append([batch("api", 10, start=800, source="late")])
    store.compact()  # a compaction after the merge: its segment sorts after the merged one
    rows = store.cursor().execute(
        f"SELECT count(*) FROM {r.sql} AS l WHERE tenant = 't1' AND ts >= 1100 AND ts < 1110", r.params
    )
    assert rows.fetchone() == (10,)


def test_a_reader_holding_the_old_files_reads_them_until_the_graveyard_lets_go(tmp_path: Path) -> None:
    store = segmented(tmp_path)
    reader = store.cursor()
    reader.execute("BEGIN TRANSACTION")
    count = "SELECT count(*) FROM logs_cold WHERE tenant = 't1'"
    assert reader.execute(count).fetchone() == (50,)
    now = [0.0]
    grave = Graveyard(60, clock=lambda: now[0])
    for m in store.merge_small():
        grave.bury(m.paths)
    grave.sweep()
    assert reader.execute(count).fetchone() == (50,), "its snapshot names the old files, still on disk"
    reader.execute("COMMIT")
    assert store.cursor().execute(count).fetchone() == (50,)
    now[0] = 60
    assert len(grave.sweep()) == 5
    assert store.cursor().execute(count).fetchone() == (50,)


def test_a_failed_merge_leaves_the_store_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = segmented(tmp_path)
    before = (store.segments, all_lines(store), sorted(p.name for p in store.segments_dir.iterdir()))  # type: ignore[union-attr]

    def full(*_: object) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(segfiles, "write_unplaced", full)
    with pytest.raises(OSError):
        store.merge_small()
    monkeypatch.undo()

    def failing_register(*_: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(segfiles, "register", failing_register)
    with pytest.raises(OSError):
        store.merge_small()
    after = (store.segments, all_lines(store), sorted(p.name for p in store.segments_dir.iterdir()))  # type: ignore[union-attr]
    assert after == before
    assert store.cursor().execute("SELECT count(*) FROM segments").fetchone() == (6,)
    monkeypatch.undo()
    assert [m.segment for m in store.merge_small()] == [7], "the id of the failed attempt is free again"


# --- the spans store --------------------------------------------------------------------------------------------


def spans_store(tmp_path: Path, **retention: object) -> SpanStore:
    """Traces 1-4 of t1 in four segments (starts 100k, ending +10), trace 9 of t2 in one, trace 5 hot."""
    cfg = StoreConfig(zstd_level=3, retention=RetentionConfig.model_validate(retention))
    store = SpanStore(tmp_path / "spans.duckdb", cfg)
    for t in range(1, 5):
        store.append([cols(span(t, 1, start=t * 100), span(t, 2, start=t * 100 + 1))])
        store.compact()
    store.append([cols(span(9, 1, start=0, tenant="t2"))])
    store.compact()
    store.append([cols(span(5, 1, start=500), span(5, 2, start=501))])
    return store


def test_span_retention_deletes_segments_and_hot_spans_that_ended_before_the_cutoff(tmp_path: Path) -> None:
    store = spans_store(tmp_path, period=300e-9, tenants={"t2": 0})
    expiry = store.expire(700)  # cutoff 400: traces 1-2 (end <= 211) and 3 (end 311) go; 4 (400..411) stays
    assert expiry.deleted == [Deleted("t1", 3, 6, expiry.deleted[0].bytes)]
    assert [store.trace("t1", tid(t)) != [] for t in (1, 2, 3, 4, 5)] == [False, False, False, True, True]
    assert len(store.trace("t2", tid(9))) == 1
    expiry = store.expire(900)  # cutoff 600: trace 4 and the hot trace 5 (ends 511)
    assert [(d.segments, d.rows) for d in expiry.deleted] == [(1, 4)]
    assert store.count() == 1 and store._hot_rows == 0 and not store._hot_keys
    store.append([cols(span(5, 1, start=500))])  # no longer stored: appended anew
    assert len(store.trace("t1", tid(5))) == 1


def test_span_merge_keeps_every_span_and_traces_contiguous(tmp_path: Path) -> None:
    store = spans_store(tmp_path)
    before = {t: store.trace("t1", tid(t)) for t in range(1, 6)}
    merged = store.merge_small()
    assert [(m.tenant, m.sources) for m in merged] == [("t1", [1, 2, 3, 4])]
    assert [s.id for s in store.segments] == [5, 6]
    assert {t: store.trace("t1", tid(t)) for t in range(1, 6)} == before
    seg = store.segments[-1]
    assert (seg.rows, seg.ts_min, seg.ts_max) == (8, 100, 411)
    ids = [t for (t,) in store.cursor().execute("SELECT trace_id FROM read_parquet(?)", [seg.path]).fetchall()]
    assert ids == sorted(ids)
    store.append([cols(span(1, 1, start=100))])  # a re-sent span found in the merged segment: stored once
    assert len(store.trace("t1", tid(1))) == 2
    assert store.reader().relation(ScanHints("t1", 0, FAR, trace_ids=frozenset([tid(2)]))).segments_scanned == 1


# --- the maintainer ---------------------------------------------------------------------------------------------


class Broken:
    def expire(self, now_ns: int, *, dry_run: bool = False) -> Expiry:
        raise OSError(errno.ENOSPC, "No space left on device")

    def merge_small(self, *, dry_run: bool = False) -> list[Merged]:
        return []

    def close(self) -> None:
        pass


def test_a_maintenance_round_counts_what_it_deleted_and_survives_a_failing_store(tmp_path: Path) -> None:
    store = segmented(tmp_path, period=650e-9, tenants={"t2": 0})
    registry = CollectorRegistry()
    now = [0.0]
    grave = Graveyard(1, clock=lambda: now[0])
    maint = Maintainer({"broken": Broken(), "logs": store}, grave, LifecycleMetrics(registry), 1, clock_ns=lambda: 2000)
    done = maint.run_once()
    assert done.failed == ["broken retention"]
    assert [s.id for s in store.segments] == [5, 6]  # 1-4 expired; 5 is t1's only small segment: nothing to merge
    value = registry.get_sample_value
    assert value("observ_store_retention_deleted_segments_total", {"store": "logs", "tenant": "t1"}) == 4
    assert value("observ_store_retention_deleted_rows_total", {"store": "logs", "tenant": "t1"}) == 40
    assert value("observ_store_maintenance_errors_total", {"store": "broken", "task": "retention"}) == 1
    assert len(grave.pending) == 4
    now[0] = 1
    maint.run_once()
    assert grave.pending == [] and not any(Path(p).exists() for p in done.expired["logs"].paths)


def test_the_documented_store_section_is_valid() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs/storage.md").read_text()
    block = re.search(r"```yaml\n(store:.*?)```", doc, re.S)
    assert block is not None
    store = ServeConfig.model_validate(yaml.safe_load(block.group(1))).store
    assert store.logs.retention.cutoff("team-a", 10**15) == 10**15 - 168 * 3600 * S
    assert store.logs.retention.cutoff("audit", 10**15) is None
    assert (store.spans.retention.period, store.spans.zstd_level, store.maintenance_interval_s) == (336 * 3600, 3, 600)


class Counting:
    """A store whose rounds are counted; the second one signals."""

    def __init__(self) -> None:
        self.rounds = 0
        self.second = threading.Event()

    def expire(self, now_ns: int, *, dry_run: bool = False) -> Expiry:
        self.rounds += 1
        if self.rounds == 2:
            self.second.set()
        return Expiry([], [])

    def merge_small(self, *, dry_run: bool = False) -> list[Merged]:
        return []

    def close(self) -> None:
        pass


def test_the_services_thread_runs_rounds_until_stopped() -> None:
    store = Counting()
    settings = StoreSettings(maintenance_interval_s=0.001)
    maintainer = start_maintenance({"logs": store}, settings, CollectorRegistry())
    assert store.second.wait(60)
    maintainer.stop()
    assert "store-maintenance" not in {t.name for t in threading.enumerate()}
