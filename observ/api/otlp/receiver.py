"""One path from an OTLP logs request to the store, and one reading of failures, for both transports.

Both transports hand over the request's bytes (gRPC's unparsed, so that a body protobuf cannot read
is INVALID_ARGUMENT with the decoder's reason rather than grpcio's INTERNAL); both end in
`observ.otlp.decode_logs`, `to_batches` and `store.append`. Retried requests are stored once: pushed (source-less)
batches are deduplicated by the store. A failure becomes a `Refusal` carrying its HTTP status and
gRPC code, as the OTLP spec pairs them (bad data 400 / INVALID_ARGUMENT; the store cannot write
503 / UNAVAILABLE, both retryable).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import BadRequest, RetryInfo
from google.rpc.status_pb2 import Status

from observ.api.auth import AuthError, Tenancy
from observ.api.config import ApiConfig
from observ.api.loki import body, push
from observ.api.otlp.events import InternalError, LogsStored, OtlpMetrics, RequestRefused, Transport
from observ.model import DecodedBatch
from observ.otlp.decode import LogsResult, decode_logs
from observ.otlp.errors import OtlpError, UnsupportedMediaType
from observ.otlp.logs import to_batches
from observ.store.logstore import AppendResult, StoreWriteError

_AUTH_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
}


class Appender(Protocol):
    def append(self, batches: list[DecodedBatch]) -> AppendResult: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why nothing of a request was stored, for either transport."""

    reason: str
    """The `reason` label of observ_otlp_rejected_requests_total."""
    http_status: int
    grpc_code: grpc.StatusCode
    message: str
    retry_after_s: int | None = None
    """Set for retryable refusals: HTTP Retry-After, gRPC RetryInfo."""

    def status(self) -> Status:
        """google.rpc.Status, with the details the spec suggests: BadRequest for bad data, RetryInfo to retry."""
        status = Status(code=self.grpc_code.value[0], message=self.message)
        if self.grpc_code == grpc.StatusCode.INVALID_ARGUMENT:
            violation = BadRequest.FieldViolation(description=self.message)
            status.details.add().Pack(BadRequest(field_violations=[violation]))
        if self.retry_after_s:
            status.details.add().Pack(RetryInfo(retry_delay=Duration(seconds=self.retry_after_s)))
        return status


class LogsReceiver:
    def __init__(
        self, store: Appender, config: ApiConfig, metrics: OtlpMetrics, *, now_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.store = store
        self.config = config.otlp
        self.tenancy = Tenancy(config.auth)
        self.metrics = metrics
        self.now_ns = now_ns

    def export_body(
        self, data: bytes, content_type: str, content_encoding: str, tenant: str, transport: Transport = "http"
    ) -> LogsResult:
        """A request body (still Content-Encoded; gRPC's as it came off the wire) -> stored records."""
        if content_encoding.strip().lower() not in ("", "identity", "gzip", "deflate"):
            message = f'Content-Encoding "{content_encoding}" not supported: OTLP/HTTP takes gzip (or deflate) or none'
            raise OtlpError(message)
        raw = push.read_body(data, content_encoding, self.config.max_body_bytes)
        result = decode_logs(raw, content_type, tenant, self.now_ns(), self.config.limits)
        self._keep(result, tenant, transport)
        return result

    def _keep(self, result: LogsResult, tenant: str, transport: Transport) -> None:
        stored = self.store.append(to_batches(result.records, self.now_ns())) if result.records else None
        inserted, duplicates = (stored.inserted, stored.duplicates) if stored else (0, 0)
        dropped = sum(len(r.metadata) for r in result.records)
        LogsStored(transport, tenant, inserted, duplicates, result.rejected, dropped, result.error_message).emit(
            self.metrics
        )

    def refusal(self, error: Exception, transport: Transport, tenant: str) -> Refusal:
        """The refusal an exception of `export_*` (or of reading the request) means, counted and logged."""
        r = self._classify(error)
        if r.reason == "internal":
            InternalError(transport, error).emit(self.metrics)
        else:
            RequestRefused(transport, r.reason, tenant, r.message).emit(self.metrics)
        return r

    def _classify(self, e: Exception) -> Refusal:
        bad = grpc.StatusCode.INVALID_ARGUMENT
        if isinstance(e, AuthError):
            return Refusal("unauthorized", e.status, _AUTH_CODES.get(e.status, bad), str(e))
        if isinstance(e, UnsupportedMediaType):
            return Refusal("unsupported_media_type", 415, bad, str(e))
        if isinstance(e, push.BodyTooLarge | body.BodyTooLarge):
            return Refusal("too_large", 413, grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        if isinstance(e, OtlpError | push.PushError | body.BodyIncomplete):
            return Refusal("invalid", 400, bad, str(e))
        if isinstance(e, StoreWriteError):
            message = f"cannot store the log records now: {e}"
            return Refusal("store_unavailable", 503, grpc.StatusCode.UNAVAILABLE, message, self.config.retry_after_s)
        return Refusal("internal", 500, grpc.StatusCode.INTERNAL, "internal error")
