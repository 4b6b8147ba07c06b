"""Whole-request errors: nothing of the request is kept (`observ.otlp.refusal` says how each is answered)."""

from __future__ import annotations


class OtlpError(ValueError):
    """The body cannot be decoded (HTTP 400, gRPC INVALID_ARGUMENT); the message says what and where."""

    status = 400


class UnsupportedMediaType(OtlpError):
    """Neither `application/x-protobuf` nor `application/json` (HTTP 415, as the Collector answers)."""

    status = 415


class BodyTooLarge(OtlpError):
    """The body is above the size limit once decompressed (HTTP 413, gRPC RESOURCE_EXHAUSTED)."""

    status = 413


class Unavailable(Exception):
    """The records cannot be taken now (HTTP 503 with Retry-After, gRPC UNAVAILABLE with RetryInfo): the
    client retries. `reason` labels the refusal counters."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
