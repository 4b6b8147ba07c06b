"""The spans store: append span batches exactly once, compact them into segments, read traces back.

The logs store's design (observ/store/logstore.py) with spans' own identity and hot tier: new spans are Arrow
tables in memory, durable in a log of their own with the Kafka offsets that produced them (hotlog.py, one record
per group commit); compaction moves them into Parquet segments sorted by trace (compact.py); reads go through
`relation()`, which prunes segments by tenant, time, service and trace filter. A span is kept once per (tenant,
trace_id, span_id, kind), the first copy winning, as Tempo's trace combiner keeps it: an OTLP client's retry, a
sidecar's re-send or a Kafka replay stores nothing twice.
"""

from __future__ import annotations

import functools
import logging
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
from observ.store.compact import discard
from observ.store.config import SPANS_CONFIG, StoreConfig
from observ.store.hotcold import HotColdStore, StoreWriteError
from observ.traces import query, tags
from observ.traces.compact import SpanCompaction, compact, swap_in, write_merged
from observ.traces.hotlog import HotLog, Rejected, ipc_rows, ipc_stream
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
from observ.traces.segments import SpanSegment, load, register, unregister

__all__ = ["FAR", "PreparedSpans", "SpanAppendResult", "SpanReader", "SpanStore", "prepare"]

log = logging.getLogger("observ.traces")


TOPIC = "observ.spans"
FAR = 2**63 - 1
_PLAIN = (
    "trace_id", "span_id", "parent_span_id", "trace_state", "service", "name", "kind", "start_ns", "end_ns",
    "status_code", "status_message", "scope_name", "scope_version", "flags", "dropped_attributes_count",
    "dropped_events_count", "dropped_links_count",
)  # fmt: skip
_JSON = ("attributes", "events", "links")

_FANOUT = 16
_TIER = (8_192, 131_072)
"""Hot tables merge `_FANOUT` at a time while under these sizes (rows): `SpanStore._consolidate`."""

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
    cols["resource"] = pa.DictionaryArray.from_arrays(pa.array(b.resource, pa.int32()), resources)
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

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with the rows as one Arrow IPC stream, as a decoder process hands an append back: ~1.0 against
        ~1.6 us a span for the round trip of pickling the table column by column (measured here), and the serving
        process unpickles under the GIL its committing thread needs."""
        rows = None if self.rows is None else ipc_stream([self.rows], self.rows.schema).to_pybytes()
        return _unpickled, (rows, self.keys, self.offsets, self.rejected, self.duplicates, self.per_service)

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


def _unpickled(rows: bytes | None, *rest: Any) -> PreparedSpans:
    return PreparedSpans(None if rows is None else ipc_rows(rows), *rest)


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


class _State:
    """What a read sees: the segments and the hot spans of one moment. Replaced whole, never changed, so a reader
    holding one sees every span once, in a segment or hot, whatever commits or compacts meanwhile."""

    __slots__ = ("_starts", "_table", "hot", "segments")

    def __init__(self, segments: tuple[SpanSegment, ...], hot: tuple[pa.Table, ...]) -> None:
        self.segments = segments
        self.hot = hot
        """One table per group commit, in commit order: a compaction moves a prefix, appends add to the end."""
        self._table: pa.Table | None = None
        self._starts: np.ndarray | None = None

    @property
    def table(self) -> pa.Table:
        """The hot spans as one table (chunks, no copy), made once per state."""
        if self._table is None:
            self._table = pa.concat_tables(self.hot) if self.hot else ARROW_SCHEMA.empty_table()
        return self._table

    def pick(self, mask: pa.ChunkedArray | pa.Array) -> pa.Table:
        """The rows of `table` where `mask` is true. A few rows (a trace) are taken from the hot tables that hold
        them: filtering or taking from the whole table runs a kernel per chunk and column (hundreds of chunks,
        one per commit), ~10 ms for one trace over 200,000 hot spans."""
        idx = pc.indices_nonzero(mask).to_numpy().astype(np.int64)
        if len(idx) == len(mask):
            return self.table
        if len(idx) * 8 > len(mask):
            return self.table.filter(mask)
        if self._starts is None:
            self._starts = np.cumsum([0] + [t.num_rows for t in self.hot])
        which = np.searchsorted(self._starts, idx, side="right") - 1
        parts = [self.hot[t].take(pa.array(idx[which == t] - self._starts[t])) for t in np.unique(which)]
        return pa.concat_tables(parts) if parts else ARROW_SCHEMA.empty_table()


class SpanReader:
    """A cursor and a relation builder over one `_State`."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, state: _State) -> None:
        self.cursor = cursor
        self._state = state
        self._relations = 0

    def register_hot(self) -> None:
        """The hot spans as `spans_hot` on the cursor, shadowing the file's always-empty table, so plain SQL over
        `spans_hot` and the `spans` view reads every span."""
        self.cursor.register(HOT, self._state.table)

    def relation(self, hints: rel.ScanHints) -> rel.Relation:
        """Hot spans plus the segments that may hold a span of `hints` (tenant, overlapping time, services, trace
        IDs); the caller still filters by tenant, time and its own predicates. The hot spans are pruned with Arrow
        compute first (DuckDB scans an Arrow table several times slower than its own), and left out when none
        remains."""
        parts = []
        hot = _prune(self._state, hints)
        if hot.num_rows:
            self._relations += 1
            name = f"_spans_hot_{self._relations}"
            self.cursor.register(name, hot)
            parts.append(f"SELECT {SELECT} FROM {name}")
        kept = [s.path for s in self._state.segments if rel.in_bounds(s, hints)]
        if kept:
            parts.append(f"SELECT {SELECT} FROM {segfiles.parquet_files(kept)}")
        sql = " UNION ALL ".join(parts) or f"SELECT {SELECT} FROM main.{HOT} WHERE false"
        return rel.Relation(f"({sql})", [], len(kept), len(self._state.segments) - len(kept))


def _prune(state: _State, hints: rel.ScanHints) -> pa.Table:
    """The hot rows that may match `hints`, as `rel.in_bounds` prunes a segment: the trace IDs' mask alone when
    given (a trace is a few rows: `_State.pick` takes them), then the other conditions on what it picked."""
    rows = state.table
    if not rows.num_rows:
        return rows
    if hints.trace_ids is not None:
        rows = state.pick(pc.is_in(rows["trace_id"], pa.array(sorted(hints.trace_ids), pa.string())))
    mask = pc.equal(rows["tenant"], hints.tenant)
    if hints.services is not None:
        mask = pc.and_(mask, pc.is_in(rows["service"], pa.array(sorted(hints.services), pa.string())))
    if hints.start_ns > 0:
        mask = pc.and_(mask, pc.greater_equal(rows["end_ns"], hints.start_ns))
    if hints.end_ns < FAR:
        mask = pc.and_(mask, pc.less(rows["start_ns"], hints.end_ns))
    return rows.filter(mask) if hints.trace_ids is not None else state.pick(mask)


class SpanStore(HotColdStore[SpanCompaction]):
    """One DuckDB file (`<data>/spans.duckdb`: catalog, Kafka offsets, rejected records), its segment directory
    (`<data>/span-segments/`) and the log of the hot spans (`<data>/span-hot/`, hotlog.py), which are kept in
    memory; a single writer, any number of readers, compactions on a thread of their own."""

    def __init__(self, path: str | Path, config: StoreConfig | None = None) -> None:
        super().__init__(path, config or SPANS_CONFIG, "span-segments")
        ensure_schema(self._con)
        self._con.execute("SET parquet_metadata_cache = true")
        self._con.execute(f"SET threads = {THREADS}")
        segments: tuple[SpanSegment, ...] = ()
        if self.segments_dir is not None:
            registered = {name for (name,) in self._con.execute("SELECT path FROM span_segments").fetchall()}
            segfiles.remove_orphans(self.segments_dir, registered)
            segments = tuple(load(self._con, self.segments_dir))
        row = self._con.execute("SELECT coalesce(max(id), 0) FROM span_segments").fetchone()
        self._next_segment = (row[0] if row else 0) + 1
        # the view names absolute paths: redefine it in case the data directory moved
        segfiles.define_cold_view(self._con, [s.path for s in segments], SELECT, view=COLD, hot=HOT)
        define_spans_view(self._con)
        self._state = _State(segments, ())
        self._hot_keys: set[str] = set()
        """Identities of the hot spans, for the dedup of appends (the hot spans hold each once)."""
        self._offsets: dict[tuple[str, int], int] = {}
        """Kafka offsets committed with hot spans since the last compaction, which writes them to `kafka_offsets`."""
        self._queue: list[_Queued] = []
        """Appends waiting for a group commit (`write`), guarded by `_queue_lock`."""
        self._queue_lock = threading.Lock()
        self._log: HotLog | None = None
        if self.segments_dir is not None:
            self._log = HotLog(self.path.parent / "span-hot", ARROW_SCHEMA)
            self._recover()

    def _recover(self) -> None:
        """The hot spans back from the log files a compaction has not covered, and from the `spans_hot` table of a
        store made before the log (moved into the log, then deleted: a crash in between only repeats copies,
        which the identity dedup drops)."""
        assert self._log is not None
        row = self._con.execute("SELECT compacted_through FROM span_hot_log").fetchone()
        through = row[0] if row else 0
        self._log.drop_through(through)
        rejected: list[Rejected] = []
        for record in self._log.replay(through):
            self._restore(record.rows.cast(ARROW_SCHEMA))  # a log written before `resource` became a dictionary
            for k, o in record.offsets.items():
                self._offsets[k] = max(o, self._offsets.get(k, o))
            rejected.extend(record.rejected)
        if rejected:
            with self._lock, self._transaction():
                self._insert_rejected(rejected)
        legacy = self._con.execute(f"SELECT {SELECT} FROM {HOT}").to_arrow_table()
        if legacy.num_rows:
            kept = self._restore(legacy.cast(ARROW_SCHEMA))
            if kept is not None:
                self._log.append([kept], {}, [])
            self._con.execute(f"DELETE FROM {HOT}")
            self._con.execute("CHECKPOINT")

    def _restore(self, rows: pa.Table) -> pa.Table | None:
        """Replayed rows into the hot spans, copies of a hot span dropped; the rows kept."""
        keys = _keys_of(rows)
        keep = []
        for i, k in enumerate(keys):
            if k not in self._hot_keys:
                self._hot_keys.add(k)
                keep.append(i)
        if not keep:
            return None
        if len(keep) < rows.num_rows:
            rows = rows.take(pa.array(keep, pa.int64()))
        self._state = _State(self._state.segments, (*self._state.hot, rows))
        self._hot_rows += rows.num_rows
        return rows

    @property
    def segments(self) -> tuple[SpanSegment, ...]:
        return self._state.segments

    def reader(self) -> SpanReader:
        """A cursor and relations over the spans as of now (`SpanReader`); one per query."""
        return SpanReader(self._con.cursor(), self._state)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for another thread on which `spans_hot` and the `spans` view hold the hot spans as of now."""
        rd = self.reader()
        rd.register_hot()
        return rd.cursor

    def kafka_offsets(self, topic: str) -> dict[int, int]:
        """Where each partition resumes: the compacted offsets, or later ones committed with hot spans."""
        stored = super().kafka_offsets(topic)
        for (t, part), o in list(self._offsets.items()):
            if t == topic:
                stored[part] = max(o, stored.get(part, o))
        return stored

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
        """The durable half: spans not stored yet, offsets and rejects in one record of the hot log.

        Concurrent writes commit together (group commit): a writer that finds the lock held queues its append,
        and the next holder writes every queued append as one record with one fsync. Each writer still returns
        only once its own spans are durable, with its own counts.

        Raises StoreWriteError when the record cannot be written; nothing of it is kept (for every append it
        held), the store stays usable and `write_error` says why until a later write succeeds.
        """
        for (topic, part), o in prepared.offsets.items():
            if type(o) is not int:
                raise StoreWriteError(f"Kafka offset of {topic}[{part}] must be an integer, not {o!r}")
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
        self._consolidate()
        return mine.result

    def _consolidate(self) -> None:
        """Merge the newest run of small hot tables (one per group commit) into one, outside the writers' lock.

        DuckDB's Arrow scan and Arrow's kernels cost per chunk: over 200,000 hot spans in ~200 tables a search took
        2-3x its time over one table. Tables under `_TIER` rows merge `_FANOUT` at a time, then the results again,
        so a span is copied about twice before its compaction: a tier's run is the tables under its size just older
        than the smaller tier's run (a tier-2 run that took the newest small tables too grew by re-copying itself,
        3.2 copies a span over 200,000). Holds the compaction lock (skipped while one runs), so the run it merges is
        still in the state when it swaps it in: commits only add tables after it."""
        hot = self._state.hot
        if len(hot) < _FANOUT or not self._compacting.acquire(blocking=False):
            return
        try:
            hot = self._state.hot
            end = len(hot)
            for limit in _TIER:
                start = end
                while start > 0 and hot[start - 1].num_rows < limit:
                    start -= 1
                if end - start >= _FANOUT:
                    break
                end = start
            else:
                return
            merged = pa.concat_tables(hot[start:end]).combine_chunks()
            with self._lock:
                now = self._state
                self._state = _State(now.segments, (*now.hot[:start], merged, *now.hot[end:]))
        finally:
            self._compacting.release()

    def _commit(self, group: list[_Queued]) -> None:
        """Every queued append in one log record (the caller holds `_lock`); each gets its result or the error.

        The rows become visible once the record is durable. Rejected records are also inserted into
        `rejected_records` then; should that fail, the appends fail but their rows and offsets stay (a retry's
        copies are dropped by identity, its rejects inserted once), and the next open inserts them from the log."""
        now = time.time_ns()
        taken: set[str] = set()
        kept: list[pa.Table] = []
        results: list[SpanAppendResult] = []
        offsets: dict[tuple[str, int], int] = {}
        rejected: list[Rejected] = []
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
            rejected.extend((*r, now) for r in p.rejected)
        if self._log is not None and (kept or offsets or rejected):
            self._append_log(kept, offsets, rejected)
        self._state = _State(self._state.segments, (*self._state.hot, *kept))
        self._hot_keys.update(taken)
        self._hot_rows += len(taken)
        for k, o in offsets.items():
            self._offsets[k] = max(o, self._offsets.get(k, o))
        if rejected:
            with self._transaction():
                self._insert_rejected(rejected)
        self.write_error = None
        for q, r in zip(group, results, strict=True):
            q.result, q.done = r, True

    def _append_log(self, rows: Sequence[pa.Table], offsets: dict[tuple[str, int], int],
                    rejected: Sequence[Rejected]) -> None:  # fmt: skip
        assert self._log is not None
        try:
            self._log.append(rows, offsets, rejected)
        except OSError as e:
            self.write_error = f"{type(e).__name__}: {e}"
            raise StoreWriteError(self.write_error) from e

    def _insert_rejected(self, rejected: Sequence[Rejected]) -> None:
        """Inside a transaction: records refused, each (topic, partition, offset) once (the log may replay one)."""
        self._con.executemany(
            "INSERT INTO rejected_records SELECT ?::VARCHAR, ?::INTEGER, ?::BIGINT, ?::VARCHAR, ?::BLOB, ?::BIGINT "
            "WHERE NOT EXISTS (SELECT 1 FROM rejected_records WHERE topic = ? AND part = ? AND record_offset = ?)",
            [(*r, r[0], r[1], r[2]) for r in rejected],
        )

    def _ask_segments(self, rows: pa.Table | None) -> tuple[frozenset[int], set[int]]:
        """Before the writers' lock, on a cursor of its own: the segments known now and the rows they hold, so the
        group commit asks only the segments compacted or merged since (none, nearly always)."""
        segments = self._state.segments
        if rows is None or not segments:
            return frozenset(), set()
        cur = self._con.cursor()
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
        later = [s for s in self._state.segments if s.id not in q.asked]
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
        """The hot spans of this moment into segments (the caller holds `_compacting`). Under the writers' lock the
        state is taken and the log rotated, so every record of the files up to `through` is in it; the files are
        written outside the lock while appends go on; the segments, the offsets of those records and `through`
        commit in one transaction, and the state loses exactly the hot tables it moved. On failure nothing is
        kept, the new files are removed and the spans stay hot."""
        with self._lock:
            taken = self._state
            if not taken.hot:
                return None
            through = self._log.rotate() if self._log is not None else 0
            offsets = dict(self._offsets)
            moving = set(self._hot_keys)
        result = compact(cur, directory, taken.table, self._next_segment, self.config)
        with self._lock:
            segments = (*self._state.segments, *result.segments)
            try:
                with self._transaction() as con:
                    for seg in result.segments:
                        register(con, seg)
                    segfiles.define_cold_view(con, [s.path for s in segments], SELECT, view=COLD, hot=HOT)
                    self._write_positions(offsets, [], 0)
                    con.execute("UPDATE span_hot_log SET compacted_through = ?", [through])
            except BaseException:
                discard(s.path for s in result.segments)
                raise
            self._state = _State(segments, self._state.hot[len(taken.hot) :])
            self._hot_keys -= moving
            self._next_segment += len(result.segments)
            self._settle(cur, result)  # on the cursor that holds the compaction's last reads
        if self._log is not None:
            self._log.drop_through(through)
        return result

    # --- lifecycle (observ/store/lifecycle.py runs these off the write path) --------------------------------------

    def expire(self, now_ns: int, *, dry_run: bool = False) -> retention.Expiry:
        """Retention, as `LogStore.expire`: segments whose latest span ended before their tenant's cutoff leave the
        catalog, and hot spans that ended before it are dropped (the log rewritten without them: the rest as one
        record in a new file, the old files marked superseded in the catalog's transaction). Holds the compaction
        lock and the writers' lock throughout."""
        with self._compacting, self._lock:
            cutoff = lambda tenant: self.config.retention.cutoff(tenant, now_ns)  # noqa: E731
            state = self._state
            gone = retention.expired(state.segments, cutoff)
            rows = state.table
            limits = {t: c for t in pc.unique(rows["tenant"]).to_pylist() if (c := cutoff(t)) is not None}
            old = _ended_before(rows, limits)
            hot = {t: int(pc.sum(pc.and_(old, pc.equal(rows["tenant"], t))).as_py() or 0) for t in limits}
            if dry_run:
                return retention.Expiry(retention.tally(gone, hot), [])
            if not gone and not limits:
                return retention.Expiry([], [])
            ids = {s.id for s in gone}
            kept = tuple(s for s in state.segments if s.id not in ids)
            removed = rows.filter(old)
            remaining = rows.filter(pc.invert(old))
            through = None
            if removed.num_rows and self._log is not None:
                through = self._log.rotate()
                self._append_log([remaining], self._offsets, [])
            with self._transaction() as con:
                if gone:
                    unregister(con, sorted(ids))
                    segfiles.define_cold_view(con, [s.path for s in kept], SELECT, view=COLD, hot=HOT)
                if through is not None:
                    con.execute("UPDATE span_hot_log SET compacted_through = ?", [through])
            if through is not None and self._log is not None:
                self._log.drop_through(through)
            self._state = _State(kept, (remaining,) if removed.num_rows else state.hot)
            self._hot_keys -= set(_keys_of(removed))
            self._hot_rows -= removed.num_rows
        return retention.Expiry(retention.tally(gone, hot), [s.path for s in gone])

    def merge_small(self, *, dry_run: bool = False) -> list[merging.Merged]:
        """Merge each tenant's small segments (config.merge), as `LogStore.merge_small`; holds the compaction lock
        while it writes, appends go on."""
        m = self.config.merge
        if self.segments_dir is None or not m.enabled:
            return []
        with self._compacting:
            groups = merging.plan(self._state.segments, m.small_bytes, m.target_bytes, self.config.segment_max_rows,
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
            kept = [s for s in self._state.segments if s.id not in ids]
            seg_id = self._next_segment
            try:
                with self._transaction() as con:
                    seg = swap_in(con, written, seg_id, group, kept)
            except BaseException:
                Path(written.path).unlink(missing_ok=True)
                (directory / segfiles.segment_name(seg_id)).unlink(missing_ok=True)
                raise
            self._state = _State((*kept, seg), self._state.hot)
            self._next_segment += 1
        return merging.merged(group, seg.id)

    def flush(self) -> None:
        """Compact every hot span now, as Tempo's and Loki's ingesters flush on shutdown: the DuckDB file and its
        segments then hold every span on their own (plain SQL over `spans.duckdb` reads only those). A failure is
        logged: the spans stay in the log and come back on the next open."""
        try:
            self.compact()
        except (duckdb.Error, OSError, RuntimeError):
            log.exception("flushing the hot spans of %s failed; the log keeps them", self.path.name)

    def close(self) -> None:
        super().close()
        if self._log is not None:
            self._log.close()

    # --- reading ---------------------------------------------------------------------------------------------

    def trace(self, tenant: str, trace_id: str) -> list[Span]:
        """Every stored span of one trace, by start time; [] when none. `trace_id` as `query.trace_id` reads it."""
        tid = query.trace_id(trace_id)
        rd = self.reader()
        r = rd.relation(rel.ScanHints(tenant, 0, FAR, trace_ids=frozenset([tid])))
        rd.cursor.execute(
            f"SELECT {SELECT} FROM {r.sql} AS s WHERE tenant = ? AND trace_id = ? ORDER BY start_ns, span_id, kind",
            [*r.params, tenant, tid],
        )
        return [query.span_of(row) for row in rd.cursor.fetchall()]

    def search(self, tenant: str, q: query.SpanQuery) -> list[query.TraceSummary]:
        """Traces with a span matching `q` in its window, newest first (see `query.search`)."""
        rd = self.reader()
        return query.search(rd.cursor, rd.relation, tenant, q)

    def tag_names(
        self, tenant: str, scope: tags.Scope | None = None, start_ns: int = 0, end_ns: int = FAR
    ) -> dict[tags.Scope, list[str]]:
        """Attribute names by scope (`resource`, `span`, `intrinsic`), sorted; one scope when given."""
        tags.check_tag_request(start_ns, end_ns, scope)
        rd = self.reader()
        return tags.tag_names(rd.cursor, rd.relation(rel.ScanHints(tenant, start_ns, end_ns)), tenant, scope,
                              start_ns, end_ns)  # fmt: skip

    def tag_values(
        self, tenant: str, tag: str, start_ns: int = 0, end_ns: int = FAR, limit: int = 1000
    ) -> list[tags.TagValue]:
        """Distinct values of one tag (`resource.service.name`, `span.http.method`, `.x`, `name`, `status`, ...)."""
        tags.check_tag_request(start_ns, end_ns, limit=limit)
        parsed = tags.parse_tag(tag)
        rd = self.reader()
        return tags.tag_values(rd.cursor, rd.relation(rel.ScanHints(tenant, start_ns, end_ns)), tenant, parsed,
                               start_ns, end_ns, limit)  # fmt: skip

    def count(self) -> int:
        """Spans stored, hot and compacted."""
        state = self._state
        return sum(t.num_rows for t in state.hot) + sum(s.rows for s in state.segments)


def _ended_before(rows: pa.Table, cutoffs: dict[str, int]) -> pa.ChunkedArray | pa.Array:
    """Which rows ended before their tenant's cutoff."""
    masks = [pc.and_(pc.equal(rows["tenant"], t), pc.less(rows["end_ns"], c)) for t, c in cutoffs.items()]
    return functools.reduce(pc.or_, masks) if masks else pa.array(np.zeros(rows.num_rows, dtype=bool))


def _keys_of(rows: pa.Table) -> list[str]:
    return [identity(*k) for k in zip(*(rows[c].to_pylist() for c in IDENTITY), strict=True)]
