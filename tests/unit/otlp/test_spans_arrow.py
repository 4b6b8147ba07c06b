"""The Arrow decoder (`observ.otlp.spans_arrow`) against the exact one (`observ.otlp.spans` + `prepare`): for any
request it either declines (None) or gives the very rows and identities the exact path stores — and it does take
the ordinary requests, or it would be dead weight."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from observ.otlp.decode import PROTOBUF, decode_traces
from observ.otlp.limits import OtlpLimits
from observ.otlp.spans_arrow import prepared_rows
from observ.traces.store import prepare

T0 = 1_700_000_000_000_000_000
LIMITS = OtlpLimits(max_attributes=6, max_events=3, max_links=2)


def exact(raw: bytes, limits: OtlpLimits = LIMITS) -> tuple[object, list[str]] | None:
    result = decode_traces(raw, PROTOBUF, "acme", limits)
    if result.rejected or not len(result.columns):
        return None
    p = prepare([result.columns])
    return (p.rows, p.keys) if not p.duplicates else None


def assert_same_or_declined(raw: bytes, limits: OtlpLimits = LIMITS) -> bool:
    """True when the Arrow decoder took the request (and then gave exactly the exact path's rows)."""
    fast = prepared_rows(raw, "acme", limits)
    if fast is None:
        return False
    want = exact(raw, limits)
    assert want is not None, "the Arrow decoder took a request the exact path rejects or dedups"
    rows, keys = fast
    want_rows, want_keys = want
    for name in rows.column_names:
        assert rows[name].to_pylist() == want_rows[name].to_pylist(), name  # type: ignore[attr-defined]
    assert decoded(rows).equals(decoded(want_rows)) and keys == want_keys
    return True


def decoded(rows: pa.Table) -> pa.Table:
    """Dictionary columns as their values: the Arrow decoder's `resource` dictionary holds every resource of the
    request, the exact path's only those with spans; the rows are the same."""
    return pa.table({n: c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
                     for n, c in zip(rows.column_names, rows.columns, strict=True)})  # fmt: skip


def kv(key: str, **value: object) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def ordinary(n_spans: int = 3) -> ExportTraceServiceRequest:
    spans = [
        Span(
            trace_id=bytes([1]) * 16, span_id=(i + 1).to_bytes(8, "big"),
            parent_span_id=b"" if i == 0 else (1).to_bytes(8, "big"), name=f'GET /cart/{i} "quoted" \\ é',
            kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=T0 + i, end_time_unix_nano=T0 + 10 * i + 5,
            attributes=[kv("http.route", string_value="/cart"), kv("n", int_value=-i), kv("ok", bool_value=True),
                        kv("ratio", double_value=0.25 * i), kv("empty", string_value=""), KeyValue(key="unset")],
            events=[Span.Event(time_unix_nano=T0 + 1, name="retry", attributes=[kv("attempt", int_value=2)],
                               dropped_attributes_count=1)] if i % 2 else [],
            status=Status(code=Status.STATUS_CODE_ERROR, message="boom") if i == 2 else None,
            trace_state="k=v", flags=257, dropped_attributes_count=3, dropped_events_count=1,
        )
        for i in range(n_spans)
    ]  # fmt: skip
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[kv("service.name", string_value="cart"), kv("pod", string_value="c-1")]),
                scope_spans=[
                    ScopeSpans(scope=InstrumentationScope(name="shop", version="1.2"), spans=spans[:2]),
                    ScopeSpans(spans=spans[2:]),
                ],
            ),
            ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(trace_id=bytes([2]) * 16, span_id=b"\x09" * 8)])]),
        ]
    )


def test_an_ordinary_request_is_taken_and_stored_as_the_exact_path_stores_it() -> None:
    assert assert_same_or_declined(ordinary().SerializeToString())


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda s: setattr(s, "trace_id", b"\x01" * 15), "a trace ID of 15 bytes"),
        (lambda s: setattr(s, "trace_id", bytes(16)), "an all-zero trace ID"),
        (lambda s: setattr(s, "span_id", b""), "no span ID"),
        (lambda s: setattr(s, "parent_span_id", bytes(8)), "an all-zero parent"),
        (lambda s: setattr(s, "end_time_unix_nano", T0 - 1), "ends before it starts"),
        (lambda s: setattr(s, "end_time_unix_nano", 2**64 - 1), "past int64"),
        (lambda s: s.attributes.extend([kv(f"k{i}", int_value=i) for i in range(7)]), "past max_attributes"),
        (lambda s: s.attributes.append(kv("n", int_value=9)), "a key twice"),
        (lambda s: s.attributes.append(kv("tags", array_value=ArrayValue(values=[AnyValue(int_value=1)]))), "array"),
        (lambda s: s.attributes.append(kv("raw", bytes_value=b"\x00")), "bytes"),
        (lambda s: s.attributes.append(kv("x", double_value=math.inf)), "infinite double"),
        (lambda s: s.attributes.append(kv("line", string_value="a\nb")), "control character"),
        (lambda s: s.links.add(trace_id=b"\x03" * 16, span_id=b"\x04" * 8), "a link"),
        (lambda s: s.events.extend([Span.Event(name=str(i)) for i in range(4)]), "past max_events"),
    ],
)
def test_what_the_exact_path_would_reject_cut_or_rewrite_is_left_to_it(change: object, why: str) -> None:
    req = ordinary()
    change(req.resource_spans[0].scope_spans[0].spans[1])  # type: ignore[operator]
    assert prepared_rows(req.SerializeToString(), "acme", LIMITS) is None, why


def test_a_span_sent_twice_in_one_request_is_left_to_the_exact_path() -> None:
    req = ordinary()
    req.resource_spans[0].scope_spans[1].spans.append(req.resource_spans[0].scope_spans[0].spans[0])
    assert prepared_rows(req.SerializeToString(), "acme", LIMITS) is None


@pytest.mark.parametrize("raw", [b"\x0a\xff\xff", b"\x0a\x03abc", ordinary().SerializeToString()[:-3]])
def test_a_body_that_is_not_a_request_is_left_to_the_exact_path_which_names_the_fault(raw: bytes) -> None:
    assert prepared_rows(raw, "acme", LIMITS) is None


def test_invalid_utf8_is_left_to_the_exact_path() -> None:
    raw = ordinary().SerializeToString().replace(b"shop", b"sh\xffp")
    assert prepared_rows(raw, "acme", LIMITS) is None


def test_an_empty_request_is_left_to_the_exact_path() -> None:
    assert prepared_rows(b"", "acme", LIMITS) is None


# --- any request: the same rows or none ------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
_values = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), _text),
    st.builds(lambda v: AnyValue(int_value=v), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(double_value=v), st.floats(allow_nan=True, allow_infinity=True)),
    st.just(AnyValue()),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=4)),
)
_attributes = st.lists(st.builds(KeyValue, key=st.sampled_from(["a", "b", "c.d", 'q"', "é", ""]), value=_values),
                       max_size=7)  # fmt: skip
_ids16 = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=17))
_ids8 = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=9))
_times = st.one_of(st.integers(T0, T0 + 100), st.integers(0, 2**64 - 1))


@st.composite
def _span(draw: st.DrawFn) -> Span:
    start = draw(_times)
    return Span(
        trace_id=draw(st.one_of(st.sampled_from([b"\x01" * 16, b"\x02" * 16]), _ids16)),
        span_id=draw(_ids8), parent_span_id=draw(st.one_of(st.just(b""), _ids8)), name=draw(_text),
        kind=draw(st.integers(0, 6)), start_time_unix_nano=start,
        end_time_unix_nano=draw(st.one_of(st.just(start), _times)), attributes=draw(_attributes),
        events=draw(st.lists(st.builds(Span.Event, time_unix_nano=_times, name=_text, attributes=_attributes,
                                       dropped_attributes_count=st.integers(0, 3)), max_size=4)),
        links=draw(st.lists(st.builds(Span.Link, trace_id=_ids16, span_id=_ids8), max_size=1)),
        status=draw(st.one_of(st.none(), st.builds(Status, code=st.integers(0, 2), message=_text))),
        trace_state=draw(_text), flags=draw(st.integers(0, 2**32 - 1)),
        dropped_attributes_count=draw(st.integers(0, 2**32 - 1)), dropped_events_count=draw(st.integers(0, 9)),
    )  # fmt: skip


_requests = st.builds(
    ExportTraceServiceRequest,
    resource_spans=st.lists(
        st.builds(
            ResourceSpans,
            resource=st.one_of(st.none(), st.builds(Resource, attributes=_attributes)),
            scope_spans=st.lists(
                st.builds(
                    ScopeSpans,
                    scope=st.one_of(st.none(), st.builds(InstrumentationScope, name=_text, version=_text)),
                    spans=st.lists(_span(), max_size=4),
                ),
                max_size=3,
            ),
        ),
        max_size=3,
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests)
def test_any_request_gives_the_exact_paths_rows_or_none(req: ExportTraceServiceRequest) -> None:
    assert_same_or_declined(req.SerializeToString())


_printable = st.characters(min_codepoint=0x20, exclude_categories=("Cs",))
"""No control characters (the exact path takes them, the Arrow one declines), no surrogates (protobuf refuses)."""
_plain_values = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), st.text(_printable, max_size=8)),
    st.builds(lambda v: AnyValue(int_value=v), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: AnyValue(double_value=v), st.floats(allow_nan=False, allow_infinity=False)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(KeyValue, key=st.sampled_from(["a", "b", "c"]), value=_plain_values), max_size=3,
                unique_by=lambda kv: kv.key))  # fmt: skip
def test_ordinary_values_of_every_scalar_type_are_taken(attributes: list[KeyValue]) -> None:
    req = ordinary()
    req.resource_spans[0].scope_spans[0].spans[0].attributes.extend(attributes)  # keys unlike ordinary()'s
    assert assert_same_or_declined(req.SerializeToString(), OtlpLimits())


_keys = st.sampled_from([f"k{i}" for i in range(70)] + ['q"', "b\\s", "é", "", "a b"])
"""More than 64 distinct keys in a request (the duplicate-key check then sorts), some escaped in JSON."""


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.builds(KeyValue, key=_keys, value=st.one_of(_plain_values, st.just(AnyValue()))),
                         max_size=9, unique_by=lambda kv: kv.key), min_size=1, max_size=12))  # fmt: skip
def test_attribute_objects_of_any_shape_are_built_as_the_exact_path_writes_them(lists: list[list[KeyValue]]) -> None:
    """Empty objects between full ones, a string value first, last or next to another, unset values, bools."""
    req = ordinary(len(lists))
    spans = [span for scope in req.resource_spans[0].scope_spans for span in scope.spans]
    for span, attributes in zip(spans, lists, strict=True):
        del span.attributes[:]
        span.attributes.extend(attributes)
        span.attributes.extend([kv("yes", bool_value=True), kv("no", bool_value=False)][: len(attributes) % 3])
    assert assert_same_or_declined(req.SerializeToString(), OtlpLimits())
