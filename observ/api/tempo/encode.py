"""Stored spans -> a trace as Tempo answers it: OTLP `ResourceSpans` in protobuf or OTLP/JSON.

Tempo's `tempopb.Trace` is `repeated ResourceSpans batches = 1` (wire-compatible with OTLP `TracesData`) and
`/api/v2`'s `TraceByIDResponse` holds it in field 1, so the opentelemetry-proto classes encode both. JSON follows
the OTLP/JSON rules (hex IDs, enums as integers, 64-bit integers as strings) where Tempo's own marshaller writes
base64 IDs (grafana/tempo#5437); OTLP/JSON readers, Grafana's included, read hex.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import orjson
from google.protobuf.json_format import MessageToDict
from google.protobuf.wrappers_pb2 import BytesValue
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status, TracesData
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from observ.otlp.anyvalue import attributes_from_json
from observ.traces.model import Span

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _pb_span(s: Span) -> PbSpan:
    return PbSpan(
        trace_id=bytes.fromhex(s.trace_id),
        span_id=bytes.fromhex(s.span_id),
        parent_span_id=bytes.fromhex(s.parent_span_id),
        trace_state=s.trace_state,
        name=s.name,
        kind=PbSpan.SpanKind.ValueType(s.kind),  # the enum's int, typed as the stubs' NewType
        start_time_unix_nano=s.start_ns,
        end_time_unix_nano=s.end_ns,
        attributes=attributes_from_json(s.attributes),
        dropped_attributes_count=s.dropped_attributes_count,
        events=[
            PbSpan.Event(
                name=e["name"],
                time_unix_nano=e["time_ns"],
                attributes=attributes_from_json(e["attributes"]),
                dropped_attributes_count=e["dropped_attributes_count"],
            )
            for e in s.events
        ],
        dropped_events_count=s.dropped_events_count,
        links=[
            PbSpan.Link(
                trace_id=bytes.fromhex(ln["trace_id"]),
                span_id=bytes.fromhex(ln["span_id"]),
                trace_state=ln["trace_state"],
                attributes=attributes_from_json(ln["attributes"]),
                dropped_attributes_count=ln["dropped_attributes_count"],
                flags=ln["flags"],
            )
            for ln in s.links
        ],
        dropped_links_count=s.dropped_links_count,
        status=Status(code=Status.StatusCode.ValueType(s.status_code), message=s.status_message),
        flags=s.flags,
    )


def traces_data(spans: Sequence[Span]) -> TracesData:
    """Spans grouped by resource, then by instrumentation scope, each group in the order it first appears."""
    groups: dict[bytes, dict[tuple[str, str], list[PbSpan]]] = {}
    resources: dict[bytes, dict[str, Any]] = {}
    for s in spans:
        key = orjson.dumps(s.resource, option=orjson.OPT_SORT_KEYS)
        resources.setdefault(key, s.resource)
        groups.setdefault(key, {}).setdefault((s.scope_name, s.scope_version), []).append(_pb_span(s))
    return TracesData(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=attributes_from_json(resources[key])),
                scope_spans=[
                    ScopeSpans(scope=InstrumentationScope(name=name, version=version), spans=pb)
                    for (name, version), pb in scopes.items()
                ],
            )
            for key, scopes in groups.items()
        ]
    )


def _hex_ids(node: Any) -> None:
    """proto3 JSON writes bytes as base64; OTLP/JSON writes trace and span IDs as hex."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in _ID_KEYS and isinstance(v, str):
                node[k] = base64.b64decode(v).hex()
            else:
                _hex_ids(v)
    elif isinstance(node, list):
        for v in node:
            _hex_ids(v)


def resource_spans_json(data: TracesData) -> list[dict[str, Any]]:
    """`resourceSpans` in OTLP/JSON."""
    out = MessageToDict(data, use_integers_for_enums=True).get("resourceSpans", [])
    _hex_ids(out)
    return out


def v1_json(data: TracesData) -> bytes:
    """`/api/traces/<id>`: tempopb.Trace as JSON, `{"batches": [...]}`."""
    return orjson.dumps({"batches": resource_spans_json(data)})


def v2_json(data: TracesData) -> bytes:
    """`/api/v2/traces/<id>`: TraceByIDResponse as JSON, `{"trace": {"resourceSpans": [...]}}`."""
    return orjson.dumps({"trace": {"resourceSpans": resource_spans_json(data)}})


def v1_protobuf(data: TracesData) -> bytes:
    """tempopb.Trace: field 1 repeated ResourceSpans, the bytes of TracesData."""
    return data.SerializeToString()


def v2_protobuf(data: TracesData) -> bytes:
    """TraceByIDResponse{trace = 1}: a length-delimited field 1 holding the Trace, which BytesValue encodes."""
    return BytesValue(value=data.SerializeToString()).SerializeToString()
