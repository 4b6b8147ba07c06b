"""Compaction: move the hot table's rows into Parquet segments, one transaction per run.

Runs on the single writer's thread while it holds the store's write lock, so no row arrives
between reading the hot table and deleting it. Segments are cut per tenant and service (small
services of a tenant share one), the unit the relation skips by service, time and filters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from observ.store.config import StoreConfig
from observ.store.filters import GramParams
from observ.store.segments import (
    ParquetOptions,
    Segment,
    ServiceStats,
    build_filters,
    build_segment,
    register,
    write_parquet,
)

log = logging.getLogger("observ.store.compact")


@dataclass(frozen=True, slots=True)
class Group:
    tenant: str
    services: tuple[str, ...]
    rows: int


@dataclass(frozen=True, slots=True)
class CompactionResult:
    segments: list[Segment]
    rows: int
    seconds: float


def plan(counts: list[tuple[str, str, int]], min_rows: int, max_rows: int) -> list[Group]:
    """Groups of (tenant, services) to write: a service of its own once it has min_rows, else packed."""
    groups: list[Group] = []
    by_tenant: dict[str, list[tuple[str, int]]] = {}
    for tenant, service, n in sorted(counts):
        by_tenant.setdefault(tenant, []).append((service, n))
    for tenant, services in by_tenant.items():
        packed: list[str] = []
        packed_rows = 0
        for service, n in services:
            if n >= min_rows:
                groups.append(Group(tenant, (service,), n))
                continue
            if packed and packed_rows + n > max_rows:
                groups.append(Group(tenant, tuple(packed), packed_rows))
                packed, packed_rows = [], 0
            packed.append(service)
            packed_rows += n
        if packed:
            groups.append(Group(tenant, tuple(packed), packed_rows))
    return groups


def _slices(rows: pa.Table, max_rows: int) -> list[pa.Table]:
    parts = -(-rows.num_rows // max_rows)
    size = -(-rows.num_rows // parts)
    return [rows.slice(i, size) for i in range(0, rows.num_rows, size)]


def compact(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    existing: list[Segment],
    next_id: int,
    config: StoreConfig,
    columns: str,
    define_view: Callable[[duckdb.DuckDBPyConnection, list[Segment]], None],
) -> CompactionResult:
    """Write every hot row into new segments, then register them and empty the hot table in one transaction.

    `define_view` redefines the cold view over the given segments (the store knows their schema versions).

    On failure nothing is registered, the hot table keeps its rows and the new files are removed.
    """
    start = time.perf_counter()
    counts = con.execute("SELECT tenant, service, count(*) FROM logs_hot GROUP BY ALL").fetchall()
    total = sum(n for *_, n in counts)
    opts = ParquetOptions(config.zstd_level, config.row_group_rows)
    params = GramParams(k=config.gram_k, window=config.gram_window)
    written: list[tuple[Segment, list[ServiceStats]]] = []
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segment-filters") as pool:
            for g in plan(counts, config.segment_min_rows, config.segment_max_rows):
                rows = con.execute(
                    f"SELECT {columns} FROM logs_hot WHERE tenant = ? AND list_contains(?::VARCHAR[], service) "
                    "ORDER BY service, ts",
                    [g.tenant, list(g.services)],
                ).to_arrow_table()
                for part in _slices(rows, config.segment_max_rows):
                    seg_id = next_id + len(written)
                    filters = pool.submit(build_filters, part, params)
                    path = write_parquet(con, part, directory, seg_id, opts)
                    written.append(build_segment(seg_id, path, part, g.tenant, filters.result()))
        new = [seg for seg, _ in written]
        if sum(s.rows for s in new) != total:
            raise RuntimeError(f"compaction read {sum(s.rows for s in new)} rows of {total}")
        con.execute("BEGIN TRANSACTION")
        try:
            for seg, per_service in written:
                register(con, seg, per_service)
            con.execute("DELETE FROM logs_hot")
            define_view(con, [*existing, *new])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except BaseException:
        for seg, _ in written:
            Path(seg.path).unlink(missing_ok=True)
        raise
    try:
        # frees the deleted rows' blocks now, for the next hot rows to reuse: the file never shrinks below its peak
        con.execute("CHECKPOINT")
    except duckdb.Error as e:
        log.warning("checkpoint after compaction failed (DuckDB retries on its own): %s", e)
    seconds = time.perf_counter() - start
    log.info("compacted %d rows into %d segment(s) in %.1fs", total, len(new), seconds)
    return CompactionResult(new, total, seconds)
