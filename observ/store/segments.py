"""Cold storage: immutable Parquet segments of compacted log rows and their catalog.

A segment holds rows of one tenant, sorted by (service, ts), zstd-compressed. Its file is
written under a temporary name, synced and renamed before the transaction that registers it
(and deletes its rows from the hot table) commits, so a crash leaves at worst an unregistered
file, which `remove_orphans` deletes on the next start. Segment ids only grow: a file newer than
a reader's catalog always sorts after every file it knows (the relation relies on that).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from observ.store.filters import GramFilter, GramParams, TraceFilter

log = logging.getLogger("observ.store.segments")

COLD_VIEW = "logs_cold"
"""Every registered segment as one relation; redefined in the transaction that registers segments."""
_PREFIX, _SUFFIX, _TMP = "seg-", ".parquet", ".tmp-"


def segment_name(seg_id: int) -> str:
    return f"{_PREFIX}{seg_id:012d}{_SUFFIX}"


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    path: str
    """Absolute path: the value of read_parquet's `filename` column for its rows."""
    tenant: str
    services: frozenset[str]
    ts_min: int
    ts_max: int
    rows: int
    bytes: int
    traces: TraceFilter
    grams: GramFilter


@dataclass(frozen=True, slots=True)
class ServiceStats:
    service: str
    rows: int
    ts_min: int
    ts_max: int


@dataclass(frozen=True, slots=True)
class ParquetOptions:
    compression_level: int = 9
    row_group_rows: int = 32_768


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def write_parquet(
    con: duckdb.DuckDBPyConnection,
    rows: pa.Table | duckdb.DuckDBPyRelation,
    directory: Path,
    seg_id: int,
    opts: ParquetOptions,
) -> Path:
    """Write, fsync and rename into place; returns the final path. The rows (an Arrow table, or a relation of
    `con` that DuckDB evaluates while writing) are already sorted."""
    return place(write_unplaced(con, rows, directory / f"{_TMP}{segment_name(seg_id)}", opts), seg_id)


def write_unplaced(
    con: duckdb.DuckDBPyConnection, rows: pa.Table | duckdb.DuckDBPyRelation, tmp: Path, opts: ParquetOptions
) -> Path:
    """Write and fsync under a temporary name (see `tmp_name`), which orphan removal deletes if nothing places it."""
    con.register("_segment_rows", rows)
    try:
        con.execute(
            f"COPY _segment_rows TO {_sql_string(str(tmp))} (FORMAT parquet, COMPRESSION zstd, "
            f"COMPRESSION_LEVEL {int(opts.compression_level)}, ROW_GROUP_SIZE {int(opts.row_group_rows)}, "
            "PARQUET_VERSION v2)"
        )
    finally:
        con.unregister("_segment_rows")
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def tmp_name(label: str) -> str:
    """A temporary file name in a segments folder; orphan removal deletes such files on open."""
    return f"{_TMP}{label}{_SUFFIX}"


def place(tmp: Path, seg_id: int) -> Path:
    """Rename a written file to segment `seg_id`'s name and sync the folder: the id is chosen only now, so a merge
    that wrote its file while compactions went on still gets an id above theirs (the relation relies on it)."""
    final = tmp.parent / segment_name(seg_id)
    os.replace(tmp, final)
    fsync_dir(tmp.parent)
    return final


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_filters(rows: pa.Table, params: GramParams) -> tuple[TraceFilter, GramFilter]:
    """Pure numpy and Arrow, releasing the GIL: runs beside DuckDB writing the same rows."""
    return TraceFilter.build(pc.unique(rows["trace_id"]).to_pylist()), GramFilter.build(rows["line"], params)


def build_segment(
    seg_id: int, path: Path, rows: pa.Table, tenant: str, filters: tuple[TraceFilter, GramFilter]
) -> tuple[Segment, list[ServiceStats]]:
    """Metadata of the rows written to `path`, with their filters."""
    ts = pc.min_max(rows["ts"])
    stats = rows.group_by("service").aggregate([("ts", "min"), ("ts", "max"), ("ts", "count")])
    per_service = [
        ServiceStats(s, n, lo, hi)
        for s, lo, hi, n in zip(
            stats["service"].to_pylist(), stats["ts_min"].to_pylist(), stats["ts_max"].to_pylist(),
            stats["ts_count"].to_pylist(), strict=True,
        )
    ]  # fmt: skip
    seg = Segment(
        id=seg_id,
        path=str(path),
        tenant=tenant,
        services=frozenset(s.service for s in per_service),
        ts_min=ts["min"].as_py(),
        ts_max=ts["max"].as_py(),
        rows=rows.num_rows,
        bytes=path.stat().st_size,
        traces=filters[0],
        grams=filters[1],
    )
    return seg, per_service


def register(con: duckdb.DuckDBPyConnection, seg: Segment, per_service: list[ServiceStats]) -> None:
    """Inside the caller's transaction."""
    p = seg.grams.params
    con.execute(
        "INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            seg.id, Path(seg.path).name, seg.tenant, sorted(seg.services), seg.ts_min, seg.ts_max, seg.rows,
            seg.bytes, seg.traces.fingerprints, seg.grams.bits, p.k, p.window, p.hashes,
        ],
    )  # fmt: skip
    con.executemany(
        "INSERT INTO segment_services VALUES (?, ?, ?, ?, ?)",
        [(seg.id, s.service, s.rows, s.ts_min, s.ts_max) for s in per_service],
    )


def unregister(con: duckdb.DuckDBPyConnection, ids: list[int]) -> None:
    """Inside the caller's transaction: the segments leave the catalog; their files are the caller's to delete."""
    con.execute("DELETE FROM segment_services WHERE list_contains(?::BIGINT[], segment_id)", [ids])
    con.execute("DELETE FROM segments WHERE list_contains(?::BIGINT[], id)", [ids])


def load(con: duckdb.DuckDBPyConnection, directory: Path) -> list[Segment]:
    """Registered segments whose file exists, by id. A missing file is logged and left out of queries."""
    out = []
    for row in con.execute(
        "SELECT id, path, tenant, services, ts_min, ts_max, rows, bytes, trace_filter, gram_filter, "
        "gram_k, gram_window, gram_hashes FROM segments ORDER BY id"
    ).fetchall():
        seg_id, name, tenant, services, ts_min, ts_max, n, size, traces, grams, k, window, hashes = row
        path = directory / name
        if not path.exists():
            log.error(
                "segment %d (%s) is registered but its file is missing: its %d rows are not queried", seg_id, path, n
            )
            continue
        out.append(
            Segment(
                seg_id, str(path), tenant, frozenset(services), ts_min, ts_max, n, size, TraceFilter(bytes(traces)),
                GramFilter(bytes(grams), GramParams(k=k, window=window, hashes=hashes)),
            )
        )  # fmt: skip
    return out


def remove_orphans(directory: Path, registered: set[str]) -> list[Path]:
    """Delete temp files and segment files no transaction registered (a crash between rename and commit)."""
    removed = []
    for f in directory.iterdir():
        name = f.name
        orphan = name.startswith(_TMP) or (
            name.startswith(_PREFIX) and name.endswith(_SUFFIX) and name not in registered
        )
        if orphan and f.is_file():
            f.unlink()
            removed.append(f)
    if removed:
        log.warning("removed %d unregistered segment file(s): %s", len(removed), ", ".join(p.name for p in removed))
    return removed


def parquet_files(paths: Sequence[str]) -> str:
    """FROM-able SQL reading exactly these files (ours: quoted as SQL string literals), with a `filename` column."""
    return f"read_parquet([{', '.join(_sql_string(p) for p in paths)}], filename = true)"


def define_cold_view(
    con: duckdb.DuckDBPyConnection,
    paths: list[str],
    columns: str,
    *,
    view: str = COLD_VIEW,
    hot: str = "logs_hot",
    legacy: tuple[list[str], str] = ([], ""),
) -> None:
    """(Re)define `logs_cold` (or the spans store's `view` over `hot`'s columns): inside a transaction, readers
    see the old or the new set of files, never a mix.

    `legacy` = (paths, columns): files of an older schema, read with their own column expressions.
    Paths are ours (data directory + generated names), quoted as SQL string literals.
    """
    parts = [
        f"SELECT {cols}, filename FROM {parquet_files(files)}" for files, cols in ((paths, columns), legacy) if files
    ]
    body = " UNION ALL ".join(parts) or f"SELECT {columns}, NULL::VARCHAR AS filename FROM {hot} WHERE false"
    con.execute(f"CREATE OR REPLACE VIEW {view} AS {body}")
