"""Bad input: the whole body refused with a message saying what was wrong, or the one bad span or log record
rejected and counted with its reason while everything else in the request is kept."""

from __future__ import annotations

import base64
import copy
import json
import random
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from observ.otlp.decode import TracesResult, decode_logs, decode_traces
from observ.otlp.errors import OtlpError, UnsupportedMediaType
from observ.otlp.limits import OtlpLimits
from observ.otlp.rejections import MAX_REASONS

TRACE = "5B8EFFF798038103D269B633813FC60C"
NOW = 1_800_000_000_000_000_000


def span(**fields: Any) -> dict[str, Any]:
    base = {"traceId": TRACE, "spanId": "EEE19B7EC3C1B174", "name": "ok", "kind": 2,
            "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000"}  # fmt: skip
    base.update(fields)
    return base


def body(*spans: Any, resource: Any = None) -> bytes:
    rs: dict[str, Any] = {"scopeSpans": [{"scope": {"name": "lib"}, "spans": list(spans)}]}
    if resource is not None:
        rs["resource"] = resource
    return orjson.dumps({"resourceSpans": [rs]})


def traces(data: bytes, limits: OtlpLimits | None = None) -> TracesResult:
    return decode_traces(data, "application/json", "t", limits)


def one_bad(bad: Any, limits: OtlpLimits | None = None) -> str:
    """Decode [good, bad, good]: the two good spans are kept, the bad one is counted; its reason."""
    result = traces(body(span(name="first"), bad, span(name="last")), limits)
    assert [s.name for s in result.spans] == ["first", "last"]
    assert result.rejected == 1
    assert result.error_message.startswith("1 span rejected: resourceSpans[0].scopeSpans[0].spans[1]: ")
    return result.error_message


# --- whole body ---------------------------------------------------------------------------------------------


def _pb_request() -> bytes:
    req = ExportTraceServiceRequest()
    sp = req.resource_spans.add().scope_spans.add().spans.add()
    sp.trace_id, sp.span_id, sp.name = bytes.fromhex(TRACE), bytes.fromhex("eee19b7ec3c1b174"), "x" * 50
    return req.SerializeToString()


def test_truncated_protobuf_is_refused_whole() -> None:
    data = _pb_request()
    with pytest.raises(OtlpError, match=r"not a protobuf ExportTraceServiceRequest \(40 bytes\)") as e:
        decode_traces(data[:40], "application/x-protobuf", "t")
    assert e.value.status == 400


def test_random_bytes_are_refused_whole() -> None:
    noise = random.Random(20261202).randbytes(512)
    with pytest.raises(OtlpError, match="not a protobuf ExportLogsServiceRequest"):
        decode_logs(noise, "application/x-protobuf", "t", NOW)


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, by hand: protobuf itself refuses to build what is tested here."""
    n, length = len(payload), b""
    while True:
        byte, n = n & 0x7F, n >> 7
        length += bytes([byte | (0x80 if n else 0)])
        if not n:
            return bytes([field << 3 | 2]) + length + payload


def test_protobuf_nested_past_protobufs_recursion_limit_is_refused_whole() -> None:
    value = _ld(1, b"leaf")  # AnyValue.string_value
    for _ in range(60):
        value = _ld(5, _ld(1, value))  # AnyValue.array_value -> ArrayValue.values
    attribute = _ld(1, b"deep") + _ld(2, value)  # KeyValue
    data = _ld(1, _ld(2, _ld(2, _ld(9, attribute))))  # request.resource_spans.scope_spans.spans.attributes
    with pytest.raises(OtlpError, match=r"not a protobuf ExportTraceServiceRequest.*MaxDepth"):
        decode_traces(data, "application/x-protobuf", "t")


def test_protobuf_strings_that_are_not_utf8_refuse_the_body_as_protobuf_says() -> None:
    record = _ld(5, _ld(1, b"\xff\xfe not utf-8"))  # LogRecord.body.string_value
    with pytest.raises(OtlpError, match="String field had bad UTF-8"):
        decode_logs(_ld(1, _ld(2, _ld(2, record))), "application/x-protobuf", "t", NOW)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "invalid JSON"),
        (b"", "invalid JSON"),
        (b"[]", "the body must be a JSON object, got list"),
        (b'{"resourceSpans": {"scopeSpans": []}}', "resourceSpans: must be an array, got dict"),
        (b'{"resourceSpans": [7]}', r"resourceSpans\[0\]: must be an object"),
        (b'{"resourceSpans": [{"scopeSpans": "x"}]}', r"resourceSpans\[0\].scopeSpans: must be an array, got str"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": 1}]}]}', r"scopeSpans\[0\].spans: must be an array, got int"),
        (b"[" * 5000 + b"]" * 5000, "invalid JSON"),
    ],
)
def test_malformed_json_envelopes_are_refused_whole(data: bytes, message: str) -> None:
    with pytest.raises(OtlpError, match=message):
        traces(data)


@pytest.mark.parametrize("ctype", ["text/plain", "", "application/protobuf", "application/jsonl"])
def test_other_content_types_are_415(ctype: str) -> None:
    with pytest.raises(UnsupportedMediaType, match="OTLP/HTTP takes application/x-protobuf or application/json") as e:
        decode_traces(b"{}", ctype, "t")
    assert e.value.status == 415


def test_empty_requests_are_full_success() -> None:
    for result in (traces(b"{}"), decode_traces(b"", "application/x-protobuf", "t")):
        assert (len(result.columns), result.spans, result.rejected, result.error_message) == (0, [], 0, "")


# --- one span ------------------------------------------------------------------------------------------------

_B64_TRACE = base64.b64encode(bytes.fromhex(TRACE)).decode()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (span(traceId=_B64_TRACE), f"traceId '{_B64_TRACE}' is not hex (OTLP/JSON writes IDs as hex, not base64)"),
        (span(spanId="zz"), "spanId 'zz' is not hex"),
        (span(spanId="é0"), "spanId 'é0' is not hex"),
        (span(traceId="abc"), "traceId 'abc' is not hex"),
        (span(traceId="abcdef"), "traceId must be 16 bytes (32 hex digits), got 3"),
        (span(traceId="0" * 32), "traceId is all zeros, which OTLP says is invalid"),
        (span(spanId=""), "spanId is empty, which OTLP says is invalid"),
        (span(traceId=None), "traceId is empty"),
        (span(traceId=12), "traceId must be a hex string, got 12"),
        (span(parentSpanId="abcd"), "parentSpanId must be 8 bytes (16 hex digits), got 2"),
        (span(links=[{"traceId": TRACE, "spanId": "xyz"}]), "links[0].spanId 'xyz' is not hex"),
        (span(links=[{"traceId": TRACE[:8], "spanId": "EEE19B7EC3C1B174"}]), "links[0].traceId must be 16 bytes"),
        (span(name=5), "Failed to parse name field"),
        (span(status={"message": 5}), "Failed to parse status field"),
        (span(attributes=[{"key": "n", "value": {"intValue": "ten"}}]), "Failed to parse attributes field"),
        (span(startTimeUnixNano="-1"), "Failed to parse startTimeUnixNano field"),
        (span(endTimeUnixNano="1544712659000000000"), "endTimeUnixNano 1544712659000000000 is before startTime"),
        (span(startTimeUnixNano=str(2**64 - 1)), "startTimeUnixNano 18446744073709551615 is out of range"),
        ("a span", "must be an object, got str"),
    ],
)  # fmt: skip
def test_a_bad_span_is_rejected_with_its_reason_and_the_rest_kept(bad: Any, reason: str) -> None:
    assert reason in one_bad(bad)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return value


def test_values_nested_past_the_limit_reject_the_span_at_any_depth() -> None:
    assert "nested deeper than 16 levels" in one_bad(span(attributes=[{"key": "d", "value": _nested(17)}]))
    deep = json.dumps(
        {
            "resourceSpans": [
                {"scopeSpans": [{"spans": [span(attributes=[{"key": "d", "value": _nested(200)}]), span(name="kept")]}]}
            ]
        }
    )
    result = traces(deep.encode())
    assert [s.name for s in result.spans] == ["kept"]
    assert "Message too deep. Max recursion depth is 100" in result.error_message
    kept = traces(body(span(attributes=[{"key": "d", "value": _nested(16)}])))
    assert kept.rejected == 0
    value = kept.spans[0].attributes["d"]
    for _ in range(16):
        (value,) = value
    assert value == "leaf"


def test_a_huge_array_value_rejects_the_span() -> None:
    items = [{"intValue": str(i)} for i in range(101)]
    bad = span(attributes=[{"key": "a", "value": {"arrayValue": {"values": items}}}])
    assert "a value holds 101 items, limit 100" in one_bad(bad, OtlpLimits(max_value_items=100))


def test_attributes_events_and_links_past_their_limits_are_dropped_and_counted() -> None:
    limits = OtlpLimits(max_attributes=1000, max_events=2, max_links=1)
    attrs = [{"key": f"k{i}", "value": {"intValue": i}} for i in range(5000)]
    events = [{"name": f"e{i}", "timeUnixNano": "1544712660500000000"} for i in range(5)]
    links = [{"traceId": TRACE, "spanId": f"{i + 1:016x}"} for i in range(3)]
    data = body(span(attributes=attrs, droppedAttributesCount=7, events=events, links=links, droppedLinksCount=1))
    result = traces(data, limits)
    assert result.rejected == 0
    (s,) = result.spans
    assert list(s.attributes) == [f"k{i}" for i in range(1000)]
    assert s.dropped_attributes_count == 7 + 4000
    assert [e["name"] for e in s.events] == ["e0", "e1"] and s.dropped_events_count == 3
    assert [ln["span_id"] for ln in s.links] == [f"{1:016x}"] and s.dropped_links_count == 1 + 2


def test_a_resource_that_does_not_parse_rejects_only_its_own_spans() -> None:
    good = {"scopeSpans": [{"spans": [span(name="kept")]}]}
    bad = {"resource": {"attributes": 5}, "scopeSpans": [{"spans": [span(), span()]}, {"spans": [span()]}]}
    result = traces(orjson.dumps({"resourceSpans": [bad, good]}))
    assert [s.name for s in result.spans] == ["kept"]
    assert result.rejected == 3
    assert result.error_message.startswith("3 spans rejected: resourceSpans[0]: Failed to parse resource field")
    assert result.error_message.endswith("(3 records)")


def test_a_scope_that_does_not_parse_rejects_only_its_own_spans() -> None:
    scopes = [{"scope": {"name": 5}, "spans": [span(), span()]}, {"spans": [span(name="kept")]}]
    result = traces(orjson.dumps({"resourceSpans": [{"scopeSpans": scopes}]}))
    assert [s.name for s in result.spans] == ["kept"]
    assert result.rejected == 2
    assert "resourceSpans[0].scopeSpans[0]: Failed to parse scope field" in result.error_message


def test_a_resource_with_too_many_attributes_rejects_its_spans() -> None:
    attrs = [{"key": f"r{i}", "value": {"stringValue": "v"}} for i in range(11)]
    result = traces(body(span(), span(), resource={"attributes": attrs}), OtlpLimits(max_attributes=10))
    assert (result.spans, result.rejected) == ([], 2)
    assert "resourceSpans[0].resource: 11 attributes, limit 10 (2 records)" in result.error_message


def test_many_rejections_quote_the_first_few_and_count_the_rest() -> None:
    bad = [span(traceId="0102") for _ in range(MAX_REASONS + 3)]
    result = traces(body(*bad, span(name="kept")))
    assert [s.name for s in result.spans] == ["kept"]
    assert result.rejected == MAX_REASONS + 3
    assert result.error_message.count("traceId must be 16 bytes") == MAX_REASONS
    assert result.error_message.endswith("; and 3 more")


def test_protobuf_spans_with_bad_ids_are_rejected_one_by_one() -> None:
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    spans.append(PbSpan(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), name="kept"))
    spans.append(PbSpan(trace_id=b"\x01\x02\x03", span_id=bytes(range(1, 9)), name="short"))
    spans.append(PbSpan(trace_id=bytes(16), span_id=bytes(range(1, 9)), name="zero"))
    spans.append(PbSpan(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), parent_span_id=bytes(8), name="root"))
    result = decode_traces(req.SerializeToString(), "application/x-protobuf", "t")
    assert [(s.name, s.parent_span_id) for s in result.spans] == [("kept", ""), ("root", "")]
    assert result.rejected == 2
    assert "spans[1]: traceId must be 16 bytes (32 hex digits), got 3" in result.error_message
    assert "spans[2]: traceId is all zeros" in result.error_message


# --- the lenient side: what OTLP/JSON allows, and what the Collector also reads ---------------------------


def test_json_spellings_the_collector_accepts_give_the_same_span() -> None:
    canonical = traces(body(span(attributes=[{"key": "n", "value": {"intValue": "5"}}], status={"code": 2})))
    assert canonical.rejected == 0
    variants = [
        span(traceId=TRACE.lower(), attributes=[{"key": "n", "value": {"intValue": 5}}], status={"code": 2}),
        {"trace_id": TRACE, "span_id": "EEE19B7EC3C1B174", "name": "ok", "kind": "SPAN_KIND_SERVER",
         "start_time_unix_nano": 1544712660000000000, "end_time_unix_nano": "1544712661000000000",
         "attributes": [{"key": "n", "value": {"int_value": "5"}}], "status": {"code": "STATUS_CODE_ERROR"}},
        span(attributes=[{"key": "n", "value": {"intValue": "5"}, "future": 1}], status={"code": 2}, newField={"x": 1}),
    ]  # fmt: skip
    for v in variants:
        got = traces(body(v))
        assert (got.rejected, got.spans) == (0, canonical.spans)


def test_unknown_enum_values_are_kept_as_integers() -> None:
    (s,) = traces(body(span(kind=9, status={"code": 7}))).spans
    assert (s.kind, s.status_code) == (9, 7)


# --- log records ---------------------------------------------------------------------------------------------


def logs_body(*records: Any) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]}
    return orjson.dumps({"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": list(records)}]}]})


def test_bad_log_records_are_rejected_one_by_one() -> None:
    good = {"timeUnixNano": "5", "body": {"stringValue": "fine"}}
    bads = [
        ({**good, "traceId": "abcdef"}, "traceId must be 16 bytes (32 hex digits), got 3"),
        ({**good, "spanId": _B64_TRACE[:12]}, "is not hex"),
        ({**good, "body": _nested(40)}, "nested deeper than 16 levels"),
        ({**good, "severityText": 5}, "Failed to parse severityText field"),
        ({**good, "timeUnixNano": str(2**63)}, "timeUnixNano 9223372036854775808 is out of range"),
    ]
    for bad, reason in bads:
        result = decode_logs(logs_body(good, bad, good), "application/json", "t", NOW)
        assert [r.line for r in result.records] == ["fine", "fine"], reason
        assert result.rejected == 1
        assert result.error_message.startswith("1 log record rejected: resourceLogs[0].scopeLogs[0].logRecords[1]: ")
        assert reason in result.error_message


def test_log_attributes_past_the_limit_are_dropped_and_counted_resource_ones_reject() -> None:
    attrs = [{"key": f"a{i}", "value": {"intValue": i}} for i in range(5)]
    rec = {"body": {"stringValue": "x"}, "attributes": attrs, "droppedAttributesCount": 2}
    (r,) = decode_logs(logs_body(rec), "application/json", "t", NOW, OtlpLimits(max_attributes=3)).records
    assert {k: v for k, v in r.metadata.items() if k.startswith("a")} == {"a0": "0", "a1": "1", "a2": "2"}
    assert r.metadata["dropped_attributes_count"] == "4"
    resource = {"attributes": [{"key": f"r{i}", "value": {"stringValue": "v"}} for i in range(4)]}
    doc = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [rec, rec]}]}]}
    result = decode_logs(orjson.dumps(doc), "application/json", "t", NOW, OtlpLimits(max_attributes=3))
    assert (result.records, result.rejected) == ([], 2)
    assert "resourceLogs[0].resource: 4 attributes, limit 3 (2 records)" in result.error_message


def test_log_records_without_ids_or_times_are_kept() -> None:
    rec = {"traceId": "0" * 32, "spanId": "", "body": {"intValue": "3"}, "severityText": "Warning"}
    (r,) = decode_logs(logs_body(rec), "application/json", "t", NOW).records
    assert (r.ts, r.line, r.level, r.trace_id, r.span_id) == (NOW, "3", "warn", "", "")
    assert (r.stream.service, r.stream.namespace) == ("api", "")


def test_logs_resource_without_service_name_is_unknown_service() -> None:
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]}
    (r,) = decode_logs(orjson.dumps(doc), "application/json", "t", NOW).records
    assert r.stream.service == "unknown_service"


def test_protobuf_log_request_round_trips_through_bytes() -> None:
    req = ExportLogsServiceRequest()
    lr = req.resource_logs.add().scope_logs.add().log_records.add()
    lr.time_unix_nano, lr.trace_id, lr.body.string_value = 9, b"\x01\x02", "short id"
    result = decode_logs(req.SerializeToString(), "application/x-protobuf", "t", NOW)
    assert (result.records, result.rejected) == ([], 1)
    assert "traceId must be 16 bytes (32 hex digits), got 2" in result.error_message


def test_the_decoder_does_not_change_what_it_was_given() -> None:
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [span()]}]}]}
    before = copy.deepcopy(doc)
    data = orjson.dumps(doc)
    traces(data)
    assert orjson.loads(data) == before


def test_a_span_rejected_by_the_json_reader_keeps_the_next_ones_in_their_place_and_is_counted_once() -> None:
    """The reader leaves a stand-in for what it rejects: later reasons name their position in the body."""
    result = traces(body(span(name=42), span(endTimeUnixNano="1", startTimeUnixNano="2"), span(name="ok")))
    assert [s.name for s in result.spans] == ["ok"] and result.rejected == 2
    assert "spans[1]: endTimeUnixNano 1 is before startTimeUnixNano 2" in result.error_message
    many = {"attributes": [{"key": f"k{i}", "value": {"stringValue": "v"}} for i in range(3)]}
    whole = traces(body(span(name=42), span(), resource=many), OtlpLimits(max_attributes=2))
    assert whole.spans == [] and whole.rejected == 2, "the stand-in is not counted again with its resource"
