"""The span record as it crosses boundaries: receiver or sidecar -> Kafka `observ.spans` -> ingester -> spans store.

Kept free of heavy imports (no DuckDB, no FastAPI, no protobuf) because the sidecar imports it.
Attribute values are JSON-able as `observ.otlp.anyvalue.to_json` makes them: plain JSON, with bytes and
non-finite doubles in their OTLP/JSON AnyValue form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator, with_config
from typing_extensions import TypedDict

SCHEMA_VERSION = b"1"
"""Wire schema of a span batch record; carried in the `schema` Kafka header, as for log batches."""

UNKNOWN_SERVICE = "unknown_service"
"""The service of spans whose resource has no `service.name`, as the OTel resource semantic conventions say."""

INT64_MAX = 2**63 - 1


_Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
_Hex16 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
_Parent = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-f]{16})?$")]
_Nanos = Annotated[int, Field(ge=0, le=INT64_MAX)]
_U32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
_Enum = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


@with_config(ConfigDict(extra="forbid", strict=True))
class Event(TypedDict):
    name: str
    time_ns: _Nanos
    attributes: dict[str, Any]
    dropped_attributes_count: _U32


@with_config(ConfigDict(extra="forbid", strict=True))
class Link(TypedDict):
    trace_id: _Hex32
    span_id: _Hex16
    trace_state: str
    attributes: dict[str, Any]
    dropped_attributes_count: _U32
    flags: _U32


@dataclass(slots=True)
class Span:
    """One span. IDs are lowercase hex (trace 32 digits, span 16, parent 16 or "" for a root);
    `kind` and `status_code` are the OTLP enum integers; times are Unix nanoseconds."""

    tenant: str
    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str = ""
    trace_state: str = ""
    service: str = UNKNOWN_SERVICE
    kind: int = 0
    status_code: int = 0
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    flags: int = 0
    """OTLP Span.flags: W3C trace flags in bits 0-7, parent is-remote in bits 8-9."""
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


# --- wire form: one Kafka record = the spans of one tenant, columnar JSON --------------------------------


class SpanColumns(BaseModel):
    """A span batch as the ingester sees it: columns, one value per span, and the distinct resources
    they share (`resource[i]` indexes `resources`). `decode` validates every value."""

    model_config = ConfigDict(extra="forbid", strict=True)

    v: Literal[1] = 1
    tenant: Annotated[str, StringConstraints(min_length=1)]
    resources: list[dict[str, Any]]
    resource: list[Annotated[int, Field(ge=0)]]
    trace_id: list[_Hex32]
    span_id: list[_Hex16]
    parent_span_id: list[_Parent]
    trace_state: list[str]
    service: list[str]
    name: list[str]
    kind: list[_Enum]
    start_ns: list[_Nanos]
    end_ns: list[_Nanos]
    status_code: list[_Enum]
    status_message: list[str]
    attributes: list[dict[str, Any]]
    events: list[list[Event]]
    links: list[list[Link]]
    scope_name: list[str]
    scope_version: list[str]
    flags: list[_U32]
    dropped_attributes_count: list[_U32]
    dropped_events_count: list[_U32]
    dropped_links_count: list[_U32]

    @model_validator(mode="after")
    def _consistent(self) -> SpanColumns:
        n = len(self.trace_id)
        for name in _COLUMNS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name!r} has {len(getattr(self, name))} values, expected {n}")
        for i, r in enumerate(self.resource):
            if r >= len(self.resources):
                raise ValueError(f"span {i}: resource index {r} out of {len(self.resources)}")
        for i, (start, end) in enumerate(zip(self.start_ns, self.end_ns, strict=True)):
            if end < start:
                raise ValueError(f"span {i}: end_ns {end} before start_ns {start}")
        return self

    def __len__(self) -> int:
        return len(self.trace_id)

    @classmethod
    def from_spans(cls, spans: Sequence[Span]) -> SpanColumns:
        """Columns of spans of one tenant; resources are shared by identity (spans decoded from one
        OTLP ResourceSpans hold the same dict), so each is written once."""
        if not spans:
            raise ValueError("a span batch needs at least one span")
        tenant = spans[0].tenant
        resources: list[dict[str, Any]] = []
        index: dict[int, int] = {}
        resource: list[int] = []
        for s in spans:
            if s.tenant != tenant:
                raise ValueError(f"a span batch holds one tenant: {tenant!r} and {s.tenant!r}")
            i = index.get(id(s.resource))
            if i is None:
                i = index[id(s.resource)] = len(resources)
                resources.append(s.resource)
            resource.append(i)
        cols: dict[str, Any] = {name: [getattr(s, name) for s in spans] for name in _COLUMNS if name != "resource"}
        return cls.model_construct(v=1, tenant=tenant, resources=resources, resource=resource, **cols)

    def spans(self) -> list[Span]:
        names = [n for n in _COLUMNS if n != "resource"]
        rows = zip(*(getattr(self, n) for n in names), strict=True)
        out = []
        for r, row in zip(self.resource, rows, strict=True):
            kw = dict(zip(names, row, strict=True))
            out.append(Span(tenant=self.tenant, resource=self.resources[r], **kw))
        return out

    def encode(self) -> bytes:
        """Columnar JSON: cheap to build here, cheap to turn into Arrow columns in the ingester."""
        return orjson.dumps(
            {"v": 1, "tenant": self.tenant, "resources": self.resources, **{n: getattr(self, n) for n in _COLUMNS}}
        )

    @classmethod
    def decode(cls, payload: bytes) -> SpanColumns:
        """Validate a record's value; a ValueError names the column and span that were wrong."""
        return cls.model_validate_json(payload)


_COLUMNS = (
    "resource", "trace_id", "span_id", "parent_span_id", "trace_state", "service", "name", "kind", "start_ns",
    "end_ns", "status_code", "status_message", "attributes", "events", "links", "scope_name", "scope_version",
    "flags", "dropped_attributes_count", "dropped_events_count", "dropped_links_count",
)  # fmt: skip


def record_headers(tenant: str) -> list[tuple[str, bytes]]:
    """Kafka headers of a span batch record, as log batches carry them."""
    return [("tenant", tenant.encode()), ("schema", SCHEMA_VERSION)]
