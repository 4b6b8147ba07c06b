"""OTLP/HTTP request bodies -> span records and log rows, with what `partial_success` must report.

`decode_traces` / `decode_logs` take the body after Content-Encoding was undone and the size limit
checked (the receiver's job: OTLP recommends 20 MiB, HTTP 413 above). A body that cannot be decoded
at all raises OtlpError (400; UnsupportedMediaType 415); a span or log record that cannot be kept is
counted with its reason while the rest of the request is kept. gRPC hands its already-parsed request
to `traces_result` / `logs_result`: every transport ends in the same mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observ.ingest_defaults import LOKI_DEFAULTS, IngestDefaults
from observ.otlp.errors import OtlpError, UnsupportedMediaType
from observ.otlp.json_body import parse_request
from observ.otlp.limits import OtlpLimits
from observ.otlp.logs import OtlpLogRecord, logs_from_request
from observ.otlp.rejections import Rejections
from observ.otlp.spans import columns_from_request
from observ.traces.model import Span, SpanColumns

Format = Literal["protobuf", "json"]
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES: dict[str, Format] = {PROTOBUF: "protobuf", JSON: "json"}


def body_format(content_type: str) -> Format:
    """`application/x-protobuf` or `application/json` (parameters such as charset ignored)."""
    media = content_type.split(";", 1)[0].strip().lower()
    fmt = CONTENT_TYPES.get(media)
    if fmt is None:
        shown = content_type or "none"
        raise UnsupportedMediaType(f"unsupported content type {shown!r}: OTLP/HTTP takes {PROTOBUF} or {JSON}")
    return fmt


@dataclass(slots=True)
class TracesResult:
    columns: SpanColumns
    """The spans kept, as the store and Kafka take them (maybe none)."""
    rejected: int
    error_message: str
    """For partial_success: "" when nothing was rejected."""

    @property
    def spans(self) -> list[Span]:
        """The kept spans as records (built on each call: the columns are what the store reads)."""
        return self.columns.spans()


@dataclass(slots=True)
class LogsResult:
    records: list[OtlpLogRecord]
    rejected: int
    error_message: str


def _request(body: bytes, fmt: Format, request: Message, rejections: Rejections) -> None:
    if fmt == "json":
        parse_request(body, request, rejections)
        return
    try:
        request.ParseFromString(body)
    except DecodeError as e:
        name = request.DESCRIPTOR.name
        raise OtlpError(f"the body is not a protobuf {name} ({len(body)} bytes): {e}") from None


def traces_result(
    req: ExportTraceServiceRequest, tenant: str, limits: OtlpLimits | None = None, rejections: Rejections | None = None
) -> TracesResult:
    """An already-parsed request (gRPC hands one over) -> spans and what partial_success must say."""
    rejections = rejections or Rejections()
    columns = columns_from_request(req, tenant, limits or OtlpLimits(), rejections)
    return TracesResult(columns, rejections.count, rejections.message("spans"))


def logs_result(
    req: ExportLogsServiceRequest,
    tenant: str,
    now_ns: int,
    limits: OtlpLimits | None = None,
    rejections: Rejections | None = None,
    defaults: IngestDefaults = LOKI_DEFAULTS,
) -> LogsResult:
    """An already-parsed request -> log rows and what partial_success must say."""
    rejections = rejections or Rejections()
    records = logs_from_request(req, tenant, now_ns, limits or OtlpLimits(), rejections, defaults)
    return LogsResult(records, rejections.count, rejections.message("log records"))


def decode_traces(body: bytes, content_type: str, tenant: str, limits: OtlpLimits | None = None) -> TracesResult:
    rejections = Rejections()
    req = ExportTraceServiceRequest()
    _request(body, body_format(content_type), req, rejections)
    return traces_result(req, tenant, limits, rejections)


def decode_logs(
    body: bytes,
    content_type: str,
    tenant: str,
    now_ns: int,
    limits: OtlpLimits | None = None,
    defaults: IngestDefaults = LOKI_DEFAULTS,
) -> LogsResult:
    """`now_ns` stamps records that carry neither a time nor an observed time; `defaults` says which
    `service_name` and `detected_level` they get."""
    rejections = Rejections()
    req = ExportLogsServiceRequest()
    _request(body, body_format(content_type), req, rejections)
    return logs_result(req, tenant, now_ns, limits, rejections, defaults)
