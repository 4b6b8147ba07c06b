"""Export*ServiceResponse bodies and the severity -> level mapping."""

from __future__ import annotations

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from observ.otlp.decode import body_format
from observ.otlp.logs import level
from observ.otlp.response import logs_response, traces_response


def test_full_success_leaves_partial_success_unset() -> None:
    assert traces_response(0, "", "json") == b"{}"
    assert traces_response(0, "", "protobuf") == b""
    assert not ExportTraceServiceResponse.FromString(traces_response(0, "", "protobuf")).HasField("partial_success")


def test_partial_success_in_json_uses_lower_camel_case_and_int64_strings() -> None:
    body = traces_response(2, "2 spans rejected: ...", "json")
    assert orjson.loads(body) == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 spans rejected: ..."}}
    logs = orjson.loads(logs_response(1, "bad", "json"))
    assert logs == {"partialSuccess": {"rejectedLogRecords": "1", "errorMessage": "bad"}}


def test_partial_success_in_protobuf() -> None:
    resp = ExportLogsServiceResponse.FromString(logs_response(3, "why", "protobuf"))
    assert (resp.partial_success.rejected_log_records, resp.partial_success.error_message) == (3, "why")
    warning = ExportTraceServiceResponse.FromString(traces_response(0, "a warning", "protobuf"))
    assert warning.HasField("partial_success") and warning.partial_success.rejected_spans == 0


@pytest.mark.parametrize(
    ("content_type", "fmt"),
    [
        ("application/x-protobuf", "protobuf"),
        ("Application/JSON; charset=utf-8", "json"),
        (" application/json", "json"),
    ],
)
def test_body_format(content_type: str, fmt: str) -> None:
    assert body_format(content_type) == fmt


@pytest.mark.parametrize(
    ("number", "text", "expected"),
    [
        (1, "", "trace"), (4, "", "trace"), (5, "", "debug"), (8, "", "debug"), (9, "", "info"), (12, "x", "info"),
        (13, "", "warn"), (16, "", "warn"), (17, "", "error"), (20, "", "error"), (21, "", "fatal"), (24, "", "fatal"),
        (0, "Information", "info"), (0, "WARNING", "warn"), (0, "CRITICAL", "fatal"), (0, "", ""), (0, "loud", ""),
        (25, "error", "error"), (-1, "", ""),
    ],
)  # fmt: skip
def test_level_from_severity_number_then_text(number: int, text: str, expected: str) -> None:
    assert level(number, text) == expected
