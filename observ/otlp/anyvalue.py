"""OTLP `AnyValue` <-> the JSON-able values span records keep, and the Collector's `AsString`.

Plain JSON carries strings, bools, ints, doubles, arrays and maps as themselves. The two values it
cannot carry keep their OTLP/JSON AnyValue form: bytes as `{"bytesValue": "<base64>"}` and non-finite
doubles as `{"doubleValue": "NaN" | "Infinity" | "-Infinity"}`. A map whose only key is one of those
tag names is written `{"kvlistValue": {...}}`, so no value reads back as another: `from_json(to_json(v))`
gives `v` back (up to duplicate map keys, which OTLP forbids).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from observ.otlp.limits import OtlpLimits

TAGS = frozenset({"bytesValue", "doubleValue", "kvlistValue"})
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class ValueLimitError(ValueError):
    """A value past the limits (nesting depth, items in one array or map): its span or record is rejected."""


def _nonfinite_name(d: float) -> str:
    return "NaN" if math.isnan(d) else ("Infinity" if d > 0 else "-Infinity")


def _convert(v: AnyValue, limits: OtlpLimits, tagged: bool, depth: int) -> Any:
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        d = v.double_value
        if math.isfinite(d):
            return d
        return {"doubleValue": _nonfinite_name(d)} if tagged else None
    if kind == "bytes_value":
        b64 = base64.b64encode(v.bytes_value).decode()
        return {"bytesValue": b64} if tagged else b64
    if kind not in ("array_value", "kvlist_value"):
        return None  # empty, or string_value_strindex (a profiles dictionary index, meaningless here)
    if depth >= limits.max_value_depth:
        raise ValueLimitError(f"a value is nested deeper than {limits.max_value_depth} levels")
    n = len(v.array_value.values) if kind == "array_value" else len(v.kvlist_value.values)
    if n > limits.max_value_items:
        raise ValueLimitError(f"a value holds {n} items, limit {limits.max_value_items}")
    if kind == "array_value":
        return [_convert(x, limits, tagged, depth + 1) for x in v.array_value.values]
    out = {kv.key: _convert(kv.value, limits, tagged, depth + 1) for kv in v.kvlist_value.values}
    if tagged and len(out) == 1 and next(iter(out)) in TAGS:
        return {"kvlistValue": out}
    return out


def to_json(v: AnyValue, limits: OtlpLimits) -> Any:
    """The JSON-able value a span record keeps (see the module docstring); raises ValueLimitError past the limits."""
    return _convert(v, limits, True, 0)


def attributes_to_json(kvs: Sequence[KeyValue], limits: OtlpLimits) -> tuple[dict[str, Any], int]:
    """(attributes, how many were dropped): past `max_attributes` the rest are dropped and counted,
    as OTel SDKs do with their attribute limits (the count adds to the record's dropped_attributes_count)."""
    n = len(kvs)
    if n > limits.max_attributes:
        kvs = kvs[: limits.max_attributes]
    out: dict[str, Any] = {}
    for kv in kvs:  # a non-empty string is taken without a call: most attributes are strings, spans carry many
        v = kv.value
        out[kv.key] = v.string_value or _convert(v, limits, True, 0)
    return out, n - len(kvs)


def from_json(value: Any) -> AnyValue:
    """The inverse of `to_json`, for answering in OTLP (the trace API)."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[from_json(x) for x in value]))
    if not isinstance(value, dict):
        raise TypeError(f"not a JSON value: {type(value).__name__}")
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "bytesValue" and isinstance(inner, str):
            return AnyValue(bytes_value=base64.b64decode(inner))
        if tag == "doubleValue" and inner in _NONFINITE:
            return AnyValue(double_value=_NONFINITE[inner])
        if tag == "kvlistValue" and isinstance(inner, dict):
            value = inner
    return AnyValue(kvlist_value=KeyValueList(values=attributes_from_json(value)))


def attributes_from_json(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=from_json(v)) for k, v in attributes.items()]


# --- strings, as the Collector's pcommon.Value.AsString (what Loki's OTLP endpoint stores) ---------------


def es6_number(f: float) -> str:
    """Go's float64AsString (encoding/json's number form): `1`, `0.000001`, `1e-7`, `1e+21`."""
    if not math.isfinite(f):
        return "json: unsupported value: " + ("NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf"))
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        mantissa, exp = repr(f).split("e")
        sign, digits = exp[0], exp[1:]
        return f"{mantissa}e{sign}{digits.lstrip('0') if sign == '-' else digits}"
    text = format(Decimal(repr(f)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def as_string(v: AnyValue, limits: OtlpLimits) -> str:
    """A log body or metadata value as text: strings as they are, maps and arrays as JSON (keys sorted, as
    Go marshals a map), bytes as base64; raises ValueLimitError past the limits."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "int_value":
        return str(v.int_value)
    if kind == "double_value":
        return es6_number(v.double_value)
    if kind in ("array_value", "kvlist_value"):
        return orjson.dumps(_convert(v, limits, False, 0), option=orjson.OPT_SORT_KEYS).decode()
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return ""


_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")


def normalize_label(name: str) -> str:
    """prometheus/otlptranslator NormalizeLabel, which Loki applies to OTLP attribute names."""
    if not name:
        return name
    name = _NOT_LABEL_CHAR.sub("_", name)
    if name[0].isdigit():
        return "key_" + name
    if name.startswith("_") and not name.startswith("__"):
        return "key" + name
    return name


def flatten(name: str, v: AnyValue, limits: OtlpLimits, out: dict[str, str], depth: int = 0) -> None:
    """One attribute as structured metadata, as Loki's attributeToLabels: maps flattened with `_`."""
    key = normalize_label(name)
    if v.WhichOneof("value") != "kvlist_value":
        out[key] = as_string(v, limits)
        return
    items = v.kvlist_value.values
    if depth >= limits.max_value_depth:
        raise ValueLimitError(f"a value is nested deeper than {limits.max_value_depth} levels")
    if len(items) > limits.max_value_items:
        raise ValueLimitError(f"a value holds {len(items)} items, limit {limits.max_value_items}")
    for kv in items:
        flatten(f"{key}_{kv.key}", kv.value, limits, out, depth + 1)
