"""Whatever the body, decoding ends in records plus counted rejections or in OtlpError: never another exception."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from observ.otlp.decode import decode_logs, decode_traces
from observ.otlp.errors import OtlpError
from observ.traces.model import SpanColumns
from tests.unit.otlp.sdk import make_logs, make_spans, to_otlp_json

_, TRACES = make_spans()
_, LOGS = make_logs()
PB_TRACES, PB_LOGS = TRACES.SerializeToString(), LOGS.SerializeToString()
JSON_TRACES = orjson.loads(to_otlp_json(TRACES))
JSON_LOGS = orjson.loads(to_otlp_json(LOGS))


def _decode_both(body: bytes, ctype: str) -> None:
    for decode in (
        lambda: decode_traces(body, ctype, "t"),
        lambda: decode_logs(body, ctype, "t", 1),
    ):
        try:
            result = decode()
        except OtlpError:
            continue
        assert result.rejected >= 0
        assert bool(result.error_message) == bool(result.rejected)


@given(st.binary(max_size=400))
def test_random_bytes(body: bytes) -> None:
    _decode_both(body, "application/x-protobuf")
    _decode_both(body, "application/json")


@given(st.data())
@settings(max_examples=200)
def test_damaged_sdk_bodies(data: st.DataObject) -> None:
    for body in (PB_TRACES, PB_LOGS):
        damaged = bytearray(body)
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(damaged) - 1))
            damaged[i] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(damaged)))
        _decode_both(bytes(damaged[:cut]), "application/x-protobuf")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)
SPAN_KEYS = ["traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano", "endTimeUnixNano",
             "attributes", "events", "links", "status", "droppedAttributesCount", "flags", "traceState"]  # fmt: skip


@given(st.sampled_from(SPAN_KEYS), json_values)
def test_any_json_value_in_any_span_field(key: str, value: Any) -> None:
    doc = orjson.loads(orjson.dumps(JSON_TRACES))
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0][key] = value
    result = decode_traces(json.dumps(doc).encode(), "application/json", "t")
    assert len(result.spans) + result.rejected == len(spans)
    assert len(result.spans) >= len(spans) - 1, "only the damaged span may be lost"
    if result.spans:
        SpanColumns.decode(SpanColumns.from_spans(result.spans).encode())


LOG_KEYS = ["timeUnixNano", "observedTimeUnixNano", "severityNumber", "severityText", "body", "attributes",
            "traceId", "spanId", "flags", "eventName", "droppedAttributesCount"]  # fmt: skip


@given(st.sampled_from(LOG_KEYS), json_values)
def test_any_json_value_in_any_log_record_field(key: str, value: Any) -> None:
    doc = orjson.loads(orjson.dumps(JSON_LOGS))
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0][key] = value
    total = sum(len(s["logRecords"]) for s in doc["resourceLogs"][0]["scopeLogs"])
    result = decode_logs(json.dumps(doc).encode(), "application/json", "t", 1)
    assert len(result.records) + result.rejected == total
    assert len(result.records) >= total - 1, "only the damaged record may be lost"


@given(json_values)
def test_any_json_value_as_the_envelope(value: Any) -> None:
    for doc in ({"resourceSpans": value}, {"resourceSpans": [{"scopeSpans": value}]}, value):
        with contextlib.suppress(OtlpError):
            decode_traces(json.dumps(doc).encode(), "application/json", "t")
