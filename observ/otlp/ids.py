"""Trace and span IDs and timestamps as OTLP carries them -> what records keep, or why not."""

from __future__ import annotations

from observ.traces.model import INT64_MAX


class RecordError(ValueError):
    """One span or log record cannot be kept; the message names the field and what was wrong."""


def trace_id(raw: bytes, field: str, optional: bool = False) -> str:
    """32 lowercase hex digits. Empty or all-zero: "" when optional (log records), else an error."""
    return _id(raw, 16, field, optional)


def span_id(raw: bytes, field: str, optional: bool = False) -> str:
    """16 lowercase hex digits. Empty or all-zero: "" when optional (parents, log records), else an error."""
    return _id(raw, 8, field, optional)


def _id(raw: bytes, size: int, field: str, optional: bool) -> str:
    if not raw or not any(raw):
        if optional:
            return ""
        raise RecordError(f"{field} is {'empty' if not raw else 'all zeros'}, which OTLP says is invalid")
    if len(raw) != size:
        raise RecordError(f"{field} must be {size} bytes ({size * 2} hex digits), got {len(raw)}")
    return raw.hex()


def nanos(value: int, field: str) -> int:
    """Unix nanoseconds (OTLP fixed64) that the store's signed 64-bit columns can hold."""
    if value > INT64_MAX:
        raise RecordError(f"{field} {value} is out of range (after the year 2262)")
    return value
