"""Entries as columns: what the tail pipeline hands the topology and the topology hands its sinks.

A tailed file's entries only ever become a Kafka record's JSON columns (or the store's), so they are
kept as columns from the parser on: no object per entry, batches cut as list slices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from observ.model import DecodedBatch, Entry, Stream


@dataclass(slots=True)
class Rows:
    """Entries of one stream, in file order."""

    ts: list[int] = field(default_factory=list)
    line: list[str] = field(default_factory=list)
    level: list[str] = field(default_factory=list)
    trace_id: list[str] = field(default_factory=list)
    span_id: list[str] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.line)

    def append(self, ts: int, line: str, level: str, trace_id: str, span_id: str, start: int, end: int) -> None:
        self.ts.append(ts)
        self.line.append(line)
        self.level.append(level)
        self.trace_id.append(trace_id)
        self.span_id.append(span_id)
        self.start.append(start)
        self.end.append(end)

    def extend(self, other: Rows, i: int = 0, j: int | None = None) -> None:
        """Append `other`'s rows [i, j)."""
        self.ts += other.ts[i:j]
        self.line += other.line[i:j]
        self.level += other.level[i:j]
        self.trace_id += other.trace_id[i:j]
        self.span_id += other.span_id[i:j]
        self.start += other.start[i:j]
        self.end += other.end[i:j]

    def entries(self, stream: str) -> list[Entry]:
        """The rows as Entry objects: for callers that want one object per entry (tests, the line API)."""
        cols = zip(self.ts, self.line, self.level, self.trace_id, self.span_id, self.start, self.end, strict=True)
        return [Entry(ts, line, stream, lv, trace, span, start, end) for ts, line, lv, trace, span, start, end in cols]


@dataclass(slots=True)
class RowBatch:
    """Rows of one stream read from one source file: one Kafka record, encoded as `Batch.encode` encodes."""

    stream: Stream
    source: str
    after: int
    """As `Batch.after`: the record covers every entry of its stream in the source ending in (after, last end]."""
    rows: Rows = field(default_factory=Rows)
    observed_ts: int = 0
    nbytes: int = 0

    def __len__(self) -> int:
        return len(self.rows)

    def encode(self) -> bytes:
        r = self.rows
        return orjson.dumps(
            {
                "v": 1,
                "stream": self.stream.to_dict(),
                "source": self.source,
                "after": self.after,
                "observed_ts": self.observed_ts,
                "ts": r.ts,
                "level": r.level,
                "trace_id": r.trace_id,
                "span_id": r.span_id,
                "end": r.end,
                "line": r.line,
            }
        )

    def decoded(self) -> DecodedBatch:
        """The in-process path (no broker): the same columns, no serialisation."""
        r = self.rows
        return DecodedBatch(
            stream=self.stream,
            source=self.source,
            after=self.after,
            observed_ts=self.observed_ts,
            ts=r.ts,
            level=r.level,
            trace_id=r.trace_id,
            span_id=r.span_id,
            end=r.end,
            line=r.line,
        )
