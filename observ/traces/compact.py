"""Compaction of the spans store: the hot spans of one snapshot into Parquet segments, in one transaction.

As for logs (observ/store/compact.py), with one difference: it runs inside a transaction the caller opened on a
cursor of its own, so appends go on while the files are written. The transaction's snapshot fixes which hot spans
move: the files are written from it, then the same transaction registers them, deletes exactly those spans from the
hot table (spans appended meanwhile are not in the snapshot and stay hot) and redefines the cold view; the caller
commits. On failure the new files are removed and nothing is registered. Segments are cut per tenant, sorted by
(trace_id, start_ns, span_id), so a trace is contiguous and the row groups' trace_id statistics skip the rest of
a file.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from observ.store.config import StoreConfig
from observ.store.segments import ParquetOptions, define_cold_view, write_parquet
from observ.traces.schema import COLD, HOT, SELECT
from observ.traces.segments import SpanSegment, describe, register, trace_slices


@dataclass(frozen=True, slots=True)
class SpanCompaction:
    segments: list[SpanSegment]
    rows: int
    seconds: float


def discard(segments: Iterable[SpanSegment]) -> None:
    """Remove the files of segments that were not registered."""
    for seg in segments:
        Path(seg.path).unlink(missing_ok=True)


def compact(
    con: duckdb.DuckDBPyConnection, directory: Path, existing: list[SpanSegment], next_id: int, config: StoreConfig
) -> SpanCompaction:
    """In `con`'s open transaction: every hot span of its snapshot into new segments, registered, and deleted from
    the hot table. Not committed: the caller commits, or rolls back and `discard`s the result's segments."""
    start = time.perf_counter()
    tenants = con.execute(f"SELECT tenant, count(*) FROM {HOT} GROUP BY tenant ORDER BY tenant").fetchall()
    total = sum(n for _, n in tenants)
    opts = ParquetOptions(config.zstd_level, config.row_group_rows)
    new: list[SpanSegment] = []
    try:
        for tenant, n in tenants:
            # the relational API keeps the tenant a value, not SQL text, and stays lazy (`sql(params=)` would run it)
            rows = (
                con.table(HOT)
                .filter(duckdb.ColumnExpression("tenant") == duckdb.ConstantExpression(tenant))
                .project(SELECT)
                .order("trace_id, start_ns, span_id")
            )
            # one segment (the usual case: compact_rows <= segment_max_rows): DuckDB sorts and writes the file
            # without handing the rows to Arrow and back, five times faster
            parts = (
                [rows] if n <= config.segment_max_rows else trace_slices(rows.to_arrow_table(), config.segment_max_rows)
            )
            for part in parts:
                seg_id = next_id + len(new)
                new.append(describe(con, seg_id, write_parquet(con, part, directory, seg_id, opts), tenant))
        if sum(s.rows for s in new) != total:
            raise RuntimeError(f"span compaction read {sum(s.rows for s in new)} rows of {total}")
        for seg in new:
            register(con, seg)
        con.execute(f"DELETE FROM {HOT}")
        define_cold_view(con, [s.path for s in [*existing, *new]], SELECT, view=COLD, hot=HOT)
    except BaseException:
        discard(new)
        raise
    return SpanCompaction(new, total, time.perf_counter() - start)
