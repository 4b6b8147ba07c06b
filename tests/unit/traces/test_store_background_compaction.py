"""Compaction on its own thread: appends, their dedup and readers go on while it writes the segments."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from observ.store.config import StoreConfig
from observ.traces import compact as compact_module
from observ.traces.store import SpanStore
from tests.unit.traces.helpers import cols, sid, span, tid


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """(writing, resume): the next compaction sets `writing` once it began writing its files and waits for `resume`."""
    writing, resume = threading.Event(), threading.Event()
    real = compact_module.write_parquet

    def held(*args: object) -> Path:
        writing.set()
        assert resume.wait(30), "the test never resumed the compaction"
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(compact_module, "write_parquet", held)
    return writing, resume


def test_appends_during_a_compaction_stay_hot_and_copies_of_moving_spans_are_dropped(
    tmp_path: Path, paused: tuple[threading.Event, threading.Event]
) -> None:
    writing, resume = paused
    store = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=2))
    store.append([cols(span(1, 1), span(1, 2))])  # full: the compaction starts on its own thread
    assert writing.wait(30)
    during = store.append([cols(span(1, 2, name="a copy"), span(1, 3), span(2, 1))])
    assert (during.inserted, during.duplicates) == (2, 1)
    assert [s.span_id for s in store.trace("t1", tid(1))] == [sid(1), sid(2), sid(3)]
    assert store.segments == ()
    resume.set()
    store.join_compaction()
    assert [s.rows for s in store.segments] == [2]
    assert store.cursor().execute("SELECT count(*) FROM spans_hot").fetchone() == (2,)
    after = store.append([cols(span(1, 1, name="a late copy"), span(1, 3), span(1, 4))])
    assert (after.inserted, after.duplicates) == (1, 2)
    spans = store.trace("t1", tid(1))
    assert [(s.span_id, s.name) for s in spans] == [(sid(n), f"op-{n}") for n in (1, 2, 3, 4)]
    assert store.count() == 5
    store.close()


def test_a_store_reopened_after_a_background_compaction_holds_every_span_once(
    tmp_path: Path, paused: tuple[threading.Event, threading.Event]
) -> None:
    writing, resume = paused
    store = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=2))
    store.append([cols(span(1, 1), span(1, 2))])
    assert writing.wait(30)
    store.append([cols(span(1, 3))])
    resume.set()
    store.close()  # waits for the compaction
    again = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=10**9))
    assert [s.span_id for s in again.trace("t1", tid(1))] == [sid(1), sid(2), sid(3)]
    assert again.append([cols(span(1, 1), span(1, 3))]).duplicates == 2
    assert (len(again.segments), again.count()) == (1, 3)


def test_an_explicit_compaction_waits_for_the_running_one_and_moves_the_rest(
    tmp_path: Path, paused: tuple[threading.Event, threading.Event]
) -> None:
    writing, resume = paused
    store = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=2))
    store.append([cols(span(1, 1), span(1, 2))])
    assert writing.wait(30)
    store.append([cols(span(2, 1))])
    resume.set()
    result = store.compact()
    assert result is not None and result.rows == 1
    assert sorted(s.rows for s in store.segments) == [1, 2]
    assert store.cursor().execute("SELECT count(*) FROM spans_hot").fetchone() == (0,)
    store.close()
