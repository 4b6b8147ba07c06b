"""Compaction: move the hot table's rows into Parquet segments, one transaction per run.

Runs in a transaction the store opened on a cursor of its own (`LogStore.compact`, on a background thread), so
appends go on while the files are written: the transaction's snapshot fixes which hot rows move, and the same
transaction deletes exactly those. Segments are cut per tenant and service (small services of a tenant share
one), the unit the relation skips by service, time and filters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
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
    """In `con`'s open transaction: every hot row of its snapshot into new segments, registered, deleted from the
    hot table (rows appended by later transactions stay), and the cold view redefined by `define_view` over the
    given segments (the store knows their schema versions). Not committed: the caller commits, or rolls back
    and `discard`s the result's segments. On failure here the new files are removed already.
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
        for seg, per_service in written:
            register(con, seg, per_service)
        con.execute("DELETE FROM logs_hot")
        define_view(con, [*existing, *new])
    except BaseException:
        discard(seg.path for seg, _ in written)
        raise
    return CompactionResult(new, total, time.perf_counter() - start)


def discard(paths: Iterable[str]) -> None:
    """Remove the files of segments that were not registered."""
    for path in paths:
        Path(path).unlink(missing_ok=True)
