"""Span segments: immutable Parquet files of one tenant's compacted spans, sorted by (trace_id, start_ns), and
their catalog rows in `span_segments`.

File handling (temporary name, fsync, rename, orphan removal on open) is the log segments' own
(`observ.store.segments`); what differs is the sort order and the catalog: a span segment carries its trace
filter and its time bounds (earliest start, latest end), no substring filter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from observ.store.filters import TraceFilter

log = logging.getLogger("observ.traces.segments")


@dataclass(frozen=True, slots=True)
class SpanSegment:
    id: int
    path: str
    """Absolute path: the value of read_parquet's `filename` column for its rows."""
    tenant: str
    services: frozenset[str]
    ts_min: int
    """Earliest span start."""
    ts_max: int
    """Latest span end: a span overlapping [start, end) lies in a segment with ts_max >= start, ts_min < end."""
    rows: int
    bytes: int
    traces: TraceFilter


def describe(con: duckdb.DuckDBPyConnection, seg_id: int, path: Path, tenant: str) -> SpanSegment:
    """Metadata and trace filter of the segment file at `path`, read back from the file itself."""
    services, ts_min, ts_max, rows, trace_ids = con.execute(
        "SELECT list(DISTINCT service), min(start_ns), max(end_ns), count(*), list(DISTINCT trace_id) "
        "FROM read_parquet(?)",
        [str(path)],
    ).fetchone()  # type: ignore[misc]
    return SpanSegment(
        id=seg_id,
        path=str(path),
        tenant=tenant,
        services=frozenset(services),
        ts_min=ts_min,
        ts_max=ts_max,
        rows=rows,
        bytes=path.stat().st_size,
        traces=TraceFilter.build(trace_ids),
    )


def register(con: duckdb.DuckDBPyConnection, seg: SpanSegment) -> None:
    """Inside the caller's transaction."""
    con.execute(
        "INSERT INTO span_segments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            seg.id, Path(seg.path).name, seg.tenant, sorted(seg.services), seg.ts_min, seg.ts_max, seg.rows,
            seg.bytes, seg.traces.fingerprints,
        ],
    )  # fmt: skip


def unregister(con: duckdb.DuckDBPyConnection, ids: list[int]) -> None:
    """Inside the caller's transaction: the segments leave the catalog; their files are the caller's to delete."""
    con.execute("DELETE FROM span_segments WHERE list_contains(?::BIGINT[], id)", [ids])


def load(con: duckdb.DuckDBPyConnection, directory: Path) -> list[SpanSegment]:
    """Registered segments whose file exists, by id. A missing file is logged and left out of queries."""
    out = []
    for seg_id, name, tenant, services, ts_min, ts_max, n, size, traces in con.execute(
        "SELECT id, path, tenant, services, ts_min, ts_max, rows, bytes, trace_filter FROM span_segments ORDER BY id"
    ).fetchall():
        path = directory / name
        if not path.exists():
            log.error("span segment %d (%s) is registered but its file is missing: its %d spans are not queried",
                      seg_id, path, n)  # fmt: skip
            continue
        out.append(
            SpanSegment(
                seg_id, str(path), tenant, frozenset(services), ts_min, ts_max, n, size, TraceFilter(bytes(traces))
            )
        )
    return out


def trace_slices(rows: pa.Table, max_rows: int) -> list[pa.Table]:
    """Rows sorted by trace_id cut into parts of about equal size, never inside a trace (so a compaction writes
    each trace into one file). A trace larger than `max_rows` gets a part of its own."""
    n = rows.num_rows
    if n <= max_rows:
        return [rows]
    size = -(-n // -(-n // max_rows))
    ids = rows["trace_id"]
    out: list[pa.Table] = []
    start = 0
    while n - start > max_rows:
        cut = start + size
        first = ids[cut]
        while cut > start and ids[cut - 1] == first:
            cut -= 1
        if cut == start:
            cut = start + size
            while cut < n and ids[cut] == first:
                cut += 1
        out.append(rows.slice(start, cut - start))
        start = cut
    if start < n:
        out.append(rows.slice(start))
    return out
