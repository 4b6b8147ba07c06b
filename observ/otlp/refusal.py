"""Why nothing of an OTLP request was accepted, as both transports answer it.

The OTLP spec pairs HTTP statuses and gRPC codes: bad data 400 / INVALID_ARGUMENT (with a BadRequest
detail, not retried), a body past the limit 413 / RESOURCE_EXHAUSTED, another content type 415, and
"cannot take it now" 503 / UNAVAILABLE with a retry hint (HTTP Retry-After, gRPC RetryInfo), which
clients retry. The query service's receivers and the sidecar's ambassador share this reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import BadRequest, RetryInfo
from google.rpc.status_pb2 import Status

from observ.otlp.errors import BodyTooLarge, OtlpError, Unavailable, UnsupportedMediaType


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why nothing of a request was kept, for either transport."""

    reason: str
    """The `reason` label of the refused-requests counters."""
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
        retry = self.retry_info()
        if retry is not None:
            status.details.add().Pack(retry)
        return status

    def retry_info(self) -> RetryInfo | None:
        return RetryInfo(retry_delay=Duration(seconds=self.retry_after_s)) if self.retry_after_s else None


def refusal_for(error: Exception, retry_after_s: int) -> Refusal | None:
    """The refusal one of `observ.otlp.errors` means; None for any other exception (the caller's to read)."""
    bad = grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, UnsupportedMediaType):
        return Refusal("unsupported_media_type", 415, bad, str(error))
    if isinstance(error, BodyTooLarge):
        return Refusal("too_large", 413, grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
    if isinstance(error, OtlpError):
        return Refusal("invalid", 400, bad, str(error))
    if isinstance(error, Unavailable):
        return Refusal(error.reason, 503, grpc.StatusCode.UNAVAILABLE, str(error), retry_after_s)
    return None
