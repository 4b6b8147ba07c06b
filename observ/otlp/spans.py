"""ExportTraceServiceRequest -> span records (the HTTP protobuf and JSON bodies and gRPC all end here)."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from observ.otlp import ids
from observ.otlp.anyvalue import ValueLimitError, attributes_to_json
from observ.otlp.limits import OtlpLimits
from observ.otlp.rejections import Rejections
from observ.traces.model import UNKNOWN_SERVICE, Event, Link, Span

_U32_MAX = 2**32 - 1


def _dropped(declared: int, more: int) -> int:
    return min(declared + more, _U32_MAX)


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


def _span(
    sp: PbSpan, tenant: str, resource: dict[str, object], service: str, ss: ScopeSpans, limits: OtlpLimits
) -> Span:
    start = ids.nanos(sp.start_time_unix_nano, "startTimeUnixNano")
    end = ids.nanos(sp.end_time_unix_nano, "endTimeUnixNano")
    if end < start:
        raise ids.RecordError(f"endTimeUnixNano {end} is before startTimeUnixNano {start}")
    attributes, dropped = attributes_to_json(sp.attributes, limits)
    return Span(
        tenant=tenant,
        trace_id=ids.trace_id(sp.trace_id, "traceId"),
        span_id=ids.span_id(sp.span_id, "spanId"),
        parent_span_id=ids.span_id(sp.parent_span_id, "parentSpanId", optional=True),
        trace_state=sp.trace_state,
        service=service,
        name=sp.name,
        kind=sp.kind,
        start_ns=start,
        end_ns=end,
        status_code=sp.status.code,
        status_message=sp.status.message,
        attributes=attributes,
        events=_events(sp, limits),
        links=_links(sp, limits),
        resource=resource,
        scope_name=ss.scope.name,
        scope_version=ss.scope.version,
        flags=sp.flags,
        dropped_attributes_count=_dropped(sp.dropped_attributes_count, dropped),
        dropped_events_count=_dropped(sp.dropped_events_count, max(0, len(sp.events) - limits.max_events)),
        dropped_links_count=_dropped(sp.dropped_links_count, max(0, len(sp.links) - limits.max_links)),
    )


def spans_from_request(
    req: ExportTraceServiceRequest, tenant: str, limits: OtlpLimits, rejections: Rejections
) -> list[Span]:
    """The spans worth keeping; each one that is not is counted in `rejections` with its reason."""
    out: list[Span] = []
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
        for j, ss in enumerate(rs.scope_spans):
            swhere = f"{where}.scopeSpans[{j}]"
            if swhere in skip:
                continue
            for k, sp in enumerate(ss.spans):
                at = f"{swhere}.spans[{k}]"
                if at in skip:
                    continue
                try:
                    out.append(_span(sp, tenant, resource, service, ss, limits))
                except (ids.RecordError, ValueLimitError) as e:
                    rejections.add(at, str(e))
    return out
