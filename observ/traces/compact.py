"""Compaction of the spans store: every hot span into Parquet segments, one transaction per run.

As for logs (observ/store/compact.py): runs on the single writer's thread under the store's lock; files are
written and synced first, then one transaction registers them, empties the hot table and redefines the cold
view; on failure nothing is registered and the new files are removed. Segments are cut per tenant, sorted by
(trace_id, start_ns, span_id), so a trace is contiguous and the row groups' trace_id statistics skip the rest
of a file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from observ.store.config import StoreConfig
from observ.store.segments import ParquetOptions, define_cold_view, write_parquet
from observ.traces.schema import COLD, HOT, SELECT
from observ.traces.segments import SpanSegment, describe, register, trace_slices

log = logging.getLogger("observ.traces.compact")


@dataclass(frozen=True, slots=True)
class SpanCompaction:
    segments: list[SpanSegment]
    rows: int
    seconds: float


def compact(
    con: duckdb.DuckDBPyConnection, directory: Path, existing: list[SpanSegment], next_id: int, config: StoreConfig
) -> SpanCompaction:
    """Write every hot span into new segments, then register them and empty the hot table in one transaction."""
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
        con.execute("BEGIN TRANSACTION")
        try:
            for seg in new:
                register(con, seg)
            con.execute(f"DELETE FROM {HOT}")
            define_cold_view(con, [s.path for s in [*existing, *new]], SELECT, view=COLD, hot=HOT)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except BaseException:
        for seg in new:
            Path(seg.path).unlink(missing_ok=True)
        raise
    try:
        con.execute("CHECKPOINT")
    except duckdb.Error as e:
        log.warning("checkpoint after span compaction failed (DuckDB retries on its own): %s", e)
    seconds = time.perf_counter() - start
    log.info("compacted %d spans into %d segment(s) in %.1fs", total, len(new), seconds)
    return SpanCompaction(new, total, seconds)
