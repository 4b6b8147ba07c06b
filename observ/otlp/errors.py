"""Whole-request errors: nothing of the request is kept, the client must not retry."""

from __future__ import annotations


class OtlpError(ValueError):
    """The body cannot be decoded (HTTP 400, gRPC INVALID_ARGUMENT); the message says what and where."""

    status = 400


class UnsupportedMediaType(OtlpError):
    """Neither `application/x-protobuf` nor `application/json` (HTTP 415, as the Collector answers)."""

    status = 415
