"""The log store: append batches exactly once, compact them into segments, read them back.

Hot/cold: new rows land in DuckDB's native table `logs_hot`; once it holds `compact_rows` rows the
writer moves them into Parquet segments (compact.py). Queries read both through `relation()`,
which skips segments; the view `logs` is both without skipping.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from observ.model import DecodedBatch
from observ.store import merge as merging
from observ.store import relation as rel
from observ.store import retention
from observ.store import segments as segfiles
from observ.store.compact import CompactionResult, compact
from observ.store.config import StoreConfig
from observ.store.coverage import Coverage
from observ.store.filters import GramParams
from observ.store.hotcold import HotColdStore
from observ.store.hotcold import StoreWriteError as StoreWriteError
from observ.store.schema import LOG_COLUMNS, NO_METADATA, define_logs_view, ensure_schema, metadata_since

__all__ = ["AppendResult", "LogStore", "Prepared", "StoreWriteError"]


_COLUMNS = LOG_COLUMNS
_SELECT = ", ".join(_COLUMNS)
_LEGACY_SELECT = ", ".join(NO_METADATA if c == "metadata" else c for c in _COLUMNS)
_ARROW_SCHEMA = pa.schema([(c, pa.int64() if c in ("ts", "observed_ts") else pa.string()) for c in _COLUMNS])
_PUSH_IDENTITY = ("tenant", "service", "namespace", "pod", "container", "stream", "labels", "ts", "line")
"""What makes two pushed entries one for Loki: the stream, the timestamp and the line (not metadata)."""
_RANGES_SCHEMA = pa.schema(
    [("stream_id", pa.string()), ("source", pa.string()), ("lo", pa.int64()), ("hi", pa.int64()),
     ("updated_ns", pa.int64())]
)  # fmt: skip


def _columns(batches: list[tuple[DecodedBatch, list[int] | None]]) -> pa.Table | None:
    """Arrow rows of the kept entries (`None` = all of a batch), batches grouped by tenant and service."""
    if not batches:
        return None
    cols: dict[str, list] = {c: [] for c in _COLUMNS}
    for b, idx in sorted(batches, key=lambda t: (t[0].stream.tenant, t[0].stream.service, t[0].ts[0])):
        m = len(b) if idx is None else len(idx)
        s = b.stream
        for col, value in (
            ("tenant", s.tenant), ("service", s.service), ("namespace", s.namespace), ("pod", s.pod),
            ("container", s.container), ("stream", s.stream), ("observed_ts", b.observed_ts),
            ("labels", orjson.dumps(dict(s.labels)).decode()),
        ):  # fmt: skip
            cols[col].extend([value] * m)
        for col in ("ts", "level", "trace_id", "span_id", "line"):
            src = getattr(b, col)
            cols[col].extend(src if idx is None else [src[i] for i in idx])
        md = b.metadata_text()
        cols["metadata"].extend(md if idx is None else [md[i] for i in idx])
    return pa.Table.from_pydict(cols, schema=_ARROW_SCHEMA)


def _per_stream(rows: pa.Table) -> dict[tuple[str, str, str], int]:
    if not rows.num_rows:
        return {}
    counts = rows.group_by(["tenant", "service", "level"]).aggregate([("ts", "count")])
    return {
        (t, s, lv): n
        for t, s, lv, n in zip(*(counts.column(c).to_pylist() for c in ("tenant", "service", "level", "ts_count")),
                               strict=True)
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class AppendResult:
    inserted: int
    duplicates: int
    """Entries skipped: replays of stored source ranges, and pushed entries identical to a stored one."""
    per_stream: dict[tuple[str, str, str], int]
    """Inserted rows by (tenant, service, level), for the ingested-lines counters."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """An append whose Python work is done; `LogStore.write` commits it."""

    rows: pa.Table | None
    """Entries read from a source file, replays already filtered out."""
    pushed: pa.Table | None
    """Entries without a source (pushed through the API), deduplicated against the store on write."""
    coverage: dict[tuple[str, str], Coverage]
    """The new stored ranges of every (stream id, source) this append touches."""
    offsets: dict[tuple[str, int], int]
    rejected: list[tuple[str, int, int, str, bytes]]
    duplicates: int


class LogStore(HotColdStore[CompactionResult]):
    """One DuckDB database file plus its segments directory; a single writer, any number of reader cursors.

    Source positions are cached in memory (they are only written here) so the
    duplicate filter costs a dict lookup per batch, not a query. So is the segment
    catalog with its skip filters, which `relation()` prunes by without a query.
    """

    def __init__(self, path: str | Path, config: StoreConfig | None = None) -> None:
        super().__init__(path, config, "segments")
        ensure_schema(self._con)
        self._metadata_since = metadata_since(self._con)
        self._con.execute("SET parquet_metadata_cache = true")
        self._catalog: rel.Catalog[segfiles.Segment] = rel.Catalog(())
        self._next_segment = 1
        self._tail: tuple[int, ...] = (0,)
        """`newest_id` after each of the last TAIL_CHANGES + 1 compactions and merges: the tail view holds the
        files above the first."""
        self._staged_tail: tuple[int, ...] = self._tail
        """The tail of the views defined in a transaction not swapped in yet."""
        self._prefix = "" if self.segments_dir is None else f"{self.segments_dir}{os.sep}"
        """What makes a segment's registered name its path (`filename`)."""
        if self.segments_dir is not None:
            self._open_segments(self.segments_dir)
        else:
            self._define_cold_view(self._con, [])
        define_logs_view(self._con)
        row = self._con.execute("SELECT count(*) FROM logs_hot").fetchone()
        self._hot_rows = int(row[0]) if row else 0
        self._staged: dict[tuple[str, str], Coverage] = {}
        """Ranges of prepared appends not written yet."""
        ranges: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for s, src, lo, hi in self._con.execute("SELECT stream_id, source, lo, hi FROM source_ranges").fetchall():
            ranges.setdefault((s, src), []).append((lo, hi))
        self._coverage: dict[tuple[str, str], Coverage] = {k: Coverage(v) for k, v in ranges.items()}

    def _open_segments(self, directory: Path) -> None:
        registered = {name for (name,) in self._con.execute("SELECT path FROM segments").fetchall()}
        segfiles.remove_orphans(directory, registered)
        loaded = segfiles.load(self._con, directory)
        row = self._con.execute("SELECT max(id) FROM segments").fetchone()
        self._next_segment = (row[0] or 0) + 1 if row else 1
        self._tail = (self._next_segment - 1,)
        # the view names absolute paths: redefine it in case the data directory moved
        self._define_cold_view(self._con, loaded)
        self._swap_catalog(loaded)

    def _define_cold_view(self, con: duckdb.DuckDBPyConnection, segments: Sequence[segfiles.Segment]) -> None:
        """In the transaction that makes `segments` the catalog: the cold view over all of them and the tail view
        over the newest (relation.py), which `_swap_catalog` then commits to. Segments written before schema
        version 4 have no `metadata` column: they read as `'{}'`."""
        newest = max([self._next_segment - 1, *(s.id for s in segments)])
        tail = self._tail if newest == self._tail[-1] else (*self._tail, newest)[-(rel.TAIL_CHANGES + 1) :]
        self._staged_tail = tail
        since = self._metadata_since
        for view, segs in ((segfiles.COLD_VIEW, segments), (rel.TAIL_VIEW, [s for s in segments if s.id > tail[0]])):
            segfiles.define_cold_view(
                con,
                [s.path for s in segs if s.id >= since],
                _SELECT,
                view=view,
                legacy=([s.path for s in segs if s.id < since], _LEGACY_SELECT),
            )
        con.execute(f"CREATE OR REPLACE VIEW {rel.TAIL_SINCE} AS SELECT {int(tail[0])}::BIGINT AS since")

    def _swap_catalog(self, segments: Sequence[segfiles.Segment]) -> None:
        """After the commit of `_define_cold_view`'s transaction (under the writers' lock, `_next_segment` updated)."""
        self._catalog = rel.Catalog(tuple(segments), self._next_segment - 1)
        self._tail = self._staged_tail

    def _files(self, segments: Sequence[segfiles.Segment]) -> list[str]:
        """SELECTs of the columns of `logs` and `filename` reading exactly these segments' files."""
        since = self._metadata_since
        return [
            f"SELECT {cols}, filename FROM {segfiles.parquet_files(paths)}"
            for paths, cols in (
                ([s.path for s in segments if s.id >= since], _SELECT),
                ([s.path for s in segments if s.id < since], _LEGACY_SELECT),
            )
            if paths
        ]

    def relation(self, hints: rel.ScanHints) -> rel.Relation:
        """Hot rows plus the segments whose metadata and filters may hold a row matching `hints`.

        The caller still filters by tenant, time and its own predicates; this only prunes segments.
        """
        c = self._catalog
        newest = f"{self._prefix}{segfiles.segment_name(c.newest_id)}"
        return rel.build(c, hints, _SELECT, self._files, self._prefix, newest)

    @property
    def segments(self) -> tuple[segfiles.Segment, ...]:
        return self._catalog.segments

    def _compact(self, cur: duckdb.DuckDBPyConnection, directory: Path) -> CompactionResult | None:
        def write() -> CompactionResult:  # the catalog holds still: merges and expiries wait for `_compacting`
            return compact(cur, directory, list(self.segments), self._next_segment, self.config, _SELECT,
                           self._define_cold_view)  # fmt: skip

        def swap(result: CompactionResult) -> None:
            self._next_segment += len(result.segments)
            self._swap_catalog((*self.segments, *result.segments))

        return self._compact_snapshot(cur, "logs_hot", write, swap)

    def expire(self, now_ns: int, *, dry_run: bool = False) -> retention.Expiry:
        """Retention: unregister the segments entirely older than their tenant's cutoff and delete older hot rows,
        in one transaction with the cold view (`dry_run`: only count them). The files are the caller's to delete
        once no reader can still hold them (lifecycle.Graveyard). Waits for a running compaction, whose snapshot
        may hold rows this deletes."""
        with self._compacting, self._lock:
            cutoff = lambda tenant: self.config.retention.cutoff(tenant, now_ns)  # noqa: E731
            gone = retention.expired(self.segments, cutoff)
            tenants = [t for (t,) in self._con.execute("SELECT DISTINCT tenant FROM logs_hot").fetchall()]
            limits = {t: c for t in tenants if (c := cutoff(t)) is not None}
            hot: dict[str, int] = {}
            if dry_run:
                for t, c in limits.items():
                    hot[t] = self._scalar("SELECT count(*) FROM logs_hot WHERE tenant = ? AND ts < ?", [t, c])
                return retention.Expiry(retention.tally(gone, hot), [])
            if not gone and not limits:
                return retention.Expiry([], [])
            ids = {s.id for s in gone}
            kept = [s for s in self.segments if s.id not in ids]
            with self._transaction() as con:
                if gone:
                    segfiles.unregister(con, sorted(ids))
                    self._define_cold_view(con, kept)
                for t, c in limits.items():
                    hot[t] = self._scalar("DELETE FROM logs_hot WHERE tenant = ? AND ts < ?", [t, c])
            if gone:
                self._swap_catalog(kept)
            self._hot_rows -= sum(hot.values())
        return retention.Expiry(retention.tally(gone, hot), [s.path for s in gone])

    def _scalar(self, sql: str, params: list[object]) -> int:
        row = self._con.execute(sql, params).fetchone()
        return int(row[0]) if row else 0

    def merge_small(self, *, dry_run: bool = False) -> list[merging.Merged]:
        """Merge each tenant's small segments (config.merge), a bounded number of groups; see merge.py.

        Raises on the first failure (disk full, ...): that group's new file is removed and nothing of it is
        registered; groups merged before it stay merged."""
        m = self.config.merge
        if self.segments_dir is None or not m.enabled:
            return []
        groups = merging.plan(self.segments, m.small_bytes, m.target_bytes, self.config.segment_max_rows,
                              m.max_merges_per_run)  # fmt: skip
        if dry_run:
            return [merging.merged(g, None) for g in groups]
        with self._compacting:  # a compaction's segment ids are taken when it starts
            return [self._merge(self.segments_dir, g) for g in groups]

    def _merge(self, directory: Path, group: list[segfiles.Segment]) -> merging.Merged:
        """Read the group's rows sorted as compaction sorts them, write the file beside the store without the write
        lock, then (under it) name it with the next id and swap it for the group in one transaction."""
        paths = [s.path for s in group]
        tmp = directory / segfiles.tmp_name(f"merge-{group[0].id:012d}")
        cur = self.cursor()
        try:
            rows = cur.execute(
                f"SELECT {_SELECT} FROM {segfiles.COLD_VIEW} WHERE list_contains(?::VARCHAR[], filename) "
                "ORDER BY service, ts",
                [paths],
            ).to_arrow_table()
            if rows.num_rows != sum(s.rows for s in group):
                raise RuntimeError(f"merge read {rows.num_rows} rows of {sum(s.rows for s in group)}")
            filters = segfiles.build_filters(rows, GramParams(k=self.config.gram_k, window=self.config.gram_window))
            opts = segfiles.ParquetOptions(self.config.zstd_level, self.config.row_group_rows)
            segfiles.write_unplaced(cur, rows, tmp, opts)
            with self._lock:
                ids = {s.id for s in group}
                if len(ids & {s.id for s in self.segments}) != len(ids):
                    raise RuntimeError("segments of the merge left the catalog meanwhile")
                seg_id = self._next_segment
                path = segfiles.place(tmp, seg_id)
                try:
                    seg, per_service = segfiles.build_segment(seg_id, path, rows, group[0].tenant, filters)
                    kept = [*(s for s in self.segments if s.id not in ids), seg]
                    with self._transaction() as con:
                        segfiles.register(con, seg, per_service)
                        segfiles.unregister(con, sorted(ids))
                        self._define_cold_view(con, kept)
                except BaseException:
                    path.unlink(missing_ok=True)
                    raise
                self._next_segment += 1
                self._swap_catalog(kept)
        finally:
            tmp.unlink(missing_ok=True)
            cur.close()
        return merging.merged(group, seg_id)

    def append(
        self,
        batches: Iterable[DecodedBatch],
        offsets: dict[tuple[str, int], int] | None = None,
        rejected: Iterable[tuple[str, int, int, str, bytes]] = (),
    ) -> AppendResult:
        """Insert the new entries of `batches` and record offsets in one transaction, then compact if due.

        On StoreWriteError nothing is kept and this append's staged ranges are dropped, so the same
        batches can simply be appended again.
        """
        prepared = self.prepare(batches, offsets, rejected)
        try:
            result = self.write(prepared)
        except StoreWriteError:
            self.discard(prepared)
            raise
        self.maybe_compact()
        return result

    def prepare(
        self,
        batches: Iterable[DecodedBatch],
        offsets: dict[tuple[str, int], int] | None = None,
        rejected: Iterable[tuple[str, int, int, str, bytes]] = (),
    ) -> Prepared:
        """The Python half of an append: filter replays, build Arrow columns. No database access.

        An entry is a replay when its end offset lies in a stored or staged range of its
        (stream, source) (coverage.py); each batch then adds its own range. That is decided batch by
        batch before anything is reordered, and depends neither on the order batches arrive in
        nor on their timestamps. Batches without a source (pushed through the API) skip this
        filter; identical pushed entries (same stream, timestamp and line) are kept once, here
        and against the store on write, as Loki does with a client's retries.
        Prepared appends must be written in the order they were prepared.
        """
        staged: dict[tuple[str, str], Coverage] = {}
        kept: list[tuple[DecodedBatch, list[int] | None]] = []
        pushed: list[tuple[DecodedBatch, list[int] | None]] = []
        seen_pushed: set[tuple[str, int, str]] = set()
        duplicates = 0
        for b in batches:
            n = len(b)
            if not n:
                continue
            if not b.source:
                keep = []
                sid = b.stream.id
                for i in range(n):
                    k = (sid, b.ts[i], b.line[i])
                    if k not in seen_pushed:
                        seen_pushed.add(k)
                        keep.append(i)
                duplicates += n - len(keep)
                if keep:
                    pushed.append((b, None if len(keep) == n else keep))
                continue
            key = (b.stream.id, b.source)
            cov = staged.get(key)
            if cov is None:
                known = self._staged.get(key) or self._coverage.get(key)
                cov = staged[key] = known.copy() if known is not None else Coverage()
            lo = b.covers_from()
            idx: list[int] | None = None
            if not cov.disjoint(lo, b.end[-1]):
                idx = [i for i, e in enumerate(b.end) if not cov.contains(e)]
                duplicates += n - len(idx)
            cov.add(lo, b.end[-1])
            if idx is None or idx:
                kept.append((b, idx))
        # Grouping batches by stream keeps rows clustered by (tenant, service, ts) for DuckDB's zone
        # maps without an ORDER BY over the whole insert; it comes after the replay filter on purpose.
        self._staged.update(staged)
        return Prepared(_columns(kept), _columns(pushed), staged, dict(offsets or {}), list(rejected), duplicates)

    def discard(self, prepared: Prepared) -> None:
        """Forget the staged ranges of an append that will not be written (prepared after it: none)."""
        for key, cov in prepared.coverage.items():
            if self._staged.get(key) is cov:
                del self._staged[key]

    def write(self, prepared: Prepared) -> AppendResult:
        """The database half: rows, ranges, offsets and rejects in one transaction.

        Raises StoreWriteError when the transaction cannot commit; the store stays usable and
        `write_error` says why until a later write succeeds.
        """
        p = prepared
        now = time.time_ns()
        with self._lock:
            with self._transaction() as con:
                pushed, skipped = self._new_pushed(p.pushed)
                inserted = pa.concat_tables(
                    [t for t in (p.rows, pushed) if t is not None] or [_ARROW_SCHEMA.empty_table()]
                )
                if inserted.num_rows:
                    con.register("_incoming", inserted)
                    con.execute("INSERT INTO logs_hot SELECT * FROM _incoming")
                    con.unregister("_incoming")
                if p.coverage:
                    self._write_ranges(p.coverage, now)
                self._write_positions(p.offsets, p.rejected, now)
            for key, cov in p.coverage.items():
                self._coverage[key] = cov
                if self._staged.get(key) is cov:
                    del self._staged[key]
            self._hot_rows += inserted.num_rows
        return AppendResult(inserted.num_rows, p.duplicates + skipped, _per_stream(inserted))

    def _write_ranges(self, coverage: dict[tuple[str, str], Coverage], now: int) -> None:
        keys = pa.table({"stream_id": [k[0] for k in coverage], "source": [k[1] for k in coverage]})
        rows = [(k[0], k[1], lo, hi, now) for k, cov in coverage.items() for lo, hi in cov.ranges()]
        ranges = pa.table(
            {name: [r[i] for r in rows] for i, name in enumerate(("stream_id", "source", "lo", "hi", "updated_ns"))},
            schema=_RANGES_SCHEMA,
        )
        con = self._con
        con.register("_keys", keys)
        con.register("_ranges", ranges)
        con.execute("DELETE FROM source_ranges r USING _keys k WHERE r.stream_id = k.stream_id AND r.source = k.source")
        con.execute("INSERT INTO source_ranges SELECT * FROM _ranges")
        con.unregister("_keys")
        con.unregister("_ranges")

    def _new_pushed(self, pushed: pa.Table | None) -> tuple[pa.Table | None, int]:
        """Pushed rows minus those identical to a stored row of the same stream (same ts and line).

        Two steps, because a retry is rare: stored timestamps equal to a pushed one (a BIGINT semi-join
        that zone maps and segment pruning keep small), and only for those the full identity.
        """
        if pushed is None:
            return None, 0
        dup: set[int] = set()
        con = self._con
        con.register("_pushed", pushed.append_column("_i", pa.array(range(pushed.num_rows), pa.int64())))
        try:
            ts = pushed.column("ts")
            lo, hi = pc.min(ts).as_py(), pc.max(ts).as_py()
            services = frozenset(pc.unique(pushed.column("service")).to_pylist())
            for tenant in pc.unique(pushed.column("tenant")).to_pylist():
                r = self.relation(rel.ScanHints(tenant, lo, hi + 1, services))
                scope = f"{r.sql} AS s WHERE s.tenant = ? AND s.ts BETWEEN ? AND ?"
                args = [*r.params, tenant, lo, hi]
                clash = con.execute(
                    f"SELECT 1 FROM {scope} AND s.ts IN (SELECT ts FROM _pushed WHERE tenant = ?) LIMIT 1",
                    [*args, tenant],
                ).fetchone()
                if clash is None:
                    continue
                same = " AND ".join(f"s.{c} = p.{c}" for c in _PUSH_IDENTITY)
                found = con.execute(
                    f"SELECT p._i FROM _pushed p WHERE p.tenant = ? AND EXISTS (SELECT 1 FROM {scope} AND {same})",
                    [tenant, *args],
                ).fetchall()
                dup.update(i for (i,) in found)
        finally:
            con.unregister("_pushed")
        if not dup:
            return pushed, 0
        keep = pa.array([i not in dup for i in range(pushed.num_rows)])
        return pushed.filter(keep), len(dup)

    def recent(self, service: str, limit: int = 100, tenant: str = "default") -> list[dict[str, object]]:
        """Newest lines of one service: the plain JSON endpoint of the embedded API."""
        cur = self.cursor()
        r = self.relation(rel.ScanHints(tenant, 0, 2**63 - 1, services=frozenset([service])))
        rows = cur.execute(
            f"SELECT ts, level, trace_id, span_id, pod, container, stream, line FROM {r.sql} AS l "
            "WHERE tenant = ? AND service = ? ORDER BY ts DESC LIMIT ?",
            [*r.params, tenant, service, limit],
        ).fetchall()
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in rows]

    def services(self, tenant: str = "default") -> list[dict[str, object]]:
        rows = (
            self.cursor()
            .execute(
                "SELECT service, sum(n)::BIGINT, max(t) FROM ("
                " SELECT service, count(*) AS n, max(ts) AS t FROM logs_hot WHERE tenant = ? GROUP BY service"
                " UNION ALL SELECT ss.service, ss.rows, ss.ts_max FROM segment_services ss"
                " JOIN segments s ON s.id = ss.segment_id WHERE s.tenant = ?"
                ") GROUP BY service ORDER BY service",
                [tenant, tenant],
            )
            .fetchall()
        )
        return [{"service": s, "lines": n, "last_ts": str(t)} for s, n, t in rows]

    def count(self) -> int:
        """Rows stored, hot and compacted (one snapshot)."""
        row = (
            self.cursor()
            .execute("SELECT (SELECT count(*) FROM logs_hot) + (SELECT coalesce(sum(rows), 0) FROM segments)")
            .fetchone()
        )
        return int(row[0]) if row else 0
