"""AnyValue <-> JSON-able values (faithful both ways), and the Collector's AsString as Loki stores it."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from observ.otlp.anyvalue import as_string, es6_number, flatten, from_json, normalize_label, to_json
from observ.otlp.limits import OtlpLimits

LIMITS = OtlpLimits()


def kvlist(**items: AnyValue) -> AnyValue:
    return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in items.items()]))


def array(*items: AnyValue) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=list(items)))


scalars = st.one_of(
    st.just(AnyValue()),
    st.text(max_size=5).map(lambda s: AnyValue(string_value=s)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.floats(allow_nan=False).map(lambda d: AnyValue(double_value=d)),
    st.sampled_from([math.inf, -math.inf]).map(lambda d: AnyValue(double_value=d)),
    st.binary(max_size=6).map(lambda b: AnyValue(bytes_value=b)),
)
keys = st.one_of(st.text(max_size=4), st.sampled_from(["bytesValue", "doubleValue", "kvlistValue"]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: array(*xs)),
        st.dictionaries(keys, inner, max_size=3).map(lambda d: kvlist(**d)),
    ),
    max_leaves=12,
)


@given(values)
def test_to_json_and_back_is_the_same_value(v: AnyValue) -> None:
    j = to_json(v, LIMITS)
    assert orjson.loads(orjson.dumps(j)) == j, "plain JSON, no bytes or non-finite floats left"
    assert from_json(j) == v


def test_json_forms() -> None:
    v = kvlist(
        s=AnyValue(string_value="x"),
        i=AnyValue(int_value=-3),
        d=AnyValue(double_value=1.0),
        b=AnyValue(bytes_value=b"\x00\xff"),
        n=AnyValue(double_value=math.nan),
        a=array(AnyValue(bool_value=True), AnyValue()),
        tag=kvlist(bytesValue=AnyValue(string_value="not bytes")),
    )
    assert orjson.dumps(to_json(v, LIMITS)) == (
        b'{"s":"x","i":-3,"d":1.0,"b":{"bytesValue":"AP8="},"n":{"doubleValue":"NaN"},"a":[true,null],'
        b'"tag":{"kvlistValue":{"bytesValue":"not bytes"}}}'
    )
    back = from_json(to_json(v, LIMITS))
    assert math.isnan(back.kvlist_value.values[4].value.double_value)
    assert back.kvlist_value.values[6].value == kvlist(bytesValue=AnyValue(string_value="not bytes"))


def test_limits_on_depth_and_items() -> None:
    v = AnyValue(string_value="leaf")
    for _ in range(3):
        v = array(v)
    assert to_json(v, OtlpLimits(max_value_depth=3)) == [[["leaf"]]]
    with pytest.raises(ValueError, match="nested deeper than 2 levels"):
        to_json(v, OtlpLimits(max_value_depth=2))
    with pytest.raises(ValueError, match="a value holds 3 items, limit 2"):
        as_string(array(*[AnyValue(int_value=i) for i in range(3)]), OtlpLimits(max_value_items=2))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (AnyValue(string_value="plain"), "plain"),
        (AnyValue(bool_value=False), "false"),
        (AnyValue(int_value=-42), "-42"),
        (AnyValue(double_value=637.704), "637.704"),
        (AnyValue(bytes_value=b"hi"), "aGk="),
        (AnyValue(), ""),
        (array(AnyValue(string_value="many"), AnyValue(string_value="values")), '["many","values"]'),
        (kvlist(z=AnyValue(int_value=1), a=AnyValue(bytes_value=b"hi")), '{"a":"aGk=","z":1}'),
    ],
)
def test_as_string(value: AnyValue, text: str) -> None:
    assert as_string(value, LIMITS) == text


@pytest.mark.parametrize(
    ("f", "text"),
    [
        (1.0, "1"),
        (-0.5, "-0.5"),
        (0.0, "0"),
        (-0.0, "-0"),
        (123456789.0, "123456789"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (2.5e22, "2.5e+22"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e-10, "1e-10"),
        (5e-324, "5e-324"),
        (0.1 + 0.2, "0.30000000000000004"),
        (math.inf, "json: unsupported value: +Inf"),
        (math.nan, "json: unsupported value: NaN"),
    ],
)
def test_es6_number_matches_gos_float64_as_string(f: float, text: str) -> None:
    assert es6_number(f) == text


@pytest.mark.parametrize(
    ("label", "expected"),
    [  # prometheus/otlptranslator normalize_label_test.go, TestNormalizeLabel
        ("", ""),
        ("label:with:colons", "label_with_colons"),
        ("LabelWithCapitalLetters", "LabelWithCapitalLetters"),
        ("label!with&special$chars)", "label_with_special_chars_"),
        ("label_with_foreign_characters_字符", "label_with_foreign_characters___"),
        ("label.with.dots", "label_with_dots"),
        ("123label", "key_123label"),
        ("_label_starting_with_underscore", "key_label_starting_with_underscore"),
        ("__label_starting_with_2underscores", "__label_starting_with_2underscores"),
    ],
)
def test_normalize_label(label: str, expected: str) -> None:
    assert normalize_label(label) == expected


def test_flatten_nests_maps_with_underscores_as_loki_does() -> None:
    out: dict[str, str] = {}
    flatten("http.request", kvlist(header=kvlist(**{"x-id": AnyValue(int_value=7)}), m=AnyValue()), LIMITS, out)
    assert out == {"http_request_header_x_id": "7", "http_request_m": ""}
