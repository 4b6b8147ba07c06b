"""DuckDB schema: log rows plus the positions that make ingestion exactly-once.

`kafka_offsets` and `source_ranges` (the byte ranges of each source whose entries are stored, see
coverage.py) are written in the same transaction as the rows they produced, so a replay after any
crash finds them and inserts nothing twice.
`logs_hot` is the hot table; `segments` registers the Parquet files compaction moved older
rows into (see segments.py), with the skip filters the query side prunes by. `logs` is a view
of both, so plain SQL over the database file still sees every row; queries that should skip
segments read `LogStore.relation()` instead.
"""

from __future__ import annotations

import duckdb

SCHEMA_VERSION = 4

LOG_COLUMNS = (
    "tenant", "ts", "observed_ts", "service", "namespace", "pod", "container",
    "stream", "level", "trace_id", "span_id", "labels", "line", "metadata",
)  # fmt: skip
"""The columns of `logs`, in order."""

NO_METADATA = "'{}' AS metadata"
"""`metadata` of segments written before version 4, which have no such column."""
METADATA_SINCE = "metadata_since_segment"
"""Meta key: the first segment id whose Parquet file has a `metadata` column."""

DDL = (
    """
    CREATE TABLE IF NOT EXISTS logs_hot (
        tenant VARCHAR NOT NULL,
        ts BIGINT NOT NULL,
        observed_ts BIGINT NOT NULL,
        service VARCHAR NOT NULL,
        namespace VARCHAR NOT NULL,
        pod VARCHAR NOT NULL,
        container VARCHAR NOT NULL,
        stream VARCHAR NOT NULL,
        level VARCHAR NOT NULL,
        trace_id VARCHAR NOT NULL,
        span_id VARCHAR NOT NULL,
        labels VARCHAR NOT NULL,
        line VARCHAR NOT NULL,
        metadata VARCHAR NOT NULL DEFAULT '{}'
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS kafka_offsets (
        topic VARCHAR NOT NULL,
        part INTEGER NOT NULL,
        next_offset BIGINT NOT NULL,
        PRIMARY KEY (topic, part)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS source_ranges (
        stream_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        lo BIGINT NOT NULL,
        hi BIGINT NOT NULL,
        updated_ns BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS rejected_records (
        topic VARCHAR, part INTEGER, record_offset BIGINT, reason VARCHAR, payload BLOB, rejected_ns BIGINT
    )
    """,
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """
    CREATE TABLE IF NOT EXISTS segments (
        id BIGINT PRIMARY KEY,
        path VARCHAR NOT NULL,
        tenant VARCHAR NOT NULL,
        services VARCHAR[] NOT NULL,
        ts_min BIGINT NOT NULL,
        ts_max BIGINT NOT NULL,
        rows BIGINT NOT NULL,
        bytes BIGINT NOT NULL,
        trace_filter BLOB NOT NULL,
        gram_filter BLOB NOT NULL,
        gram_k INTEGER NOT NULL,
        gram_window INTEGER NOT NULL,
        gram_hashes INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS segment_services (
        segment_id BIGINT NOT NULL, service VARCHAR NOT NULL, rows BIGINT NOT NULL, ts_min BIGINT NOT NULL,
        ts_max BIGINT NOT NULL
    )
    """,
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Tables of the current version; a version 1 file's table `logs` becomes the hot table."""
    if _has_table(con, "logs"):
        con.execute("ALTER TABLE logs RENAME TO logs_hot")
    for stmt in DDL:
        con.execute(stmt)
    _migrate_positions(con)
    _migrate_metadata(con)
    con.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [str(SCHEMA_VERSION)],
    )


def _migrate_positions(con: duckdb.DuckDBPyConnection) -> None:
    """Version 2 kept one end offset per source: everything up to it counts as stored."""
    if _has_table(con, "source_positions"):
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "INSERT INTO source_ranges SELECT stream_id, source, -1, end_offset, updated_ns FROM source_positions"
        )
        con.execute("DROP TABLE source_positions")
        con.execute("COMMIT")


def _migrate_metadata(con: duckdb.DuckDBPyConnection) -> None:
    """Version 3 had no `metadata`: hot rows get `'{}'`; its segments stay as written (see `metadata_since`)."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' "
        "AND table_name = 'logs_hot' AND column_name = 'metadata'"
    ).fetchone()
    if not (row and row[0]):
        con.execute("ALTER TABLE logs_hot ADD COLUMN metadata VARCHAR DEFAULT '{}'")
        con.execute("ALTER TABLE logs_hot ALTER COLUMN metadata SET NOT NULL")
    con.execute(
        "INSERT INTO meta SELECT ?, (coalesce(max(id), 0) + 1)::VARCHAR FROM segments ON CONFLICT (key) DO NOTHING",
        [METADATA_SINCE],
    )


def metadata_since(con: duckdb.DuckDBPyConnection) -> int:
    """Segments with a lower id were written by version 3 and have no `metadata` column."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", [METADATA_SINCE]).fetchone()
    return int(row[0]) if row else 1


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' "
        "AND table_name = ?",
        [name],
    ).fetchone()
    return bool(row and row[0])


def define_logs_view(con: duckdb.DuckDBPyConnection) -> None:
    """`logs` = hot rows + every segment (through `logs_cold`, which must exist)."""
    cols = ", ".join(LOG_COLUMNS)
    con.execute(f"CREATE OR REPLACE VIEW logs AS SELECT {cols} FROM logs_hot UNION ALL SELECT {cols} FROM logs_cold")
