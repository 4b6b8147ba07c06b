"""The log store: append batches exactly once, read recent lines back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from observ.model import DecodedBatch
from observ.store.schema import ensure_schema

_COLUMNS = (
    "tenant", "ts", "observed_ts", "service", "namespace", "pod", "container",
    "stream", "level", "trace_id", "span_id", "labels", "line",
)  # fmt: skip

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
    """One DuckDB database file; a single writer, any number of reader cursors.

    Source positions are cached in memory (they are only written here) so the
    duplicate filter costs a dict lookup per batch, not a query.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(path))
        self._lock = threading.Lock()
        ensure_schema(self._con)
        self._staged: dict[tuple[str, str], int] = {}
        """Positions of prepared appends not written yet."""
        self._positions: dict[tuple[str, str], int] = {
            (s, src): off
            for s, src, off in self._con.execute(
                "SELECT stream_id, source, end_offset FROM source_positions"
            ).fetchall()
        }

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for another thread: readers never share the writer's connection."""
        return self._con.cursor()

    def kafka_offsets(self, topic: str) -> dict[int, int]:
        rows = self.cursor().execute("SELECT part, next_offset FROM kafka_offsets WHERE topic = ?", [topic]).fetchall()
        return dict(rows)

    def append(
        self,
        batches: Iterable[DecodedBatch],
        offsets: dict[tuple[str, int], int] | None = None,
        rejected: Iterable[tuple[str, int, int, str, bytes]] = (),
    ) -> AppendResult:
        """Insert the new entries of `batches` and record offsets, in one transaction."""
        return self.write(self.prepare(batches, offsets, rejected))

    def prepare(
        self,
        batches: Iterable[DecodedBatch],
        offsets: dict[tuple[str, int], int] | None = None,
        rejected: Iterable[tuple[str, int, int, str, bytes]] = (),
    ) -> Prepared:
        """The Python half of an append: filter replays, build Arrow columns. No database access.

        Entries whose end offset is at or before the position of their (stream, source),
        stored or staged by an earlier prepare, are duplicates of a replay and are skipped.
        Prepared appends must be written in the order they were prepared.
        """
        cols: dict[str, list] = {c: [] for c in _COLUMNS}
        new_positions: dict[tuple[str, str], int] = {}
        per_stream: dict[tuple[str, str, str], int] = {}
        duplicates = 0
        # Entries of a batch are in time order; grouping batches by stream keeps rows clustered by
        # (tenant, service, ts) for DuckDB's zone maps without an ORDER BY over the whole insert.
        for b in sorted(batches, key=lambda b: (b.stream.tenant, b.stream.service, b.ts[0] if b.ts else 0)):
            key = (b.stream.id, b.source)
            known = new_positions.get(key, self._staged.get(key, self._positions.get(key, -1)))
            first = 0
            n = len(b)
            if n and b.end[0] <= known:
                while first < n and b.end[first] <= known:
                    first += 1
                duplicates += first
            if first >= n:
                continue
            m = n - first
            new_positions[key] = b.end[-1]
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
                    con.execute("INSERT INTO logs SELECT * FROM _incoming")
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
            for key, off in p.positions.items():
                if self._staged.get(key) == off:
                    del self._staged[key]
        inserted = p.rows.num_rows if p.rows is not None else 0
        return AppendResult(inserted, p.duplicates, p.per_stream)

    def recent(self, service: str, limit: int = 100, tenant: str = "default") -> list[dict[str, object]]:
        """Newest lines of one service: the plain JSON endpoint of the embedded API."""
        cur = self.cursor()
        rows = cur.execute(
            "SELECT ts, level, trace_id, span_id, pod, container, stream, line FROM logs "
            "WHERE tenant = ? AND service = ? ORDER BY ts DESC LIMIT ?",
            [tenant, service, limit],
        ).fetchall()
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in rows]

    def services(self, tenant: str = "default") -> list[dict[str, object]]:
        rows = (
            self.cursor()
            .execute(
                "SELECT service, count(*), max(ts) FROM logs WHERE tenant = ? GROUP BY service ORDER BY service",
                [tenant],
            )
            .fetchall()
        )
        return [{"service": s, "lines": n, "last_ts": str(t)} for s, n, t in rows]

    def count(self) -> int:
        row = self.cursor().execute("SELECT count(*) FROM logs").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._con.close()
