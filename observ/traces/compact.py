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

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from observ.store.compact import discard
from observ.store.config import StoreConfig
from observ.store.segments import ParquetOptions, define_cold_view, place, tmp_name, write_parquet, write_unplaced
from observ.traces.schema import COLD, HOT, IDENTITY, SELECT
from observ.traces.segments import SpanSegment, describe, register, trace_slices, unregister


@dataclass(frozen=True, slots=True)
class SpanCompaction:
    segments: list[SpanSegment]
    rows: int
    seconds: float


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
        discard(s.path for s in new)
        raise
    return SpanCompaction(new, total, time.perf_counter() - start)


def expire_hot(con: duckdb.DuckDBPyConnection, cutoffs: dict[str, int]) -> tuple[dict[str, int], list[tuple]]:
    """In `con`'s open transaction: delete each tenant's hot spans that ended before its cutoff; the spans deleted
    per tenant, and their identity columns (the store forgets them as hot)."""
    deleted: dict[str, int] = {}
    keys: list[tuple] = []
    for tenant, cutoff in cutoffs.items():
        rows = con.execute(
            f"DELETE FROM {HOT} WHERE tenant = ? AND end_ns < ? RETURNING {', '.join(IDENTITY)}", [tenant, cutoff]
        ).fetchall()
        deleted[tenant] = len(rows)
        keys.extend(rows)
    return deleted, keys


def write_merged(
    con: duckdb.DuckDBPyConnection, directory: Path, group: Sequence[SpanSegment], config: StoreConfig
) -> SpanSegment:
    """The group's spans in one file under a temporary name, sorted as compaction sorts them; described with id 0.
    `place_merged` names it once the store decided its id."""
    tmp = directory / tmp_name(f"merge-{group[0].id:012d}")
    try:
        rows = con.execute(
            f"SELECT {SELECT} FROM {COLD} WHERE list_contains(?::VARCHAR[], filename) "
            "ORDER BY trace_id, start_ns, span_id",
            [[s.path for s in group]],
        ).to_arrow_table()
        if rows.num_rows != sum(s.rows for s in group):
            raise RuntimeError(f"span merge read {rows.num_rows} rows of {sum(s.rows for s in group)}")
        write_unplaced(con, rows, tmp, ParquetOptions(config.zstd_level, config.row_group_rows))
        return describe(con, 0, tmp, group[0].tenant)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def swap_in(
    con: duckdb.DuckDBPyConnection,
    written: SpanSegment,
    seg_id: int,
    group: Sequence[SpanSegment],
    kept: Sequence[SpanSegment],
) -> SpanSegment:
    """In `con`'s open transaction: the merged file named as segment `seg_id`, registered in place of `group`;
    `kept` are the other segments, for the cold view. The caller commits, or rolls back and removes
    the file (under either name)."""
    seg = dataclasses.replace(written, id=seg_id, path=str(place(Path(written.path), seg_id)))
    register(con, seg)
    unregister(con, [s.id for s in group])
    define_cold_view(con, [s.path for s in [*kept, seg]], SELECT, view=COLD, hot=HOT)
    return seg
