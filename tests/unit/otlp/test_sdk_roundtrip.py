"""Spans and logs from the real OpenTelemetry SDK, encoded by its exporters' own encoders, decoded by observ."""

from __future__ import annotations

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan

from observ.otlp.decode import decode_logs, decode_traces, logs_result, traces_result
from observ.otlp.logs import to_batches
from observ.traces.model import Span
from tests.unit.otlp.sdk import RESOURCE, make_logs, make_spans, to_otlp_json

NOW = 1_700_000_000_000_000_000


def _by_name(spans: list[Span]) -> dict[str, Span]:
    return {s.name: s for s in spans}


def _expect(sdk: ReadableSpan, got: Span) -> None:
    ctx = sdk.get_span_context()
    assert got.trace_id == f"{ctx.trace_id:032x}"
    assert got.span_id == f"{ctx.span_id:016x}"
    assert got.parent_span_id == (f"{sdk.parent.span_id:016x}" if sdk.parent else "")
    assert (got.start_ns, got.end_ns) == (sdk.start_time, sdk.end_time)
    assert got.kind == sdk.kind.value + 1, "OTLP SpanKind = SDK SpanKind + 1 (0 is UNSPECIFIED)"
    assert got.service == "checkout"
    assert got.scope_name == "shop.checkout" and got.scope_version == "2.1.0"
    assert {k: got.resource[k] for k in RESOURCE} == RESOURCE
    assert got.tenant == "team-a"


def test_protobuf_spans_from_the_sdk_decode_to_the_same_spans() -> None:
    sdk_spans, req = make_spans()
    result = decode_traces(req.SerializeToString(), "application/x-protobuf", "team-a")
    assert (result.rejected, result.error_message) == (0, "")
    got = _by_name(result.spans)
    assert set(got) == {"POST /pay", "charge"}
    for s in sdk_spans:
        _expect(s, got[s.name])
    root, child = got["POST /pay"], got["charge"]
    assert root.attributes == {"http.route": "/pay", "http.status_code": 500, "retry": True, "ratio": 0.25,
                               "tags": ["a", "b"]}  # fmt: skip
    assert isinstance(root.attributes["ratio"], float) and isinstance(root.attributes["http.status_code"], int)
    assert (root.status_code, root.status_message) == (2, "card declined")
    (event,) = root.events
    assert (event["name"], event["attributes"], event["dropped_attributes_count"]) == (
        "payment.declined", {"card.brand": "visa", "amount": 12}, 0,
    )  # fmt: skip
    assert root.start_ns <= event["time_ns"] <= root.end_ns
    assert child.parent_span_id == root.span_id and child.trace_id == root.trace_id
    assert child.attributes == {"counts": [1, 2, 3]}
    assert [(ln["trace_id"], ln["span_id"], ln["attributes"]) for ln in child.links] == [
        (root.trace_id, root.span_id, {"why": "retry"})
    ]
    assert child.flags == 0x100, "span flags as the SDK sets them: HAS_IS_REMOTE, parent not remote"


def test_the_same_request_as_otlp_json_decodes_to_the_same_spans() -> None:
    _, req = make_spans()
    from_pb = decode_traces(req.SerializeToString(), "application/x-protobuf", "team-a").spans
    from_json = decode_traces(to_otlp_json(req), "application/json; charset=utf-8", "team-a")
    assert from_json.rejected == 0
    assert from_json.spans == from_pb


def test_an_already_parsed_request_as_grpc_hands_it_over_maps_the_same() -> None:
    _, req = make_spans()
    assert traces_result(req, "team-a") == decode_traces(req.SerializeToString(), "application/x-protobuf", "team-a")
    _, logs = make_logs()
    assert logs_result(logs, "team-a", NOW) == decode_logs(
        logs.SerializeToString(), "application/x-protobuf", "team-a", NOW
    )


def _expect_log(sdk: ReadableLogRecord, got_trace: str, got_span: str) -> None:
    rec = sdk.log_record
    assert got_trace == (f"{rec.trace_id:032x}" if rec.trace_id else "")
    assert got_span == (f"{rec.span_id:016x}" if rec.span_id else "")


def test_sdk_log_records_become_log_rows_with_stream_labels_level_and_trace_context() -> None:
    sdk_records, req = make_logs()
    for body, ctype in ((req.SerializeToString(), "application/x-protobuf"), (to_otlp_json(req), "application/json")):
        result = decode_logs(body, ctype, "team-a", NOW)
        assert (result.rejected, result.error_message) == (0, "")
        assert len(result.records) == 3
        warn, err, event = result.records
        for sdk, got in zip(sdk_records, result.records, strict=True):
            _expect_log(sdk, got.trace_id, got.span_id)
            assert got.ts == (sdk.log_record.timestamp or sdk.log_record.observed_timestamp)
            s = got.stream
            assert (s.tenant, s.service, s.namespace, s.pod, s.container) == (
                "team-a", "checkout", "shop", "checkout-7d9f", "app",
            )  # fmt: skip
            assert got.metadata["deployment_environment"] == "test"
            assert "service_name" not in got.metadata and "k8s_pod_name" not in got.metadata
        assert (warn.line, warn.level, warn.trace_id) == ("disk almost full", "warn", "")
        assert warn.ts == 1_700_000_000_000_000_001 and "event_name" not in warn.metadata
        assert warn.metadata["disk_free_bytes"] == "1024"
        assert warn.metadata["severity_text"] == "WARN" and warn.metadata["severity_number"] == "13"
        assert (err.line, err.level) == ("payment failed for order o-17", "error")
        assert len(err.trace_id) == 32 and len(err.span_id) == 16
        assert event.line == '{"event":"checkout","items":3,"total":9.5}'
        assert (event.level, event.metadata["scope_name"], event.metadata["scope_version"]) == (
            "info",
            "shop.events",
            "1.0",
        )


def test_log_rows_group_into_one_store_batch_per_stream_in_time_order() -> None:
    _, req = make_logs()
    records = decode_logs(req.SerializeToString(), "application/x-protobuf", "team-a", NOW).records
    (batch,) = to_batches(list(reversed(records)), observed_ts=NOW)
    assert batch.stream == records[0].stream
    assert batch.ts == sorted(r.ts for r in records)
    assert batch.line == [r.line for r in sorted(records, key=lambda r: r.ts)]
    assert batch.observed_ts == NOW and batch.end == [0, 0, 0] and batch.source == ""
    assert [t for t in batch.trace_id if t] == [records[1].trace_id]
