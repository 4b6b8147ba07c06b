"""The spans store: append span batches exactly once, compact them into segments, read traces back.

The logs store's design (observ/store/logstore.py) with spans' own identity: new spans land in `spans_hot`
with the Kafka offsets that produced them in the same transaction; compaction moves them into Parquet
segments sorted by trace (compact.py); reads go through `relation()`, which prunes segments by tenant, time,
service and trace filter. A span is kept once per (tenant, trace_id, span_id, kind), the first copy winning,
as Tempo's trace combiner keeps it: an OTLP client's retry, a sidecar's re-send or a Kafka replay stores
nothing twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from observ.store import merge as merging
from observ.store import relation as rel
from observ.store import retention
from observ.store import segments as segfiles
from observ.store.config import SPANS_CONFIG, StoreConfig
from observ.store.hotcold import HotColdStore
from observ.traces import query, tags
from observ.traces.compact import SpanCompaction, compact, expire_hot, swap_in, write_merged
from observ.traces.model import Span, SpanColumns
from observ.traces.schema import (
    ARROW_SCHEMA,
    COLD,
    HOT,
    IDENTITY,
    SELECT,
    SPAN_COLUMNS,
    define_spans_view,
    ensure_schema,
)
from observ.traces.segments import SpanSegment, load, unregister

__all__ = ["FAR", "PreparedSpans", "SpanAppendResult", "SpanStore", "prepare"]


TOPIC = "observ.spans"
FAR = 2**63 - 1
_PLAIN = (
    "trace_id", "span_id", "parent_span_id", "trace_state", "service", "name", "kind", "start_ns", "end_ns",
    "status_code", "status_message", "scope_name", "scope_version", "flags", "dropped_attributes_count",
    "dropped_events_count", "dropped_links_count",
)  # fmt: skip
_JSON = ("attributes", "events", "links")

THREADS = 1
"""DuckDB threads of the spans store's database (its own, apart from the logs store's). Its work is many small
appends and point reads: on one thread bench/traces.py ingests ~50% more spans/s, trace by ID answers 20-40%
sooner and searches take as long as on two (100,000 spans, 2 shared cores, two runs each way)."""


def identity(tenant: str, trace_id: str, span_id: str, kind: int) -> str:
    """What makes two spans one (schema.IDENTITY) as one string: the IDs have fixed lengths, so it is unambiguous."""
    return f"{tenant}/{trace_id}{span_id}{kind}"


def _keys(b: SpanColumns) -> list[str]:
    return [identity(b.tenant, t, s, k) for t, s, k in zip(b.trace_id, b.span_id, b.kind, strict=True)]


def _json(values: Sequence[Any]) -> pa.Array:
    """Each value as JSON text, in one Arrow string column built from one buffer.

    orjson's output goes into one bytearray and only its end offsets are kept: keeping one bytes object per
    value costs ten times the encoding itself (a fresh allocation each; measured by bench/traces.py)."""
    buf = bytearray()
    ends = [0]
    dumps, end = orjson.dumps, ends.append
    for v in values:
        buf += dumps(v)
        end(len(buf))
    offsets = pa.py_buffer(np.array(ends, dtype=np.int64))
    return pa.LargeStringArray.from_buffers(len(values), offsets, pa.py_buffer(buf)).cast(pa.string())


def _table(b: SpanColumns) -> pa.Table:
    """One batch as rows of the hot table (column by column: no per-span Python work beyond the JSON)."""
    n = len(b)
    cols: dict[str, pa.Array] = {"tenant": pa.array([b.tenant] * n, pa.string())}
    for c in _PLAIN:
        cols[c] = pa.array(getattr(b, c), ARROW_SCHEMA.field(c).type)
    cols["duration_ns"] = pc.subtract(cols["end_ns"], cols["start_ns"])
    for c in _JSON:
        cols[c] = _json(getattr(b, c))
    resources = _json(b.resources)
    cols["resource"] = resources.take(pa.array(b.resource, pa.int32()))
    return pa.Table.from_arrays([cols[c] for c in SPAN_COLUMNS], schema=ARROW_SCHEMA)


def _rows(batches: Iterable[SpanColumns]) -> tuple[pa.Table | None, list[str], int]:
    """Arrow rows of the spans with their identities, each identity kept once (the first copy), and how many
    copies were dropped."""
    tables: list[pa.Table] = []
    keys: list[str] = []
    seen: set[str] = set()
    duplicates = 0
    for b in batches:
        batch_keys = _keys(b)
        fresh = set(batch_keys)
        if len(fresh) == len(batch_keys) and seen.isdisjoint(fresh):
            seen |= fresh
            keep = None
        else:
            keep = []
            for i, k in enumerate(batch_keys):
                if k not in seen:
                    seen.add(k)
                    keep.append(i)
            duplicates += len(batch_keys) - len(keep)
            batch_keys = [batch_keys[i] for i in keep]
        if not batch_keys:
            continue
        table = _table(b)
        tables.append(table if keep is None else table.take(pa.array(keep, pa.int64())))
        keys.extend(batch_keys)
    if not tables:
        return None, [], duplicates
    return (tables[0] if len(tables) == 1 else pa.concat_tables(tables)), keys, duplicates


def _per_service(rows: pa.Table | None) -> dict[tuple[str, str], int]:
    """Spans by (tenant, service); one request is one tenant, counted without a group-by (a third of the time)."""
    if rows is None or not rows.num_rows:
        return {}
    tenants = pc.unique(rows["tenant"]).to_pylist()
    if len(tenants) == 1:
        counts = pc.value_counts(rows["service"])
        return dict(zip(((tenants[0], s) for s in counts.field("values").to_pylist()),
                        counts.field("counts").to_pylist(), strict=True))  # fmt: skip
    grouped = rows.group_by(["tenant", "service"]).aggregate([("span_id", "count")])
    cols = (grouped.column(c).to_pylist() for c in ("tenant", "service", "span_id_count"))
    return {(t, s): n for t, s, n in zip(*cols, strict=True)}


@dataclass(frozen=True, slots=True)
class SpanAppendResult:
    inserted: int
    duplicates: int
    """Spans not stored: copies of a span in the same append or already stored."""
    per_service: dict[tuple[str, str], int]
    """Inserted spans by (tenant, service), for the ingested-spans counter."""


@dataclass(frozen=True, slots=True)
class PreparedSpans:
    """An append whose Python work is done; `SpanStore.write` commits it. Holds no store state, so prepared
    appends may be written in any order, and a failed one simply written again."""

    rows: pa.Table | None
    keys: list[str]
    """The identity of each row (`identity`), in row order."""
    offsets: dict[tuple[str, int], int]
    rejected: list[tuple[str, int, int, str, bytes]]
    duplicates: int
    per_service: dict[tuple[str, str], int]
    """`rows` by (tenant, service), counted here rather than in the commit, which holds the writers' lock."""

    @classmethod
    def of(
        cls,
        rows: pa.Table | None,
        keys: list[str],
        offsets: dict[tuple[str, int], int] | None = None,
        rejected: Iterable[tuple[str, int, int, str, bytes]] = (),
        duplicates: int = 0,
    ) -> PreparedSpans:
        return cls(rows, keys, dict(offsets or {}), list(rejected), duplicates, _per_service(rows))


def prepare(
    batches: Sequence[SpanColumns],
    offsets: dict[tuple[str, int], int] | None = None,
    rejected: Iterable[tuple[str, int, int, str, bytes]] = (),
) -> PreparedSpans:
    """The Python half of an append: Arrow columns, copies within the append dropped. No store state, so it runs
    in any thread or process (the OTLP receiver's decoder processes) and `SpanStore.write` commits the result."""
    rows, keys, duplicates = _rows(batches)
    return PreparedSpans.of(rows, keys, offsets, rejected, duplicates)


@dataclass(slots=True)
class _Queued:
    """An append waiting for the group commit that takes it (`SpanStore.write`)."""

    prepared: PreparedSpans
    asked: frozenset[int] = frozenset()
    """Ids of the segments already asked for the append's spans, before the writers' lock."""
    in_segments: set[int] = field(default_factory=set)
    """Row numbers those segments hold."""
    done: bool = False
    result: SpanAppendResult | None = None
    error: Exception | None = None


class SpanStore(HotColdStore[SpanCompaction]):
    """One DuckDB file (`<data>/spans.duckdb`) plus its segment directory (`<data>/span-segments/`); a single
    writer, any number of reader cursors, compactions on a thread of their own. The segment catalog with its trace
    filters is kept in memory."""

    def __init__(self, path: str | Path, config: StoreConfig | None = None) -> None:
        super().__init__(path, config or SPANS_CONFIG, "span-segments")
        ensure_schema(self._con)
        self._con.execute("SET parquet_metadata_cache = true")
        # hot rows leave for segments at the next compaction, whose CHECKPOINT truncates the WAL: checkpointing
        # them in between (DuckDB's default, every 16 MB of WAL) compresses rows about to be deleted: ~4 us of CPU
        # per appended span, a tenth of an append. The WAL then holds up to `compact_rows` spans.
        self._con.execute("SET checkpoint_threshold = '4GB'")
        self._con.execute(f"SET threads = {THREADS}")
        self._segments: tuple[SpanSegment, ...] = ()
        if self.segments_dir is not None:
            registered = {name for (name,) in self._con.execute("SELECT path FROM span_segments").fetchall()}
            segfiles.remove_orphans(self.segments_dir, registered)
            self._segments = tuple(load(self._con, self.segments_dir))
        row = self._con.execute("SELECT coalesce(max(id), 0) FROM span_segments").fetchone()
        self._next_segment = (row[0] if row else 0) + 1
        # the view names absolute paths: redefine it in case the data directory moved
        segfiles.define_cold_view(self._con, [s.path for s in self._segments], SELECT, view=COLD, hot=HOT)
        define_spans_view(self._con)
        self._hot_keys = {
            identity(*row) for row in self._con.execute(f"SELECT {', '.join(IDENTITY)} FROM {HOT}").fetchall()
        }
        """Identities of the hot spans, for the dedup of appends (the hot table holds each once)."""
        self._hot_rows = len(self._hot_keys)
        self._queue: list[_Queued] = []
        """Appends waiting for a group commit (`write`), guarded by `_queue_lock`."""
        self._queue_lock = threading.Lock()

    @property
    def segments(self) -> tuple[SpanSegment, ...]:
        return self._segments

    def relation(self, hints: rel.ScanHints) -> rel.Relation:
        """Hot spans plus the segments that may hold a span of `hints` (tenant, overlapping time, services,
        trace IDs); the caller still filters by tenant, time and its own predicates."""
        return rel.build(self._segments, hints, SELECT, may=rel.in_bounds, hot=HOT, cold=COLD)

    # --- writing ---------------------------------------------------------------------------------------------

    def append(
        self,
        batches: Sequence[SpanColumns],
        offsets: dict[tuple[str, int], int] | None = None,
        rejected: Iterable[tuple[str, int, int, str, bytes]] = (),
    ) -> SpanAppendResult:
        """prepare + write, then compact if due (receivers without Kafka; the ingester pipelines the halves)."""
        result = self.write(self.prepare(batches, offsets, rejected))
        self.maybe_compact()
        return result

    def prepare(
        self,
        batches: Sequence[SpanColumns],
        offsets: dict[tuple[str, int], int] | None = None,
        rejected: Iterable[tuple[str, int, int, str, bytes]] = (),
    ) -> PreparedSpans:
        """The Python half of an append (`prepare`)."""
        return prepare(batches, offsets, rejected)

    def write(self, prepared: PreparedSpans) -> SpanAppendResult:
        """The database half: spans not stored yet, offsets and rejects in one transaction.

        Concurrent writes commit together (group commit): a writer that finds the lock held queues its append,
        and the next holder commits every queued append in one transaction — a commit costs as much as
        thousands of rows (4 requests of ~1,200 spans per commit: a third less time per span, 16: over half; measured
        under load). Each writer still returns only once its own spans are committed, with its own counts.

        Raises StoreWriteError when the transaction cannot commit; nothing of it is kept (for every append it
        held), the store stays usable and `write_error` says why until a later write succeeds.
        """
        mine = _Queued(prepared, *self._ask_segments(prepared.rows))
        with self._queue_lock:
            self._queue.append(mine)
        with self._lock:
            if not mine.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                try:
                    self._commit(group)
                except Exception as e:  # every append of the group fails with it
                    for q in group:
                        q.error, q.done = e, True
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def _commit(self, group: list[_Queued]) -> None:
        """Every queued append in one transaction (the caller holds `_lock`); each gets its result or the error."""
        now = time.time_ns()
        taken: set[str] = set()
        kept: list[pa.Table] = []
        results: list[SpanAppendResult] = []
        offsets: dict[tuple[str, int], int] = {}
        rejected: list[tuple[str, int, int, str, bytes]] = []
        for q in group:
            p = q.prepared
            rows, keys, stored = self._unstored(q, taken)
            if rows is not None:
                kept.append(rows)
                taken.update(keys)
            per_service = p.per_service if not stored else _per_service(rows)
            results.append(SpanAppendResult(0 if rows is None else rows.num_rows, p.duplicates + stored, per_service))
            for k, o in p.offsets.items():
                offsets[k] = max(o, offsets.get(k, o))
            rejected.extend(p.rejected)
        with self._transaction() as con:
            if kept:  # as a stream, which DuckDB scans on one thread: a third less CPU than in parallel
                batches = [b for t in kept for b in t.to_batches()]
                con.register("_incoming_spans", pa.RecordBatchReader.from_batches(ARROW_SCHEMA, batches))
                con.execute(f"INSERT INTO {HOT} SELECT * FROM _incoming_spans")
                con.unregister("_incoming_spans")
            self._write_positions(offsets, rejected, now)
        self._hot_keys.update(taken)
        self._hot_rows += len(taken)
        for q, r in zip(group, results, strict=True):
            q.result, q.done = r, True

    def _ask_segments(self, rows: pa.Table | None) -> tuple[frozenset[int], set[int]]:
        """Before the writers' lock, on a cursor of its own: the segments known now and the rows they hold, so the
        group commit asks only the segments compacted or merged since (none, nearly always)."""
        segments = self._segments
        if rows is None or not segments:
            return frozenset(), set()
        cur = self.cursor()
        try:
            return frozenset(s.id for s in segments), self._in_segments(cur, rows, segments)
        finally:
            cur.close()

    def _unstored(self, q: _Queued, taken: set[str]) -> tuple[pa.Table | None, list[str], int]:
        """The append's rows (and their keys) minus spans whose identity is stored already or `taken` by an earlier
        append of the same transaction, and how many those were (the caller holds `_lock`).

        Hot identities are kept in memory (`_hot_keys`, as many as hot rows); segments were asked before the lock
        (`_ask_segments`), and only those added since are asked here."""
        rows, keys = q.prepared.rows, q.prepared.keys
        if rows is None:
            return None, [], 0
        hot = self._hot_keys
        stored = {i for i, k in enumerate(keys) if k in hot or k in taken} | q.in_segments
        later = [s for s in self._segments if s.id not in q.asked]
        if later:
            stored |= self._in_segments(self._con, rows, later)
        if not stored:
            return rows, keys, 0
        keep = [i for i in range(len(keys)) if i not in stored]
        if not keep:
            return None, [], len(stored)
        return rows.take(pa.array(keep, pa.int64())), [keys[i] for i in keep], len(stored)

    def _in_segments(self, con: duckdb.DuckDBPyConnection, rows: pa.Table, segments: Sequence[SpanSegment]) -> set[int]:
        """Row numbers of `rows` whose identity one of `segments` holds. A segment is asked only when its trace filter
        admits a trace of the rows, i.e. for traces whose earlier spans were compacted."""
        found: set[int] = set()
        same = " AND ".join(f"s.{c} = n.{c}" for c in IDENTITY)
        tenants = pc.unique(rows["tenant"]).to_pylist()
        for tenant in tenants:
            mine = rows if len(tenants) == 1 else rows.filter(pc.equal(rows["tenant"], tenant))
            hints = rel.ScanHints(tenant, 0, FAR, trace_ids=frozenset(pc.unique(mine["trace_id"]).to_pylist()))
            paths = [seg.path for seg in segments if rel.in_bounds(seg, hints)]
            if not paths:
                continue
            con.register("_new_spans", rows.append_column("_i", pa.array(range(rows.num_rows), pa.int64())))
            try:
                hits = con.execute(
                    f"SELECT n._i FROM _new_spans n WHERE n.tenant = ? AND EXISTS (SELECT 1 FROM {COLD} AS s "
                    f"WHERE list_contains(?::VARCHAR[], s.filename) AND {same})",
                    [tenant, paths],
                ).fetchall()
            finally:
                con.unregister("_new_spans")
            found.update(i for (i,) in hits)
        return found

    # --- compaction ------------------------------------------------------------------------------------------

    def _compact(self, cur: duckdb.DuckDBPyConnection, directory: Path) -> SpanCompaction | None:
        moving: set[str] = set()

        def swap(result: SpanCompaction) -> None:
            self._segments = (*self._segments, *result.segments)
            self._next_segment += len(result.segments)
            self._hot_keys -= moving

        return self._compact_snapshot(
            cur,
            HOT,
            lambda: compact(cur, directory, list(self._segments), self._next_segment, self.config),
            swap,
            on_snapshot=lambda: moving.update(self._hot_keys),
        )

    # --- lifecycle (observ/store/lifecycle.py runs these off the write path) --------------------------------------

    def expire(self, now_ns: int, *, dry_run: bool = False) -> retention.Expiry:
        """Retention, as `LogStore.expire`: segments whose latest span ended before their tenant's cutoff leave the
        catalog, and hot spans that ended before it are deleted, in one transaction. Holds the compaction lock, so
        no compaction's snapshot still counts on the catalog or the hot spans it changes."""
        with self._compacting, self._lock:
            cutoff = lambda tenant: self.config.retention.cutoff(tenant, now_ns)  # noqa: E731
            gone = retention.expired(self._segments, cutoff)
            tenants = [t for (t,) in self._con.execute(f"SELECT DISTINCT tenant FROM {HOT}").fetchall()]
            limits = {t: c for t in tenants if (c := cutoff(t)) is not None}
            if dry_run:
                hot = {
                    t: self._con.execute(
                        f"SELECT count(*) FROM {HOT} WHERE tenant = ? AND end_ns < ?", [t, c]
                    ).fetchall()[0][0]
                    for t, c in limits.items()
                }
                return retention.Expiry(retention.tally(gone, hot), [])
            if not gone and not limits:
                return retention.Expiry([], [])
            ids = {s.id for s in gone}
            kept = [s for s in self._segments if s.id not in ids]
            with self._transaction() as con:
                if gone:
                    unregister(con, sorted(ids))
                    segfiles.define_cold_view(con, [s.path for s in kept], SELECT, view=COLD, hot=HOT)
                hot, keys = expire_hot(con, limits)
            self._segments = tuple(kept)
            self._hot_keys -= {identity(*k) for k in keys}
            self._hot_rows -= len(keys)
        return retention.Expiry(retention.tally(gone, hot), [s.path for s in gone])

    def merge_small(self, *, dry_run: bool = False) -> list[merging.Merged]:
        """Merge each tenant's small segments (config.merge), as `LogStore.merge_small`; holds the compaction lock
        while it writes, appends go on."""
        m = self.config.merge
        if self.segments_dir is None or not m.enabled:
            return []
        with self._compacting:
            groups = merging.plan(self._segments, m.small_bytes, m.target_bytes, self.config.segment_max_rows,
                                  m.max_merges_per_run)  # fmt: skip
            if dry_run:
                return [merging.merged(g, None) for g in groups]
            return [self._merge(self.segments_dir, g) for g in groups]

    def _merge(self, directory: Path, group: list[SpanSegment]) -> merging.Merged:
        cur = self._con.cursor()
        try:
            written = write_merged(cur, directory, group, self.config)
        finally:
            cur.close()
        ids = {s.id for s in group}
        with self._lock:
            kept = [s for s in self._segments if s.id not in ids]
            seg_id = self._next_segment
            try:
                with self._transaction() as con:
                    seg = swap_in(con, written, seg_id, group, kept)
            except BaseException:
                Path(written.path).unlink(missing_ok=True)
                (directory / segfiles.segment_name(seg_id)).unlink(missing_ok=True)
                raise
            self._segments = (*kept, seg)
            self._next_segment += 1
        return merging.merged(group, seg.id)

    # --- reading ---------------------------------------------------------------------------------------------

    def trace(self, tenant: str, trace_id: str) -> list[Span]:
        """Every stored span of one trace, by start time; [] when none. `trace_id` as `query.trace_id` reads it."""
        tid = query.trace_id(trace_id)
        r = self.relation(rel.ScanHints(tenant, 0, FAR, trace_ids=frozenset([tid])))
        cur = self.cursor()
        cur.execute(
            f"SELECT {SELECT} FROM {r.sql} AS s WHERE tenant = ? AND trace_id = ? ORDER BY start_ns, span_id, kind",
            [*r.params, tenant, tid],
        )
        return [query.span_of(row) for row in cur.fetchall()]

    def search(self, tenant: str, q: query.SpanQuery) -> list[query.TraceSummary]:
        """Traces with a span matching `q` in its window, newest first (see `query.search`)."""
        return query.search(self.cursor(), self.relation, tenant, q)

    def tag_names(
        self, tenant: str, scope: tags.Scope | None = None, start_ns: int = 0, end_ns: int = FAR
    ) -> dict[tags.Scope, list[str]]:
        """Attribute names by scope (`resource`, `span`, `intrinsic`), sorted; one scope when given."""
        tags.check_tag_request(start_ns, end_ns, scope)
        r = self.relation(rel.ScanHints(tenant, start_ns, end_ns))
        return tags.tag_names(self.cursor(), r, tenant, scope, start_ns, end_ns)

    def tag_values(
        self, tenant: str, tag: str, start_ns: int = 0, end_ns: int = FAR, limit: int = 1000
    ) -> list[tags.TagValue]:
        """Distinct values of one tag (`resource.service.name`, `span.http.method`, `.x`, `name`, `status`, ...)."""
        tags.check_tag_request(start_ns, end_ns, limit=limit)
        parsed = tags.parse_tag(tag)
        r = self.relation(rel.ScanHints(tenant, start_ns, end_ns))
        return tags.tag_values(self.cursor(), r, tenant, parsed, start_ns, end_ns, limit)

    def count(self) -> int:
        """Spans stored, hot and compacted."""
        row = (
            self.cursor()
            .execute(f"SELECT (SELECT count(*) FROM {HOT}) + (SELECT coalesce(sum(rows), 0) FROM span_segments)")
            .fetchone()
        )
        return int(row[0]) if row else 0
