"""DuckDB schema: log rows plus the positions that make ingestion exactly-once.

`kafka_offsets` and `source_positions` are written in the same transaction as the
rows they produced, so a replay after any crash finds them and inserts nothing twice.
`logs` is the hot table; `segments` registers the Parquet files compaction moved older
rows into (see segments.py), with the skip filters the query side prunes by.
"""

from __future__ import annotations

import duckdb

SCHEMA_VERSION = 2

DDL = (
    """
    CREATE TABLE IF NOT EXISTS logs (
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
        line VARCHAR NOT NULL
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
    CREATE TABLE IF NOT EXISTS source_positions (
        stream_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        end_offset BIGINT NOT NULL,
        updated_ns BIGINT NOT NULL,
        PRIMARY KEY (stream_id, source)
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
    for stmt in DDL:
        con.execute(stmt)
    con.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [str(SCHEMA_VERSION)],
    )
