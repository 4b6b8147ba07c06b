"""Decoded OTLP spans and log records -> Kafka records, in the formats the ingester reads.

Spans: topic `otlp.spans_topic`, value `SpanColumns.encode()` (the spans of one tenant), headers
`record_headers(tenant)`, key the first span's trace ID (it spreads requests over partitions; the spans store
deduplicates by trace and span ID, so order does not matter). Log records: the logs topic, one `Batch` per
stream as the tailed files' batches are (key = stream id, tenant and schema headers) but without a source:
the ingester then skips position checks and the logs store keeps one copy of identical retried entries.
Records are cut at `max_items` items and, re-split in halves, at `max_bytes` encoded bytes (Kafka refuses
records above its `message.max.bytes`, 1 MB by default); a single item above it goes alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from collectors.log_adapter.sources.otlp.shipper import OutRecord
from observ.model import SCHEMA_VERSION, Batch, Entry, Stream
from observ.otlp.logs import OtlpLogRecord, to_batches
from observ.traces.model import Span, SpanColumns, record_headers

T = TypeVar("T")


def _split(
    items: Sequence[T], encode: Callable[[Sequence[T]], bytes], max_bytes: int
) -> list[tuple[Sequence[T], bytes]]:
    value = encode(items)
    if len(value) <= max_bytes or len(items) == 1:
        return [(items, value)]
    half = len(items) // 2
    return _split(items[:half], encode, max_bytes) + _split(items[half:], encode, max_bytes)


def _chunks(
    items: Sequence[T], encode: Callable[[Sequence[T]], bytes], max_items: int, max_bytes: int
) -> list[tuple[Sequence[T], bytes]]:
    out: list[tuple[Sequence[T], bytes]] = []
    for i in range(0, len(items), max_items):
        out.extend(_split(items[i : i + max_items], encode, max_bytes))
    return out


def span_records(spans: Sequence[Span], topic: str, max_items: int, max_bytes: int) -> list[OutRecord]:
    """`spans` are of one tenant (one request's)."""

    def encode(chunk: Sequence[Span]) -> bytes:
        return SpanColumns.from_spans(chunk).encode()

    return [
        OutRecord(topic, chunk[0].trace_id.encode(), value, record_headers(chunk[0].tenant), len(chunk))
        for chunk, value in _chunks(spans, encode, max_items, max_bytes)
    ]


def _encode_batch(stream: Stream, observed_ts: int, entries: Sequence[Entry]) -> bytes:
    return Batch(stream, "", list(entries), observed_ts).encode()


def log_records(
    records: Sequence[OtlpLogRecord], topic: str, observed_ts: int, max_items: int, max_bytes: int
) -> list[OutRecord]:
    out: list[OutRecord] = []
    for b in to_batches(records, observed_ts):
        metadata: Sequence[dict[str, str] | None] = b.metadata or [None] * len(b)
        entries = [
            Entry(
                ts, line, stream=b.stream.stream, level=level, trace_id=trace_id, span_id=span_id, metadata=md or None
            )
            for ts, level, trace_id, span_id, line, md in zip(
                b.ts, b.level, b.trace_id, b.span_id, b.line, metadata, strict=True
            )
        ]

        encode = partial(_encode_batch, b.stream, observed_ts)
        headers = [("tenant", b.stream.tenant.encode()), ("schema", SCHEMA_VERSION)]
        key = b.stream.id.encode()
        out.extend(
            OutRecord(topic, key, value, headers, len(chunk))
            for chunk, value in _chunks(entries, encode, max_items, max_bytes)
        )
    return out
