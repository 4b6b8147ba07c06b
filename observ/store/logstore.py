"""The log store: append batches exactly once, compact them into segments, read them back.

Hot/cold: new rows land in DuckDB's native table `logs_hot`; once it holds `compact_rows` rows the
writer moves them into Parquet segments (compact.py). Queries read both through `relation()`,
which skips segments; the view `logs` is both without skipping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from observ.model import DecodedBatch
from observ.store import relation as rel
from observ.store import segments as segfiles
from observ.store.compact import CompactionResult, compact
from observ.store.config import StoreConfig
from observ.store.schema import LOG_COLUMNS, define_logs_view, ensure_schema

log = logging.getLogger("observ.store")

_COLUMNS = LOG_COLUMNS
_SELECT = ", ".join(_COLUMNS)
_ARROW_SCHEMA = pa.schema([(c, pa.int64() if c in ("ts", "observed_ts") else pa.string()) for c in _COLUMNS])


@dataclass(frozen=True, slots=True)
class AppendResult:
    inserted: int
    duplicates: int
    per_stream: dict[tuple[str, str, str], int]
    """Inserted rows by (tenant, service, level), for the ingested-lines counters."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """An append whose Python work is done; `LogStore.write` commits it."""

    rows: pa.Table | None
    positions: dict[tuple[str, str], int]
    offsets: dict[tuple[str, int], int]
    rejected: list[tuple[str, int, int, str, bytes]]
    duplicates: int
    per_stream: dict[tuple[str, str, str], int]


class LogStore:
    """One DuckDB database file plus its segments directory; a single writer, any number of reader cursors.

    Source positions are cached in memory (they are only written here) so the
    duplicate filter costs a dict lookup per batch, not a query. So is the segment
    catalog with its skip filters, which `relation()` prunes by without a query.
    """

    def __init__(self, path: str | Path, config: StoreConfig | None = None) -> None:
        self.path = Path(path)
        self.config = config or StoreConfig()
        in_memory = str(path) == ":memory:"
        self.segments_dir: Path | None = None if in_memory else self.path.parent / "segments"
        if self.segments_dir is not None:
            self.segments_dir.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(path))
        self._lock = threading.Lock()
        ensure_schema(self._con)
        self._con.execute("SET parquet_metadata_cache = true")
        self._segments: tuple[segfiles.Segment, ...] = ()
        self._next_segment = 1
        if self.segments_dir is not None:
            self._open_segments(self.segments_dir)
        else:
            segfiles.define_cold_view(self._con, [], _SELECT)
        define_logs_view(self._con)
        row = self._con.execute("SELECT count(*) FROM logs_hot").fetchone()
        self._hot_rows = int(row[0]) if row else 0
        self._retry_at = 0
        self._staged: dict[tuple[str, str], int] = {}
        """Positions of prepared appends not written yet."""
        self._positions: dict[tuple[str, str], int] = {
            (s, src): off
            for s, src, off in self._con.execute(
                "SELECT stream_id, source, end_offset FROM source_positions"
            ).fetchall()
        }

    def _open_segments(self, directory: Path) -> None:
        registered = {name for (name,) in self._con.execute("SELECT path FROM segments").fetchall()}
        segfiles.remove_orphans(directory, registered)
        self._segments = tuple(segfiles.load(self._con, directory))
        row = self._con.execute("SELECT max(id) FROM segments").fetchone()
        self._next_segment = (row[0] or 0) + 1 if row else 1
        # the view names absolute paths: redefine it in case the data directory moved
        segfiles.define_cold_view(self._con, [s.path for s in self._segments], _SELECT)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for another thread: readers never share the writer's connection."""
        return self._con.cursor()

    def relation(self, hints: rel.ScanHints) -> rel.Relation:
        """Hot rows plus the segments whose metadata and filters may hold a row matching `hints`.

        The caller still filters by tenant, time and its own predicates; this only prunes segments.
        """
        return rel.build(self._segments, hints, _SELECT)

    @property
    def segments(self) -> tuple[segfiles.Segment, ...]:
        return self._segments

    def maybe_compact(self) -> CompactionResult | None:
        """Compact if the hot table reached `compact_rows`. Call on the writer's thread, after a write.

        A failed compaction keeps every row hot and is logged, not raised: ingestion goes on, and the next
        attempt waits for another quarter of `compact_rows`, so a persistent fault does not stall every write.
        """
        if self.segments_dir is None or self._hot_rows < max(self.config.compact_rows, self._retry_at):
            return None
        try:
            return self.compact()
        except (duckdb.Error, OSError, RuntimeError):
            log.exception("compaction failed; the rows stay in the hot table")
            self._retry_at = self._hot_rows + max(1, self.config.compact_rows // 4)
            return None

    def compact(self) -> CompactionResult | None:
        """Move every hot row into segments now (None when there is nothing to move or no directory)."""
        if self.segments_dir is None:
            return None
        with self._lock:
            if not self._hot_rows:
                return None
            result = compact(
                self._con, self.segments_dir, list(self._segments), self._next_segment, self.config, _SELECT
            )
            self._segments = (*self._segments, *result.segments)
            self._next_segment += len(result.segments)
            self._hot_rows = 0
        return result

    def kafka_offsets(self, topic: str) -> dict[int, int]:
        rows = self.cursor().execute("SELECT part, next_offset FROM kafka_offsets WHERE topic = ?", [topic]).fetchall()
        return dict(rows)

    def append(
        self,
        batches: Iterable[DecodedBatch],
        offsets: dict[tuple[str, int], int] | None = None,
        rejected: Iterable[tuple[str, int, int, str, bytes]] = (),
    ) -> AppendResult:
        """Insert the new entries of `batches` and record offsets in one transaction, then compact if due."""
        result = self.write(self.prepare(batches, offsets, rejected))
        self.maybe_compact()
        return result

    def prepare(
        self,
        batches: Iterable[DecodedBatch],
        offsets: dict[tuple[str, int], int] | None = None,
        rejected: Iterable[tuple[str, int, int, str, bytes]] = (),
    ) -> Prepared:
        """The Python half of an append: filter replays, build Arrow columns. No database access.

        Entries whose end offset is at or before the position of their (stream, source),
        stored or staged by an earlier prepare, are duplicates of a replay and are skipped.
        Batches without a source (pushed through the API: no file position) are never skipped.
        Prepared appends must be written in the order they were prepared.
        """
        cols: dict[str, list] = {c: [] for c in _COLUMNS}
        new_positions: dict[tuple[str, str], int] = {}
        per_stream: dict[tuple[str, str, str], int] = {}
        duplicates = 0
        # Entries of a batch are in time order; grouping batches by stream keeps rows clustered by
        # (tenant, service, ts) for DuckDB's zone maps without an ORDER BY over the whole insert.
        for b in sorted(batches, key=lambda b: (b.stream.tenant, b.stream.service, b.ts[0] if b.ts else 0)):
            first = 0
            n = len(b)
            if b.source:
                key = (b.stream.id, b.source)
                known = new_positions.get(key, self._staged.get(key, self._positions.get(key, -1)))
                if n and b.end[0] <= known:
                    while first < n and b.end[first] <= known:
                        first += 1
                    duplicates += first
                if first < n:
                    new_positions[key] = b.end[-1]
            if first >= n:
                continue
            m = n - first
            s = b.stream
            for col, value in (
                ("tenant", s.tenant), ("service", s.service), ("namespace", s.namespace), ("pod", s.pod),
                ("container", s.container), ("stream", s.stream), ("observed_ts", b.observed_ts),
                ("labels", orjson.dumps(dict(s.labels)).decode()),
            ):  # fmt: skip
                cols[col].extend([value] * m)
            for col in ("ts", "level", "trace_id", "span_id", "line"):
                src = getattr(b, col)
                cols[col].extend(src[first:] if first else src)
            levels = b.level[first:] if first else b.level
            for lv in set(levels):
                k = (s.tenant, s.service, lv)
                per_stream[k] = per_stream.get(k, 0) + levels.count(lv)
        self._staged.update(new_positions)
        rows = pa.Table.from_pydict(cols, schema=_ARROW_SCHEMA) if cols["line"] else None
        return Prepared(rows, new_positions, dict(offsets or {}), list(rejected), duplicates, per_stream)

    def write(self, prepared: Prepared) -> AppendResult:
        """The database half: rows, positions, offsets and rejects in one transaction."""
        p = prepared
        now = time.time_ns()
        with self._lock:
            con = self._con
            con.execute("BEGIN TRANSACTION")
            try:
                if p.rows is not None:
                    con.register("_incoming", p.rows)
                    con.execute("INSERT INTO logs_hot SELECT * FROM _incoming")
                    con.unregister("_incoming")
                if p.positions:
                    con.executemany(
                        "INSERT OR REPLACE INTO source_positions VALUES (?, ?, ?, ?)",
                        [(s, src, off, now) for (s, src), off in p.positions.items()],
                    )
                if p.offsets:
                    con.executemany(
                        "INSERT OR REPLACE INTO kafka_offsets VALUES (?, ?, ?)",
                        [(t, part, o) for (t, part), o in p.offsets.items()],
                    )
                if p.rejected:
                    con.executemany(
                        "INSERT INTO rejected_records VALUES (?, ?, ?, ?, ?, ?)", [(*r, now) for r in p.rejected]
                    )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                self._staged.clear()
                raise
            self._positions.update(p.positions)
            self._hot_rows += p.rows.num_rows if p.rows is not None else 0
            for key, off in p.positions.items():
                if self._staged.get(key) == off:
                    del self._staged[key]
        inserted = p.rows.num_rows if p.rows is not None else 0
        return AppendResult(inserted, p.duplicates, p.per_stream)

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

    def close(self) -> None:
        with self._lock:
            self._con.close()
