"""ExportTraceServiceRequest -> span columns (the HTTP protobuf and JSON bodies and gRPC all end here).

Column-wise: each span is checked whole into one tuple of its values, and the kept tuples become the
`SpanColumns` lists the store and Kafka take at the end (no per-span record in between, nothing of a rejected
span in the columns). Resources are written once per ResourceSpans that kept a span.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from observ.otlp import ids
from observ.otlp.anyvalue import ValueLimitError, attributes_to_json
from observ.otlp.limits import OtlpLimits
from observ.otlp.rejections import Rejections
from observ.traces.model import INT64_MAX, UNKNOWN_SERVICE, Event, Link, SpanColumns

_U32_MAX = 2**32 - 1


def _dropped(declared: int, more: int) -> int:
    """`declared` (a uint32 on the wire) plus what observ's limits dropped (`more` <= 0: none)."""
    return min(declared + more, _U32_MAX) if more > 0 else declared


def service_name(resource: dict[str, object]) -> str:
    name = resource.get("service.name")
    return name if isinstance(name, str) and name else UNKNOWN_SERVICE


def _events(sp: PbSpan, limits: OtlpLimits) -> list[Event]:
    out: list[Event] = []
    for i, e in enumerate(sp.events[: limits.max_events]):
        attributes, dropped = attributes_to_json(e.attributes, limits)
        out.append(
            Event(
                name=e.name,
                time_ns=ids.nanos(e.time_unix_nano, f"events[{i}].timeUnixNano"),
                attributes=attributes,
                dropped_attributes_count=_dropped(e.dropped_attributes_count, dropped),
            )
        )
    return out


def _links(sp: PbSpan, limits: OtlpLimits) -> list[Link]:
    out: list[Link] = []
    for i, ln in enumerate(sp.links[: limits.max_links]):
        attributes, dropped = attributes_to_json(ln.attributes, limits)
        out.append(
            Link(
                trace_id=ids.trace_id(ln.trace_id, f"links[{i}].traceId"),
                span_id=ids.span_id(ln.span_id, f"links[{i}].spanId"),
                trace_state=ln.trace_state,
                attributes=attributes,
                dropped_attributes_count=_dropped(ln.dropped_attributes_count, dropped),
                flags=ln.flags,
            )
        )
    return out


def _row(sp: PbSpan, limits: OtlpLimits) -> tuple[Any, ...]:
    """One span's values in `_SPAN_FIELDS` order, or RecordError / ValueLimitError saying why it cannot be kept.

    Checks in the order the span record always made them (times, attributes, IDs, events, links), so a span
    with several faults is rejected for the same one. IDs of the right length that are not all zeros are
    taken inline; `ids` names what is wrong with the others."""
    start, end = sp.start_time_unix_nano, sp.end_time_unix_nano
    if start > INT64_MAX or end > INT64_MAX:
        ids.nanos(start, "startTimeUnixNano")
        ids.nanos(end, "endTimeUnixNano")
    if end < start:
        raise ids.RecordError(f"endTimeUnixNano {end} is before startTimeUnixNano {start}")
    attributes, dropped = attributes_to_json(sp.attributes, limits)
    tid, sid, pid = sp.trace_id, sp.span_id, sp.parent_span_id
    trace = tid.hex() if len(tid) == 16 and any(tid) else ids.trace_id(tid, "traceId")
    span = sid.hex() if len(sid) == 8 and any(sid) else ids.span_id(sid, "spanId")
    parent = pid.hex() if len(pid) == 8 and any(pid) else ids.span_id(pid, "parentSpanId", optional=True)
    n_events, n_links = len(sp.events), len(sp.links)
    status = sp.status
    return (
        trace, span, parent, sp.trace_state, sp.name, sp.kind, start, end, status.code, status.message, attributes,
        _events(sp, limits) if n_events else [], _links(sp, limits) if n_links else [], sp.flags,
        _dropped(sp.dropped_attributes_count, dropped),
        _dropped(sp.dropped_events_count, n_events - limits.max_events) if n_events else sp.dropped_events_count,
        _dropped(sp.dropped_links_count, n_links - limits.max_links) if n_links else sp.dropped_links_count,
    )  # fmt: skip


_SPAN_FIELDS = (
    "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "start_ns", "end_ns", "status_code",
    "status_message", "attributes", "events", "links", "flags", "dropped_attributes_count", "dropped_events_count",
    "dropped_links_count",
)  # fmt: skip
_SHARED_FIELDS = ("resource", "service", "scope_name", "scope_version")
"""Columns whose value is the same for every span of one ScopeSpans."""


def columns_from_request(
    req: ExportTraceServiceRequest, tenant: str, limits: OtlpLimits, rejections: Rejections
) -> SpanColumns:
    """The spans worth keeping, as columns (maybe none); each one that is not is counted in `rejections` with
    its reason."""
    rows: list[tuple[Any, ...]] = []
    shared: dict[str, list[Any]] = {name: [] for name in _SHARED_FIELDS}
    resources: list[dict[str, Any]] = []
    skip = rejections.placeholders
    for i, rs in enumerate(req.resource_spans):
        where = f"resourceSpans[{i}]"
        if where in skip:
            continue
        try:
            resource, dropped = attributes_to_json(rs.resource.attributes, limits)
            if dropped:
                raise ValueLimitError(f"{len(rs.resource.attributes)} attributes, limit {limits.max_attributes}")
        except ValueLimitError as e:
            below = sum(rejections.live(f"{where}.scopeSpans[{j}]", "spans", len(ss.spans))
                        for j, ss in enumerate(rs.scope_spans))  # fmt: skip
            rejections.add(f"{where}.resource", str(e), below)
            continue
        service = service_name(resource)
        index = -1
        for j, ss in enumerate(rs.scope_spans):
            swhere = f"{where}.scopeSpans[{j}]"
            if swhere in skip:
                continue
            before = len(rows)
            for k, sp in enumerate(ss.spans):
                if skip and f"{swhere}.spans[{k}]" in skip:
                    continue
                try:
                    rows.append(_row(sp, limits))
                except (ids.RecordError, ValueLimitError) as e:
                    rejections.add(f"{swhere}.spans[{k}]", str(e))
            kept = len(rows) - before
            if kept:
                if index < 0:
                    index = len(resources)
                    resources.append(resource)
                scope = ss.scope
                for name, value in zip(_SHARED_FIELDS, (index, service, scope.name, scope.version), strict=True):
                    shared[name].extend([value] * kept)
    columns = zip(*rows, strict=True) if rows else ([] for _ in _SPAN_FIELDS)
    per_span = {name: list(values) for name, values in zip(_SPAN_FIELDS, columns, strict=True)}
    # _fields_set passed (positionally): mypy then knows no column name can fill it
    return SpanColumns.model_construct(None, v=1, tenant=tenant, resources=resources, **shared, **per_span)
