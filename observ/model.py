"""Records that cross component boundaries: sidecar -> bus -> ingester -> store.

Kept free of heavy imports (no DuckDB, no FastAPI) because the sidecar imports it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

SCHEMA_VERSION = b"1"
"""Wire schema of a log batch record; carried in the `schema` Kafka header."""

STREAM_LABELS = ("service", "namespace", "pod", "container", "stream")
"""Stream labels that have their own column in the store; others go to `labels`."""


@dataclass(frozen=True, slots=True)
class Stream:
    """Identity of a log stream: the labels shared by every entry of a batch."""

    tenant: str = "default"
    service: str = ""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    stream: str = "stdout"
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        """Stable key: the Kafka record key, so one stream stays in one partition, in order."""
        parts = [self.tenant, self.service, self.namespace, self.pod, self.container, self.stream]
        parts.extend(f"{k}={v}" for k, v in self.labels)
        return hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).hexdigest()

    def to_dict(self) -> dict[str, object]:
        return {
            "tenant": self.tenant,
            "service": self.service,
            "namespace": self.namespace,
            "pod": self.pod,
            "container": self.container,
            "stream": self.stream,
            "labels": dict(self.labels),
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Stream:
        labels = d.get("labels") or {}
        assert isinstance(labels, dict)
        return cls(
            tenant=str(d.get("tenant") or "default"),
            service=str(d.get("service", "")),
            namespace=str(d.get("namespace", "")),
            pod=str(d.get("pod", "")),
            container=str(d.get("container", "")),
            stream=str(d.get("stream", "stdout")),
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        )


@dataclass(slots=True)
class Entry:
    """One log entry after CRI/partial/multiline merging and parsing.

    `start`/`end` are byte offsets of the entry in its source file: the sidecar's
    checkpoint and the ingester's duplicate filter are both expressed in them.
    """

    ts: int
    line: str
    stream: str = "stdout"
    level: str = ""
    trace_id: str = ""
    span_id: str = ""
    start: int = 0
    end: int = 0
    metadata: dict[str, str] | None = None
    """Structured metadata (OTLP attributes, pushed pairs); None when there is none, the tailed files' case."""


@dataclass(slots=True)
class Batch:
    """Entries of one stream read from one source file, in file order: one Kafka record."""

    stream: Stream
    source: str
    """Identity of the source file content (device, inode, fingerprint); positions are per source."""
    entries: list[Entry] = field(default_factory=list)
    observed_ts: int = 0
    nbytes: int = 0
    after: int | None = None
    """The batch holds every entry of its stream in this source that ends in `(after, last end]`;
    the sidecar sets it to the previous entry's end so consecutive batches' ranges meet. None: the
    first entry's start, which is always true but leaves gaps where other streams' lines sit."""

    def covers_from(self) -> int:
        if self.after is not None:
            return self.after
        return self.entries[0].start if self.entries else 0

    def encode(self) -> bytes:
        """Columnar JSON: cheap to build here, cheap to turn into Arrow columns in the ingester.

        `metadata` (one object per entry) is there only when an entry has some, so tailed files' records keep
        their size and an ingester older than the field reads the rest.
        """
        es = self.entries
        doc: dict[str, object] = {
            "v": 1,
            "stream": self.stream.to_dict(),
            "source": self.source,
            "after": self.covers_from(),
            "observed_ts": self.observed_ts,
            "ts": [e.ts for e in es],
            "level": [e.level for e in es],
            "trace_id": [e.trace_id for e in es],
            "span_id": [e.span_id for e in es],
            "end": [e.end for e in es],
            "line": [e.line for e in es],
        }
        if any(e.metadata for e in es):
            doc["metadata"] = [e.metadata or {} for e in es]
        return orjson.dumps(doc)

    @classmethod
    def decode(cls, payload: bytes) -> DecodedBatch:
        d = orjson.loads(payload)
        if not isinstance(d, dict) or d.get("v") != 1:
            raise ValueError("not an observ v1 log batch")
        n = len(d["line"])
        for col in ("ts", "level", "trace_id", "span_id", "end"):
            if len(d[col]) != n:
                raise ValueError(f"column {col!r} has {len(d[col])} values, expected {n}")
        end = d["end"]
        after = int(d["after"]) if d.get("after") is not None else None
        if d["source"] and end and after is not None and after >= end[0]:  # no source (OTLP, push): no positions
            raise ValueError(f"after={after} does not precede the first entry's end {end[0]}")
        return DecodedBatch(
            stream=Stream.from_dict(d["stream"]),
            source=str(d["source"]),
            after=after,
            observed_ts=int(d.get("observed_ts", 0)),
            ts=d["ts"],
            level=d["level"],
            trace_id=d["trace_id"],
            span_id=d["span_id"],
            end=end,
            line=d["line"],
            metadata=_metadata(d.get("metadata"), n),
        )


def _metadata(col: object, n: int) -> list[dict[str, str]] | None:
    """The wire's optional `metadata` column, checked: one object of strings per entry."""
    if col is None:
        return None
    if not isinstance(col, list) or len(col) != n:
        raise ValueError(f"column 'metadata' must be an array of {n} objects")
    for i, md in enumerate(col):
        if not isinstance(md, dict) or not all(isinstance(v, str) for v in md.values()):
            raise ValueError(f"metadata of entry {i} must be an object of strings")
    return col


@dataclass(slots=True)
class DecodedBatch:
    """A batch as the ingester sees it: columns, not entry objects."""

    stream: Stream
    source: str
    observed_ts: int
    ts: list[int]
    level: list[str]
    trace_id: list[str]
    span_id: list[str]
    end: list[int]
    line: list[str]
    after: int | None = None
    """Stored ranges grow by `(after, end[-1]]` (see Batch.after); None: just before the first end."""
    metadata: list[dict[str, str]] | None = None
    """Structured metadata per entry; None when no entry has any."""

    def __len__(self) -> int:
        return len(self.line)

    def metadata_text(self) -> list[str]:
        """The store's `metadata` column: JSON object text per entry, keys sorted, `{}` when empty."""
        if self.metadata is None:
            return ["{}"] * len(self.line)
        return [orjson.dumps(m, option=orjson.OPT_SORT_KEYS).decode() if m else "{}" for m in self.metadata]

    def covers_from(self) -> int:
        if self.after is not None:
            return self.after
        return self.end[0] - 1 if self.end else 0

    @classmethod
    def from_batch(cls, b: Batch) -> DecodedBatch:
        """The in-process path (no broker): same columns, no serialisation."""
        es = b.entries
        return cls(
            stream=b.stream,
            source=b.source,
            after=b.covers_from(),
            observed_ts=b.observed_ts,
            ts=[e.ts for e in es],
            level=[e.level for e in es],
            trace_id=[e.trace_id for e in es],
            span_id=[e.span_id for e in es],
            end=[e.end for e in es],
            line=[e.line for e in es],
            metadata=[e.metadata or {} for e in es] if any(e.metadata for e in es) else None,
        )
