"""Compaction of the spans store: the hot spans of one moment into Parquet segment files.

The hot spans are an Arrow table in memory (store.py), so the files are written from it without holding any lock;
the store then registers them in one transaction with the Kafka offsets and the log position they cover. On
failure the new files are removed. Segments are cut per tenant, sorted by (trace_id, start_ns, span_id), so a
trace is contiguous and the row groups' trace_id statistics skip the rest of a file.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from observ.store.compact import discard
from observ.store.config import StoreConfig
from observ.store.segments import ParquetOptions, define_cold_view, place, tmp_name, write_parquet, write_unplaced
from observ.traces.schema import COLD, HOT, SELECT, SPAN_COLUMNS
from observ.traces.segments import SpanSegment, describe, register, trace_slices, unregister


@dataclass(frozen=True, slots=True)
class SpanCompaction:
    segments: list[SpanSegment]
    rows: int
    seconds: float


def compact(
    con: duckdb.DuckDBPyConnection, directory: Path, hot: pa.Table, next_id: int, config: StoreConfig
) -> SpanCompaction:
    """The spans of `hot` into new segment files (ids from `next_id`), written and described, not registered: the
    caller registers them, or `discard`s the result's segments."""
    start = time.perf_counter()
    counts = pc.value_counts(hot["tenant"])
    tenants = sorted(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))
    opts = ParquetOptions(config.zstd_level, config.row_group_rows)
    new: list[SpanSegment] = []
    try:
        rows_of, resource = _resource_after_sort(con, hot)
        for tenant, n in tenants:
            # the relational API keeps the tenant a value, not SQL text, and stays lazy (`sql(params=)` would run it);
            # one tenant (the usual case) needs no filter, which also slowed the resource's lookup (4.0 against 3.0 us
            # a span of bench/traces.py)
            mine = (
                rows_of
                if len(tenants) == 1
                else rows_of.filter(duckdb.ColumnExpression("tenant") == duckdb.ConstantExpression(tenant))
            )
            rows = mine.order("trace_id, start_ns, span_id").project(
                *(resource if c == "resource" else duckdb.ColumnExpression(c) for c in SPAN_COLUMNS)
            )
            # one segment (the usual case: compact_rows <= segment_max_rows): DuckDB sorts and writes the file
            # without handing the rows to Arrow and back, five times faster
            parts = (
                [rows] if n <= config.segment_max_rows else trace_slices(rows.to_arrow_table(), config.segment_max_rows)
            )
            for part in parts:
                seg_id = next_id + len(new)
                new.append(describe(con, seg_id, write_parquet(con, part, directory, seg_id, opts), tenant))
        if sum(s.rows for s in new) != hot.num_rows:
            raise RuntimeError(f"span compaction wrote {sum(s.rows for s in new)} spans of {hot.num_rows}")
    except BaseException:
        discard(s.path for s in new)
        raise
    return SpanCompaction(new, hot.num_rows, time.perf_counter() - start)


def _resource_after_sort(
    con: duckdb.DuckDBPyConnection, hot: pa.Table
) -> tuple[duckdb.DuckDBPyRelation, duckdb.Expression]:
    """The hot rows with `resource` as its index into one dictionary, and the expression giving its text back.

    A resource's text is shared by its spans in Arrow (a dictionary), but DuckDB's sort would carry it in every
    row: 451 of ~1,000 bytes a span of bench/traces.py. Sorted by index and spelled out after the sort, a
    compaction takes 2.9 against 4.2 us a span."""
    unified = hot.unify_dictionaries()
    column = unified.column("resource")
    texts = column.chunk(0).dictionary if column.num_chunks else pa.array([], pa.string())
    indices = pa.chunked_array([c.indices for c in column.chunks], pa.int32())
    rows = con.from_arrow(unified.set_column(unified.schema.get_field_index("resource"), "resource_idx", indices))
    text = duckdb.FunctionExpression(
        "list_extract",
        duckdb.ConstantExpression(texts.to_pylist()),
        duckdb.ColumnExpression("resource_idx") + duckdb.ConstantExpression(1),
    ).alias("resource")
    return rows, text


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
