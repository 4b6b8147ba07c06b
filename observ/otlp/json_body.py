"""OTLP/JSON -> the protobuf request, judging each span or log record on its own.

The OTLP spec's JSON differs from proto3's JSON mapping in three ways, handled here: trace and span IDs
are hex strings (case-insensitive), not base64; enum values are integers; keys are lowerCamelCase and
unknown keys are ignored. Like the OpenTelemetry Collector (pdata's JSON unmarshaler) we also read the
proto field names (`trace_id`) and enum names, which protobuf's own JSON parser accepts; 64-bit integers
may be strings or numbers. The envelope (the request, its resource and scope arrays) must be well formed
or the whole body is refused; a span or log record that does not parse is rejected and counted while
the rest of the request is kept; a resource or scope that does not parse rejects the records under it.
"""

from __future__ import annotations

import base64
import re
from typing import Any, cast

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from observ.otlp.errors import OtlpError
from observ.otlp.rejections import Rejections

_ID_KEYS = (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id"))
_HEX = re.compile(r"[0-9a-fA-F]*")


class _BadId(ValueError):
    pass


def _container(desc: Descriptor | None) -> FieldDescriptor:
    """The one repeated message field of an envelope level (resource_spans, scope_spans, spans, ...).

    `desc` is a message field's type: protobuf types it optional, None being a scalar field's."""
    if desc is None:
        raise TypeError("an envelope level is a message field")
    (f,) = (f for f in desc.fields if f.type == FieldDescriptor.TYPE_MESSAGE and f.is_repeated)
    return f


def _array(d: dict[str, Any], f: FieldDescriptor, where: str) -> list[Any]:
    value = d.get(f.json_name, d.get(f.name))
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpError(f"{where}{f.json_name}: must be an array, got {type(value).__name__}")
    return value


def _head(d: dict[str, Any], f: FieldDescriptor) -> dict[str, Any]:
    """The level's own fields (resource, scope, schemaUrl), without the array below it."""
    return {k: v for k, v in d.items() if k not in (f.json_name, f.name)}


def _hex_id(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise _BadId(f"{key} must be a hex string, got {orjson.dumps(value).decode()}")
    if not _HEX.fullmatch(value) or len(value) % 2:
        hint = ""
        try:
            if len(base64.b64decode(value, validate=True)) in (8, 16):
                hint = " (OTLP/JSON writes IDs as hex, not base64)"
        except ValueError:  # binascii.Error, or a non-ASCII string
            pass
        raise _BadId(f"{key} {value[:40]!r} is not hex{hint}")
    return base64.b64encode(bytes.fromhex(value)).decode()


def _ids_to_base64(d: dict[str, Any]) -> None:
    """Hex IDs in the proto3-JSON form protobuf's parser reads (base64); lengths are checked later."""
    for camel, snake in _ID_KEYS:
        for key in (camel, snake):
            if d.get(key) is not None:  # null is the default value in proto3 JSON: empty
                d[key] = _hex_id(d[key], camel)
    links = d.get("links")
    if isinstance(links, list):
        for i, link in enumerate(links):
            if isinstance(link, dict):
                try:
                    _ids_to_base64(link)
                except _BadId as e:
                    raise _BadId(f"links[{i}].{e}") from None


def _parse(d: dict[str, Any], msg: Message) -> None:
    json_format.ParseDict(d, msg, ignore_unknown_fields=True)


def _records(children: list[Any], below: FieldDescriptor, depth: int) -> int:
    """Spans or log records under an envelope object that did not parse, for the rejected count."""
    if depth == 1:
        return len(children)
    leaf = _container(below.message_type)
    n = 0
    for c in children:
        items = c.get(leaf.json_name, c.get(leaf.name)) if isinstance(c, dict) else None
        n += len(items) if isinstance(items, list) else 0
    return n


def _record(container: Any, d: Any, where: str, rejections: Rejections) -> None:
    if not isinstance(d, dict):
        container.add()
        rejections.stand_in(where, f"must be an object, got {type(d).__name__}")
        return
    msg = container.add()
    try:
        _ids_to_base64(d)
        _parse(d, msg)
    except (_BadId, json_format.ParseError) as e:
        msg.Clear()
        rejections.stand_in(where, str(e))


def _envelope(parent: Message, f: FieldDescriptor, d: Any, where: str, depth: int, rejections: Rejections) -> None:
    """One envelope object (a ResourceSpans, a ScopeLogs, ...) added to `parent.<f>`, then what is below it;
    `depth` counts the envelope levels left above the records."""
    if not isinstance(d, dict):
        raise OtlpError(f"{where}: must be an object")
    below = _container(f.message_type)
    children = _array(d, below, where + ".")
    siblings = getattr(parent, f.name)
    msg = siblings.add()
    try:
        _parse(_head(d, below), msg)
    except json_format.ParseError as e:
        msg.Clear()
        rejections.stand_in(where, str(e), _records(children, below, depth))
        return
    for k, child in enumerate(children):
        at = f"{where}.{below.json_name}[{k}]"
        if depth == 1:
            _record(getattr(msg, below.name), child, at, rejections)
        else:
            _envelope(msg, below, child, at, depth - 1, rejections)


def parse_request(body: bytes, request: Message, rejections: Rejections) -> None:
    """Fill `request` (an empty ExportTraceServiceRequest or ExportLogsServiceRequest) from an OTLP/JSON body."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise OtlpError(f"invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise OtlpError(f"the body must be a JSON object, got {type(doc).__name__}")
    # upb's descriptors are Descriptor instances at run time (through its metaclass); the stubs type them apart
    top = _container(cast(Descriptor, request.DESCRIPTOR))
    for i, d in enumerate(_array(doc, top, "")):
        _envelope(request, top, d, f"{top.json_name}[{i}]", 2, rejections)
