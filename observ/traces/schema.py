"""DuckDB schema of the spans store (`<data>/spans.duckdb`), apart from the logs store so neither waits on
the other's single-writer lock.

New spans are hot: Arrow tables in memory behind a log of their own (`<data>/span-hot/`, `hotlog.py`), which
carries the Kafka offsets that produced them. Compaction moves them into Parquet segments registered in
`span_segments` with their trace filter, with those offsets and the log position, in one transaction (a clean
stop compacts them all). The file's `spans_hot` table stays empty (a store made before the log had its hot rows
there; they move into the log on open); on a `SpanStore.cursor()` it is the hot spans in memory, so the view
`spans` (it and every segment) holds every span.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

HOT, COLD, VIEW = "spans_hot", "spans_cold", "spans"

_TYPES = (
    ("tenant", "VARCHAR", pa.string()),
    ("trace_id", "VARCHAR", pa.string()),
    ("span_id", "VARCHAR", pa.string()),
    ("parent_span_id", "VARCHAR", pa.string()),
    ("trace_state", "VARCHAR", pa.string()),
    ("service", "VARCHAR", pa.string()),
    ("name", "VARCHAR", pa.string()),
    ("kind", "INTEGER", pa.int32()),
    ("start_ns", "BIGINT", pa.int64()),
    ("end_ns", "BIGINT", pa.int64()),
    ("duration_ns", "BIGINT", pa.int64()),
    ("status_code", "INTEGER", pa.int32()),
    ("status_message", "VARCHAR", pa.string()),
    # attributes, events, links and resource are JSON text kept as VARCHAR: DuckDB's JSON type parses every value
    # on insert, which doubled the append's time under the writers' lock (4.1 against 2.1 us a span of
    # bench/traces.py); the text comes from orjson or the Arrow decoder held equal to it, and DuckDB's json functions
    # read VARCHAR alike. Stores made before keep JSON-typed tables and segments, which read the same.
    ("attributes", "VARCHAR", pa.string()),
    ("events", "VARCHAR", pa.string()),
    ("links", "VARCHAR", pa.string()),
    # Held in Arrow as a dictionary over the request's resources: one resource's text is shared by all its spans
    # (451 of 994 bytes a span of bench/traces.py, copied by every hot-table merge and written to the hot log);
    # DuckDB reads it as VARCHAR.
    ("resource", "VARCHAR", pa.dictionary(pa.int32(), pa.string())),
    ("scope_name", "VARCHAR", pa.string()),
    ("scope_version", "VARCHAR", pa.string()),
    ("flags", "BIGINT", pa.int64()),
    ("dropped_attributes_count", "BIGINT", pa.int64()),
    ("dropped_events_count", "BIGINT", pa.int64()),
    ("dropped_links_count", "BIGINT", pa.int64()),
)

SPAN_COLUMNS = tuple(name for name, _, _ in _TYPES)
"""The columns of `spans`, in order."""
SELECT = ", ".join(SPAN_COLUMNS)
ARROW_SCHEMA = pa.schema([(name, arrow) for name, _, arrow in _TYPES])
IDENTITY = ("tenant", "trace_id", "span_id", "kind")
"""What makes two spans one, as Tempo's trace combiner dedupes (span ID and kind: Zipkin's client and server
spans share an ID)."""

DDL = (
    f"CREATE TABLE IF NOT EXISTS {HOT} (" + ", ".join(f"{name} {sql} NOT NULL" for name, sql, _ in _TYPES) + ")",
    """
    CREATE TABLE IF NOT EXISTS kafka_offsets (
        topic VARCHAR NOT NULL,
        part INTEGER NOT NULL,
        next_offset BIGINT NOT NULL,
        PRIMARY KEY (topic, part)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS rejected_records (
        topic VARCHAR, part INTEGER, record_offset BIGINT, reason VARCHAR, payload BLOB, rejected_ns BIGINT
    )
    """,
    "CREATE TABLE IF NOT EXISTS span_hot_log (compacted_through BIGINT NOT NULL)",
    "INSERT INTO span_hot_log SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM span_hot_log)",
    """
    CREATE TABLE IF NOT EXISTS span_segments (
        id BIGINT PRIMARY KEY,
        path VARCHAR NOT NULL,
        tenant VARCHAR NOT NULL,
        services VARCHAR[] NOT NULL,
        ts_min BIGINT NOT NULL,
        ts_max BIGINT NOT NULL,
        rows BIGINT NOT NULL,
        bytes BIGINT NOT NULL,
        trace_filter BLOB NOT NULL
    )
    """,
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in DDL:
        con.execute(stmt)


def define_spans_view(con: duckdb.DuckDBPyConnection) -> None:
    """`spans` = hot rows + every segment (through `spans_cold`, which must exist)."""
    con.execute(f"CREATE OR REPLACE VIEW {VIEW} AS SELECT {SELECT} FROM {HOT} UNION ALL SELECT {SELECT} FROM {COLD}")
