"""Kafka records -> batches: the ingester's decoders, every value checked before it reaches a transaction.

A record a decoder cannot read raises RecordError: the loop keeps it in the store's `rejected_records` with the
reason and goes on, never retrying it forever.
"""

from __future__ import annotations

from array import array

from pydantic import ValidationError

from observ import model
from observ.bus import Record
from observ.model import Batch, DecodedBatch
from observ.traces import model as spans

__all__ = ["RecordError", "decode_log_record", "decode_span_record"]

_INT64 = 2**63


class RecordError(ValueError):
    """A record that cannot be stored. `reason` is a short label (the rejected-records counter's), the
    message says what was wrong and where."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _tenant_header(rec: Record, schema: bytes) -> str | None:
    """The record's tenant header; its schema header (when present) must be `schema`."""
    headers = dict(rec.headers)
    version = headers.get("schema", schema)
    if version != schema:
        raise RecordError("schema", f"unsupported schema version {version!r} (this ingester reads {schema!r})")
    tenant = headers.get("tenant")
    return None if tenant is None else tenant.decode(errors="replace")


def decode_log_record(rec: Record) -> DecodedBatch:
    """A log batch record (`observ.model.Batch`), its columns checked: a value the store cannot hold is this
    record's error, not the transaction's."""
    tenant = _tenant_header(rec, model.SCHEMA_VERSION)
    try:
        batch = Batch.decode(rec.value)
    except KeyError as e:
        raise RecordError("KeyError", f"not an observ v1 log batch: no {e} field") from e
    except (AttributeError, AssertionError) as e:  # Batch.decode trusts the stream's shape
        raise RecordError(type(e).__name__, "the batch's stream (or its labels) is not a JSON object") from e
    except (ValueError, TypeError) as e:
        raise RecordError(type(e).__name__, str(e)) from e
    _check_columns(batch)
    if tenant is not None and tenant != batch.stream.tenant:
        raise RecordError("tenant", f"tenant header {tenant!r} disagrees with the batch's {batch.stream.tenant!r}")
    return batch


def _check_columns(batch: DecodedBatch) -> None:
    """Every value must be one the store's columns can hold: a null or a float would fail the whole transaction,
    at every restart. C-speed checks first (a fifth of the decoding); the culprit is searched for only on failure."""
    if not -_INT64 <= batch.observed_ts < _INT64:
        raise RecordError("ValueError", f"observed_ts {batch.observed_ts} is outside the 64-bit range")
    for name in ("ts", "end"):
        values = getattr(batch, name)
        try:
            array("q", values)  # TypeError for a str, float or null; OverflowError outside 64 bits
            ok = type(values) is list and set(map(type, values)) <= {int}  # a bool passes array()
        except (TypeError, OverflowError):
            ok = False
        if not ok:
            raise _culprit(name, values, int)
    for name in ("level", "trace_id", "span_id", "line"):
        values = getattr(batch, name)
        try:
            "".join(values)
            ok = type(values) is list
        except TypeError:
            ok = False
        if not ok:
            raise _culprit(name, values, str)


def _culprit(name: str, values: object, kind: type) -> RecordError:
    if type(values) is not list:
        return RecordError("TypeError", f"column {name!r} is {type(values).__name__}, expected a list")
    for i, v in enumerate(values):
        if type(v) is not kind:
            return RecordError("TypeError", f"column {name!r}[{i}] is {type(v).__name__}, expected {kind.__name__}")
        if type(v) is int and not -_INT64 <= v < _INT64:  # type(v) is kind here
            return RecordError("ValueError", f"column {name!r}[{i}] = {v} is outside the 64-bit range")
    return RecordError("TypeError", f"column {name!r} holds a value the store cannot hold")


def decode_span_record(rec: Record) -> spans.SpanColumns:
    """A span batch record (`observ.traces.model.SpanColumns`), every value validated."""
    tenant = _tenant_header(rec, spans.SCHEMA_VERSION)
    try:
        batch = spans.SpanColumns.decode(rec.value)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise RecordError(first["type"], f"{where or 'span batch'}: {first['msg']}{more}") from e
    if tenant is not None and tenant != batch.tenant:
        raise RecordError("tenant", f"tenant header {tenant!r} disagrees with the batch's {batch.tenant!r}")
    return batch
