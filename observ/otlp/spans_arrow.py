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
from collections.abc import Sequence
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
    events = pc.list_flatten(field("events"))
    # one call for the three kinds of attribute lists: each call costs ~0.6 ms beyond its members
    objects = _attributes_json(
        pa.concat_arrays([field("attributes"), resource_attributes, events.field("attributes")]), limits
    )
    resources = objects[n : n + len(resource_attributes)]
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
        "attributes": objects[:n],
        "events": _events_json(field("events"), events, objects[n + len(resource_attributes) :], limits),
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


def _bytes(strings: pa.Array) -> np.ndarray:
    """The bytes of every value of a string or binary array, as one numpy view (no copy)."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=len(strings) + 1, offset=strings.offset * 4)
    return np.frombuffer(strings.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]


_STRING, _TRUE, _FALSE, _INT, _DOUBLE, _NULL = range(6)
"""What a member's value is, in the order the exact path's JSON picks it (a oneof has one set)."""
_LITERALS = ("true", "false", "null", "}", '"}', "{}")


def _value_kinds(values: dict[str, pa.Array]) -> np.ndarray:
    """AnyValue -> which of string, true, false, int, double or null it is (scalars only: others go the exact way)."""
    n = len(values["string_value"])
    for name in _UNSUPPORTED_VALUES:
        _require(values[name].null_count == n)
    kinds = np.full(n, _NULL, dtype=np.int8)
    for kind, present in (
        (_DOUBLE, values["double_value"].is_valid()),
        (_INT, values["int_value"].is_valid()),
        (_FALSE, pc.invert(pc.fill_null(values["bool_value"], True))),
        (_TRUE, pc.fill_null(values["bool_value"], False)),
        (_STRING, values["string_value"].is_valid()),
    ):
        kinds[present.to_numpy(zero_copy_only=False)] = kind
    return kinds


def _escaped(strings: pa.Array) -> pa.Array:
    """The text of JSON string literals without their quotes, escaped as orjson escapes them. Checked on the values
    buffer at once: strings with control characters (orjson's \\u escapes) are not taken; quotes and backslashes
    are escaped only if any."""
    data = _bytes(strings)
    _require(not (data < 0x20).any())
    if (data == 0x22).any() or (data == 0x5C).any():
        strings = pc.replace_substring(pc.replace_substring(strings, "\\", "\\\\"), '"', '\\"')
    return strings


class _Pieces:
    """Texts built by one `take` from a pool of pieces: text i is its members' pieces in order, then a closing piece;
    the taken pieces' bytes in a row are the texts (no pass quotes, joins or wraps values: the pyarrow kernels doing
    that were a third of decoding)."""

    def __init__(self) -> None:
        self._arrays: list[pa.Array] = []
        self._size = 0

    def add(self, texts: pa.Array | Sequence[str]) -> int:
        """Pool index of the first of `texts`."""
        at = self._size
        array = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
        self._arrays.append(array)
        self._size += len(array)
        return at

    def join(self, sizes: np.ndarray, member_pieces: Sequence[np.ndarray | int], closing: np.ndarray) -> pa.Array:
        """Text i: the pieces of members `sum(sizes[:i])` ... (each `member_pieces` in turn), then `closing[i]`."""
        n, k, m = len(sizes), len(member_pieces), int(sizes.sum())
        starts = k * (np.cumsum(sizes) - sizes) + np.arange(n, dtype=np.int64)
        pieces = np.empty(k * m + n, dtype=np.int64)
        at = k * np.arange(m, dtype=np.int64) + np.repeat(np.arange(n, dtype=np.int64), sizes)
        for j, piece in enumerate(member_pieces):
            pieces[at + j] = piece
        pieces[starts + k * sizes] = closing
        taken = pa.concat_arrays(self._arrays).take(pa.array(pieces))
        offsets = np.frombuffer(taken.buffers()[1], dtype=np.int32, count=len(taken) + 1, offset=taken.offset * 4)
        bounds = offsets[np.append(starts, len(pieces))]
        return pa.StringArray.from_buffers(n, pa.py_buffer(bounds - bounds[0]), pa.py_buffer(_bytes(taken)))


def _run_starts(sizes: np.ndarray) -> np.ndarray:
    """Of `sum(sizes)` members in runs of `sizes`: where each non-empty run begins."""
    return (np.cumsum(sizes) - sizes)[sizes > 0]


def _firsts(sizes: np.ndarray) -> np.ndarray:
    """Of `sum(sizes)` members in runs of `sizes`: which begin their run."""
    first = np.zeros(int(sizes.sum()), dtype=bool)
    first[_run_starts(sizes)] = True
    return first


def _lasts(sizes: np.ndarray) -> np.ndarray:
    """Of `sum(sizes)` members in runs of `sizes`: which end their run."""
    last = np.zeros(int(sizes.sum()), dtype=bool)
    last[_run_starts(sizes) + sizes[sizes > 0] - 1] = True
    return last


def _sizes(lists: pa.ListArray, most: int) -> np.ndarray:
    """Each list's length (a null list: 0), none over `most`."""
    counts = pc.list_value_length(lists)
    if len(lists) and lists.null_count:
        counts = pc.fill_null(counts, 0)
    sizes = counts.to_numpy(zero_copy_only=False).astype(np.int64)
    _require(not len(sizes) or int(sizes.max()) <= most)
    return sizes


def _attributes_json(lists: pa.ListArray, limits: OtlpLimits) -> pa.Array:
    """Each list of KeyValue as the JSON object the exact path writes (keys in order; none repeated).

    A member is two pieces, a prefix and its value. A prefix is `{"key":`, `,"key":` or `",key":` (closing the
    previous string value), with a `"` opening a string value; the closing piece is `}`, `"}` or `{}`."""
    n = len(lists)
    sizes = _sizes(lists, limits.max_attributes)
    kvs = pc.list_flatten(lists)
    if len(kvs) == 0:
        return pa.array(["{}"] * n, pa.string())
    encoded = pc.dictionary_encode(kvs.field("key"))
    codes = encoded.indices.to_numpy().astype(np.int64)
    _require(_distinct_within(codes, len(encoded.dictionary), sizes))
    anyvalue = pc.struct_field(kvs, "value")
    values = dict(zip(anyvalue.type.names, anyvalue.flatten(), strict=True))  # each with the struct's own nulls
    kinds = _value_kinds(values)
    doubles = values["double_value"]
    _require(pc.all(pc.is_finite(doubles)).as_py() is not False)

    pool = _Pieces()
    names = _escaped(encoded.dictionary).to_pylist()
    prefixes = pool.add([f'{lead}"{k}":{quote}' for k in names for lead in ("{", ",", '",') for quote in ("", '"')])
    literal = pool.add(_LITERALS)
    strings = pool.add(_escaped(values["string_value"]))
    ints = pool.add(values["int_value"].cast(pa.string()))
    double_text = pool.add([orjson.dumps(d).decode() for d in doubles.drop_null().to_pylist()])

    members = np.arange(len(kvs), dtype=np.int64)
    is_string = kinds == _STRING
    after_string = np.zeros(len(kvs), dtype=bool)
    after_string[1:] = is_string[:-1]
    lead = np.where(_firsts(sizes), 0, np.where(after_string, 2, 1))
    value = np.empty(len(kvs), dtype=np.int64)
    value[is_string] = strings + members[is_string]
    value[kinds == _INT] = ints + members[kinds == _INT]
    is_double = kinds == _DOUBLE
    value[is_double] = double_text + np.cumsum(doubles.is_valid().to_numpy(zero_copy_only=False))[is_double] - 1
    for kind, text in ((_TRUE, 0), (_FALSE, 1), (_NULL, 2)):
        value[kinds == kind] = literal + text
    closing = np.full(n, literal + 5, dtype=np.int64)  # {}
    closing[sizes > 0] = literal + np.where(is_string[_lasts(sizes)], 4, 3)
    return pool.join(sizes, [prefixes + codes * 6 + lead * 2 + is_string, value], closing)


def _distinct_within(codes: np.ndarray, distinct: int, sizes: np.ndarray) -> bool:
    """No list holds a key twice (the lists are `sizes` consecutive key codes each): each list's keys as bits of one
    integer, whose bit count must be the list's length. Past 64 distinct keys in the request, by sorting."""
    if distinct <= 64:
        masks = np.bitwise_or.reduceat(np.left_shift(np.uint64(1), codes.astype(np.uint64)), _run_starts(sizes))
        return bool((np.bitwise_count(masks) == sizes[sizes > 0]).all())
    owners = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    return len(np.unique(owners * distinct + codes)) == len(codes)


def _events_json(lists: pa.ListArray, events: pa.StructArray, attributes: pa.Array, limits: OtlpLimits) -> pa.Array:
    """Each span's events (`events`, flattened from `lists`; `attributes`, their JSON objects) as the JSON list of
    `observ.traces.model.Event` the exact path writes."""
    sizes = _sizes(lists, limits.max_events)
    if len(events) == 0:
        return pa.array(["[]"] * len(lists), pa.string())
    times = events.field("time_unix_nano")
    _require(pc.all(pc.less_equal(times, INT64_MAX)))
    pool = _Pieces()
    literal = pool.add(('[{"name":"', ',{"name":"', '","time_ns":', ',"attributes":', ',"dropped_attributes_count":',
                        "}", "]", "[]"))  # fmt: skip
    members = np.arange(len(events), dtype=np.int64)
    closing = np.where(sizes > 0, literal + 6, literal + 7)
    return pool.join(
        sizes,
        [
            literal + np.where(_firsts(sizes), 0, 1),
            pool.add(_escaped(events.field("name"))) + members,
            literal + 2,
            pool.add(times.cast(pa.string())) + members,
            literal + 3,
            pool.add(attributes) + members,
            literal + 4,
            pool.add(events.field("dropped_attributes_count").cast(pa.string())) + members,
            literal + 5,
        ],
        closing,
    )


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
