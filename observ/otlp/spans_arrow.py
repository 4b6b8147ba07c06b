"""ExportTraceServiceRequest protobuf -> rows of the spans store, column-wise in Arrow, for the common request.

`observ.otlp.spans` touches every message through upb's Python objects (~15 µs a span, half of an append's CPU).
Here ptars (Rust) decodes the whole body into nested Arrow and pyarrow compute builds the store's columns: hex
IDs, the attributes' and events' JSON text, the resource per span, with no Python per span. It takes only what
it can answer exactly as the exact path does: any span that path would reject, cut or rewrite (a bad ID or time,
a limit reached, a duplicate span or attribute key, links, array/map/bytes values, non-finite doubles, control
characters in a string) makes `prepared_rows` answer None, and the caller decodes the request the exact way.
`tests/unit/otlp/test_spans_arrow.py` holds the two paths equal, row for row.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observ.otlp.limits import OtlpLimits
from observ.traces.model import INT64_MAX, UNKNOWN_SERVICE
from observ.traces.schema import ARROW_SCHEMA, SPAN_COLUMNS

_HEX_PAIRS = np.array([ord(f"{i:02x}"[0]) | ord(f"{i:02x}"[1]) << 8 for i in range(256)], dtype=np.uint16)
"""Byte -> its two lowercase hex digits as one little-endian uint16 (two ASCII bytes in a row)."""
_UNSUPPORTED_VALUES = ("array_value", "kvlist_value", "bytes_value", "string_value_strindex")
_QUOTE, _EMPTY = pa.scalar('"'), pa.scalar("")


class _Exact(Exception):
    """The request needs the exact decoder."""


@functools.cache
def _handler() -> Any:
    import ptars

    return ptars.HandlerPool([ExportTraceServiceRequest.DESCRIPTOR.file]).get_for_message(
        ExportTraceServiceRequest.DESCRIPTOR
    )


def prepared_rows(raw: bytes, tenant: str, limits: OtlpLimits) -> tuple[pa.Table, list[str]] | None:
    """(rows of `spans_hot`, the identity of each row as `observ.traces.store.identity` spells it), or None when
    the request needs the exact path (including a body ptars cannot read: the exact path says what is wrong)."""
    try:
        return _rows(_handler().list_to_record_batch([raw]), tenant, limits)  # ptars checks UTF-8
    except Exception:  # _Exact, or whatever ptars or Arrow refuse: the exact path decides, and says why
        return None


def _rows(batch: pa.RecordBatch, tenant: str, limits: OtlpLimits) -> tuple[pa.Table, list[str]] | None:
    resource_spans = pc.list_flatten(batch.column("resource_spans"))
    scope_lists = resource_spans.field("scope_spans")
    scopes = pc.list_flatten(scope_lists)
    span_lists = scopes.field("spans")
    spans = pc.list_flatten(span_lists)
    n = len(spans)
    if n == 0:
        raise _Exact
    span_scope = pc.list_parent_indices(span_lists)
    span_resource = pc.take(pc.list_parent_indices(scope_lists), span_scope)
    field = spans.field

    start, end = field("start_time_unix_nano"), field("end_time_unix_nano")
    _require(pc.all(pc.less_equal(end, INT64_MAX)), pc.all(pc.less_equal(start, end)))
    _require(pc.max(pc.list_value_length(field("links"))).as_py() == 0)
    trace_id = _hex(_id(field("trace_id"), 16))
    span_id = _hex(_id(field("span_id"), 8))
    parent = field("parent_span_id")
    lengths = pc.binary_length(parent)
    _require(pc.all(pc.or_(pc.equal(lengths, 0), pc.equal(lengths, 8))))
    _require(pc.all(pc.or_(pc.equal(lengths, 0), pc.not_equal(parent, pa.scalar(bytes(8), pa.binary())))))
    kind = field("kind")
    status = field("status")
    status_code = pc.fill_null(pc.struct_field(status, "code"), 0)
    status_message = pc.fill_null(pc.struct_field(status, "message"), "")

    resource_attributes = pc.struct_field(resource_spans.field("resource"), "attributes")
    resources = _attributes_json(resource_attributes, limits)
    services = _services(resource_attributes)
    scope = scopes.field("scope")

    columns: dict[str, pa.Array] = {
        "tenant": pa.array([tenant] * n, pa.string()),
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": _hex(parent),
        "trace_state": field("trace_state"),
        "service": pc.take(services, span_resource),
        "name": field("name"),
        "kind": kind,
        "start_ns": start.cast(pa.int64()),
        "end_ns": end.cast(pa.int64()),
        "duration_ns": pc.subtract(end, start).cast(pa.int64()),
        "status_code": status_code,
        "status_message": status_message,
        "attributes": _attributes_json(field("attributes"), limits),
        "events": _events_json(field("events"), limits),
        "links": pa.array(["[]"] * n, pa.string()),
        "resource": pa.DictionaryArray.from_arrays(span_resource.cast(pa.int32()), resources),
        "scope_name": pc.take(pc.fill_null(pc.struct_field(scope, "name"), ""), span_scope),
        "scope_version": pc.take(pc.fill_null(pc.struct_field(scope, "version"), ""), span_scope),
        "flags": field("flags").cast(pa.int64()),
        "dropped_attributes_count": field("dropped_attributes_count").cast(pa.int64()),
        "dropped_events_count": field("dropped_events_count").cast(pa.int64()),
        "dropped_links_count": field("dropped_links_count").cast(pa.int64()),
    }
    rows = pa.Table.from_arrays([columns[c] for c in SPAN_COLUMNS], schema=ARROW_SCHEMA)
    keys = pc.binary_join_element_wise(f"{tenant}/", trace_id, span_id, kind.cast(pa.string()), "").to_pylist()
    _require(len(set(keys)) == n)
    return rows, keys


def _require(*checks: pa.Scalar | bool) -> None:
    for ok in checks:
        if not (ok.as_py() if isinstance(ok, pa.Scalar) else ok):
            raise _Exact


def _id(ids: pa.Array, size: int) -> pa.Array:
    """`ids` when every one has `size` bytes and none is all zeros (the exact path names the others)."""
    _require(pc.all(pc.equal(pc.binary_length(ids), size)))
    _require(not pc.any(pc.equal(ids, pa.scalar(bytes(size), pa.binary()))).as_py())
    return ids


def _hex(ids: pa.Array) -> pa.Array:
    """Each binary value as lowercase hex text, from the values buffer in one numpy lookup."""
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int32, count=len(ids) + 1, offset=ids.offset * 4)
    text = _HEX_PAIRS[_bytes(ids)].tobytes()
    return pa.StringArray.from_buffers(len(ids), pa.py_buffer((offsets - offsets[0]) * 2), pa.py_buffer(text))


def _quoted(strings: pa.Array) -> pa.Array:
    """JSON string literals, escaped as orjson escapes them. Checked on the values buffer at once: strings with
    control characters (orjson's \\u escapes) are not taken; quotes and backslashes are escaped only if any."""
    data = _bytes(strings)
    _require(not (data < 0x20).any())
    if (data == 0x22).any() or (data == 0x5C).any():
        strings = pc.replace_substring(pc.replace_substring(strings, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise(_QUOTE, strings, _QUOTE, _EMPTY)


def _bytes(strings: pa.Array) -> np.ndarray:
    """The bytes of every value of a string or binary array, as one numpy view (no copy)."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=len(strings) + 1, offset=strings.offset * 4)
    return np.frombuffer(strings.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]


def _values_json(values: pa.StructArray) -> pa.Array:
    """AnyValue -> its JSON text, as `observ.otlp.anyvalue.attributes_to_json` keeps it (scalars only)."""
    values = pa.StructArray.from_arrays(
        [pc.struct_field(values, f.name) for f in values.type], fields=list(values.type)
    )
    for name in _UNSUPPORTED_VALUES:
        _require(values.field(name).null_count == len(values))
    doubles = values.field("double_value")
    double_json = pa.nulls(len(values), pa.string())
    if doubles.null_count < len(values):
        present = doubles.drop_null()
        _require(pc.all(pc.is_finite(present)))
        texts = [orjson.dumps(d).decode() if d is not None else None for d in doubles.to_pylist()]
        double_json = pa.array(texts, pa.string())
    bools = values.field("bool_value")
    bool_json = pc.if_else(bools, "true", "false")
    return pc.coalesce(
        _quoted(values.field("string_value")),
        bool_json,
        values.field("int_value").cast(pa.string()),
        double_json,
        pa.scalar("null", pa.string()),
    )


def _attributes_json(lists: pa.ListArray, limits: OtlpLimits) -> pa.Array:
    """Each list of KeyValue as the JSON object the exact path writes (keys in order; none repeated)."""
    counts = pc.list_value_length(lists)
    if len(lists) and lists.null_count:
        counts = pc.fill_null(counts, 0)
    _require(len(lists) == 0 or pc.max(counts).as_py() <= limits.max_attributes)
    kvs = pc.list_flatten(lists)
    if len(kvs) == 0:
        return pa.array(["{}"] * len(lists), pa.string())
    keys = kvs.field("key")
    _require(_distinct_within(keys, counts))
    members = pc.binary_join_element_wise(_quoted(keys), _values_json(pc.struct_field(kvs, "value")), ":")
    return _joined(members, counts, "{", "}")


def _distinct_within(keys: pa.Array, counts: pa.Array) -> bool:
    """No list holds a key twice (the lists are `counts` consecutive keys each): each list's keys as bits of one
    integer, whose bit count must be the list's length. Past 64 distinct keys in the request, by sorting."""
    encoded = pc.dictionary_encode(keys)
    codes = encoded.indices.to_numpy().astype(np.int64)
    sizes = counts.to_numpy(zero_copy_only=False)
    nonempty = sizes > 0
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))[nonempty]
    if len(encoded.dictionary) <= 64:
        masks = np.bitwise_or.reduceat(np.left_shift(np.uint64(1), codes.astype(np.uint64)), starts)
        return bool((np.bitwise_count(masks) == sizes[nonempty]).all())
    owners = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    return len(np.unique(owners * len(encoded.dictionary) + codes)) == len(codes)


def _joined(members: pa.Array, counts: pa.Array, open_: str, close: str) -> pa.Array:
    """`counts[i]` consecutive members joined with commas inside `open_` ... `close`, for each i."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts.to_numpy(zero_copy_only=False), out=offsets[1:])
    lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), members)
    return pc.binary_join_element_wise(open_, pc.binary_join(lists, ","), close, "")


def _events_json(lists: pa.ListArray, limits: OtlpLimits) -> pa.Array:
    """Each span's events as the JSON list of `observ.traces.model.Event` the exact path writes."""
    counts = pc.list_value_length(lists)
    _require(pc.max(counts).as_py() <= limits.max_events)
    events = pc.list_flatten(lists)
    if len(events) == 0:
        return pa.array(["[]"] * len(lists), pa.string())
    times = events.field("time_unix_nano")
    _require(pc.all(pc.less_equal(times, INT64_MAX)))
    members = pc.binary_join_element_wise(
        '{"name":',
        _quoted(events.field("name")),
        ',"time_ns":',
        times.cast(pa.string()),
        ',"attributes":',
        _attributes_json(events.field("attributes"), limits),
        ',"dropped_attributes_count":',
        events.field("dropped_attributes_count").cast(pa.string()),
        "}",
        "",
    )
    return _joined(members, counts, "[", "]")


def _services(lists: pa.ListArray) -> pa.Array:
    """Each resource's `service.name` when it is a non-empty string, else unknown_service."""
    kvs = pc.list_flatten(lists)
    names = pa.array([UNKNOWN_SERVICE] * len(lists), pa.string())
    if len(kvs) == 0:
        return names
    owner = pc.list_parent_indices(lists)
    value = pc.struct_field(pc.struct_field(kvs, "value"), "string_value")
    hit = pc.and_(pc.equal(kvs.field("key"), "service.name"), pc.greater(pc.utf8_length(value), 0))
    hit = pc.fill_null(hit, False)
    found = pc.filter(owner, hit).to_pylist()
    values = pc.filter(value, hit).to_pylist()
    out = names.to_pylist()
    for i, v in zip(found, values, strict=True):
        out[i] = v
    return pa.array(out, pa.string())
