"""What a query evaluates to: Loki's four result types, independent of their JSON encoding."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class LogEntry:
    ts: int
    """Nanoseconds since the epoch."""
    line: str
    metadata: dict[str, str] = field(default_factory=dict)
    """Structured metadata (pushed pairs, OTLP attributes, trace_id, span_id): Loki 3's third category of labels."""
    parsed: dict[str, str] = field(default_factory=dict)
    """Labels added by the pipeline (parsers, label_format); part of the stream labels too."""


@dataclass(slots=True)
class StreamResult:
    labels: dict[str, str]
    entries: list[LogEntry]


@dataclass(slots=True)
class Streams:
    streams: list[StreamResult]
    result_type: str = "streams"


@dataclass(slots=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[int, float]]
    """(ns, value), oldest first."""


@dataclass(slots=True)
class Matrix:
    series: list[Series]
    result_type: str = "matrix"


@dataclass(slots=True)
class Sample:
    labels: dict[str, str]
    ts: int
    value: float


@dataclass(slots=True)
class Vector:
    samples: list[Sample]
    result_type: str = "vector"


@dataclass(slots=True)
class Scalar:
    ts: int
    value: float
    result_type: str = "scalar"


@dataclass(slots=True)
class QueryStats:
    rows_scanned: int = 0
    bytes_scanned: int = 0
    segments_scanned: int = 0
    segments_skipped: int = 0
    exec_seconds: float = 0.0


@dataclass(slots=True)
class QueryResult:
    data: Streams | Matrix | Vector | Scalar
    stats: QueryStats = field(default_factory=QueryStats)
