"""Loki's JSON bodies, byte for byte where clients care (`pkg/util/marshal/query.go`).

Key order is Loki's (`status`, `data` → `resultType`, `encodingFlags`, `result`, `stats`), entry
timestamps are nanosecond strings, sample values are Go-formatted float strings (`"2"`, `"NaN"`,
`"+Inf"`), sample times are seconds with millisecond precision. Grafana's parser depends on each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

import orjson

from observ.logql.results import LogEntry, Matrix, QueryResult, QueryStats, Scalar, StreamResult, Streams, Vector

CATEGORIZE_LABELS = "categorize-labels"
ENCODING_FLAGS_HEADER = "X-Loki-Response-Encoding-Flags"

Labels = dict[str, str]


def go_float(v: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    text = repr(float(v))
    if "e" in text:
        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def sample_time(ns: int) -> int | float:
    """model.Time(ms).String() written raw: seconds with up to three decimals."""
    ms = ns // 1_000_000
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _sorted(labels: Labels) -> Labels:
    return dict(sorted(labels.items()))


def group_streams(
    streams: Iterable[StreamResult], categorize: bool, backward: bool
) -> list[tuple[Labels, list[LogEntry]]]:
    """Regroup entries by the label set Loki would show.

    Plain responses key a stream by every label an entry has (stream labels, structured metadata,
    parsed labels); with `categorize-labels` only by the stream labels, the other two categories
    travelling with each entry.
    """
    groups: dict[tuple[tuple[str, str], ...], tuple[Labels, list[LogEntry]]] = {}
    for s in streams:
        for e in s.entries:
            if categorize:
                labels = {k: v for k, v in s.labels.items() if k not in e.metadata and k not in e.parsed}
            else:
                labels = {**s.labels, **e.metadata, **e.parsed}
            key = tuple(sorted(labels.items()))
            group = groups.get(key)
            if group is None:
                groups[key] = group = (dict(key), [])
            group[1].append(e)
    for _, entries in groups.values():
        entries.sort(key=lambda e: e.ts, reverse=backward)
    return list(groups.values())


def thin(entries: list[LogEntry], interval_ns: int, backward: bool) -> list[LogEntry]:
    """Loki's `interval`: keep an entry, then the next one at least `interval` later (in time order)."""
    if interval_ns <= 0 or not entries:
        return entries
    ordered = entries[::-1] if backward else entries
    kept: list[LogEntry] = []
    next_ts: int | None = None
    for e in ordered:
        if next_ts is None or e.ts >= next_ts:
            kept.append(e)
            next_ts = e.ts + interval_ns
    return kept[::-1] if backward else kept


def _entry(e: LogEntry, categorize: bool) -> list[object]:
    if not categorize:
        return [str(e.ts), e.line]
    extra: dict[str, Labels] = {}
    if e.metadata:
        extra["structuredMetadata"] = _sorted(e.metadata)
    if e.parsed:
        extra["parsed"] = _sorted(e.parsed)
    return [str(e.ts), e.line, extra]


def streams_json(
    streams: Iterable[StreamResult], *, categorize: bool, backward: bool, interval_ns: int = 0
) -> list[dict[str, object]]:
    return [
        {"stream": labels, "values": [_entry(e, categorize) for e in thin(entries, interval_ns, backward)]}
        for labels, entries in group_streams(streams, categorize, backward)
    ]


def _result(data: Streams | Matrix | Vector | Scalar, categorize: bool, backward: bool, interval_ns: int) -> object:
    if isinstance(data, Streams):
        return streams_json(data.streams, categorize=categorize, backward=backward, interval_ns=interval_ns)
    if isinstance(data, Matrix):
        return [
            {"metric": _sorted(s.labels), "values": [[sample_time(t), go_float(v)] for t, v in s.points]}
            for s in data.series
        ]
    if isinstance(data, Vector):
        return [{"metric": _sorted(s.labels), "value": [sample_time(s.ts), go_float(s.value)]} for s in data.samples]
    return [sample_time(data.ts), go_float(data.value)]


def _returned(data: Streams | Matrix | Vector | Scalar) -> int:
    if isinstance(data, Streams):
        return sum(len(s.entries) for s in data.streams)
    if isinstance(data, Matrix):
        return len(data.series)
    if isinstance(data, Vector):
        return len(data.samples)
    return 1


def stats_json(stats: QueryStats, returned: int) -> dict[str, object]:
    """Loki's `summary` block; segments stand in for chunks in `querier.store`."""
    secs = stats.exec_seconds
    per_s = (lambda n: int(n / secs)) if secs > 0 else (lambda n: 0)
    return {
        "summary": {
            "bytesProcessedPerSecond": per_s(stats.bytes_scanned),
            "linesProcessedPerSecond": per_s(stats.rows_scanned),
            "totalBytesProcessed": stats.bytes_scanned,
            "totalLinesProcessed": stats.rows_scanned,
            "execTime": secs,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": returned,
            "splits": 0,
            "shards": 0,
            "totalPostFilterLines": returned,
            "totalStructuredMetadataBytesProcessed": 0,
        },
        "querier": {
            "store": {
                "totalChunksRef": stats.segments_scanned + stats.segments_skipped,
                "totalChunksDownloaded": stats.segments_scanned,
                "chunksDownloadTime": 0,
            }
        },
    }


def encode_query(result: QueryResult, *, categorize: bool, backward: bool, interval_ns: int = 0) -> bytes:
    data: dict[str, object] = {"resultType": result.data.result_type}
    if categorize:
        data["encodingFlags"] = [CATEGORIZE_LABELS]
    data["result"] = _result(result.data, categorize, backward, interval_ns)
    data["stats"] = stats_json(result.stats, _returned(result.data))
    return orjson.dumps({"status": "success", "data": data}) + b"\n"


def encode_tail(streams: Iterable[StreamResult], *, categorize: bool) -> bytes:
    """A tail frame: entries oldest first; `dropped_entries` only when some were (Loki 3 omits it otherwise)."""
    frame: dict[str, object] = {"streams": streams_json(streams, categorize=categorize, backward=False)}
    if categorize:
        frame["encodingFlags"] = [CATEGORIZE_LABELS]
    return orjson.dumps(frame)


def encode_data(data: object) -> bytes:
    """`{"status":"success","data":...}` for labels, label values, series and format_query."""
    return orjson.dumps({"status": "success", "data": data}) + b"\n"


def encode_plain(obj: object) -> bytes:
    return orjson.dumps(obj) + b"\n"


def wants_categorized(header: str | None) -> bool:
    return header is not None and CATEGORIZE_LABELS in (f.strip() for f in header.split(","))
