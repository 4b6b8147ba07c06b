"""Span factories for the spans store tests."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from observ.traces.model import Span, SpanColumns
from observ.traces.store import SpanStore


def tid(n: int) -> str:
    return f"{n:032x}"


def sid(n: int) -> str:
    return f"{n:016x}"


def span(trace: int, n: int, start: int = 0, tenant: str = "t1", **kw: Any) -> Span:
    """Span `n` of trace `trace`; span 1 is the root, the others its children. Lasts 10 ns unless told."""
    kw.setdefault("end_ns", start + 10)
    kw.setdefault("parent_span_id", "" if n == 1 else sid(1))
    kw.setdefault("name", f"op-{n}")
    return Span(tenant=tenant, trace_id=tid(trace), span_id=sid(n), start_ns=start, **kw)


def cols(*spans: Span) -> SpanColumns:
    """A Kafka-shaped batch: encoded and decoded, as the ingester sees it."""
    return SpanColumns.decode(SpanColumns.from_spans(list(spans)).encode())


def fail_log_writes(store: SpanStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hot log's next appends fail as on a full disk (its own undo of a partial record is tested in
    test_hotlog.py)."""

    def full(*_: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    assert store._log is not None
    monkeypatch.setattr(store._log, "append", full)
