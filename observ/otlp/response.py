"""Export*ServiceResponse bodies, and the google.rpc.Status of a refused request, in the request's encoding as
OTLP/HTTP requires.

`partial_success` stays unset when nothing was rejected and no message is given (full success).
JSON follows proto3's mapping, so the int64 counts are decimal strings: `{"partialSuccess":
{"rejectedSpans":"2","errorMessage":"..."}}`; empty success is `{}`.
"""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsPartialSuccess, ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from observ.otlp.decode import JSON, PROTOBUF, Format, body_format
from observ.otlp.errors import UnsupportedMediaType
from observ.otlp.refusal import Refusal

MEDIA_TYPES: dict[Format, str] = {"protobuf": PROTOBUF, "json": JSON}


def _encode(msg: Message, fmt: Format) -> bytes:
    if fmt == "json":
        return json_format.MessageToJson(msg, indent=None).encode()
    return msg.SerializeToString()


def traces_response(rejected: int, error_message: str, fmt: Format) -> bytes:
    resp = ExportTraceServiceResponse()
    if rejected or error_message:
        resp.partial_success.CopyFrom(ExportTracePartialSuccess(rejected_spans=rejected, error_message=error_message))
    return _encode(resp, fmt)


def logs_response(rejected: int, error_message: str, fmt: Format) -> bytes:
    resp = ExportLogsServiceResponse()
    if rejected or error_message:
        resp.partial_success.CopyFrom(
            ExportLogsPartialSuccess(rejected_log_records=rejected, error_message=error_message)
        )
    return _encode(resp, fmt)


def answer_format(content_type: str) -> Format:
    """The request's encoding when it is one of OTLP's, else protobuf (the spec's default for Status)."""
    try:
        return body_format(content_type)
    except UnsupportedMediaType:
        return "protobuf"


def status_body(refusal: Refusal, fmt: Format) -> bytes:
    """The body of a failed OTLP/HTTP request: the google.rpc.Status, details included."""
    return _encode(refusal.status(), fmt)
