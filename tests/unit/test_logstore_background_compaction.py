"""The logs store compacts on a thread of its own: appends, their dedup and queries go on while it writes the
segments, and no row is ever seen twice or not at all."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from observ.store import compact as compact_mod
from tests.unit.test_segments import all_lines, batch, store_at


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """(writing, resume): the next compaction sets `writing` once it began writing its files and waits for `resume`."""
    writing, resume = threading.Event(), threading.Event()
    real = compact_mod.write_parquet

    def held(*args: object) -> Path:
        writing.set()
        assert resume.wait(30), "the test never resumed the compaction"
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(compact_mod, "write_parquet", held)
    return writing, resume


def test_appends_and_queries_go_on_while_a_compaction_writes(
    tmp_path: Path, paused: tuple[threading.Event, threading.Event]
) -> None:
    writing, resume = paused
    store = store_at(tmp_path, compact_rows=10)
    first = batch("api", 10)
    store.append([first])  # full: the compaction starts on its own thread and stops inside
    assert writing.wait(30)
    during = store.append([batch("api", 5, start=10), first])  # new rows, and a replay of the moving ones
    assert (during.inserted, during.duplicates) == (5, 10)
    expected = [f"api request {i:08d} done" for i in range(15)]
    assert all_lines(store) == expected and store.segments == ()
    resume.set()
    store.join_compaction()
    assert [s.rows for s in store.segments] == [10]
    assert store.cursor().execute("SELECT count(*) FROM logs_hot").fetchone() == (5,)
    assert all_lines(store) == expected
    again = store.append([first, batch("api", 6, start=10)])
    assert (again.inserted, again.duplicates) == (1, 15)
    assert all_lines(store) == [f"api request {i:08d} done" for i in range(16)]
    store.close()
    reopened = store_at(tmp_path, compact_rows=10)
    assert reopened.count() == 16 and all_lines(reopened) == [f"api request {i:08d} done" for i in range(16)]
    reopened.close()


def test_a_query_running_while_the_compaction_commits_sees_every_row_once(tmp_path: Path) -> None:
    """Queries in a loop while appends keep starting compactions: each query counts exactly the rows appended
    before it started, or more, never fewer and never a row twice."""
    store = store_at(tmp_path, compact_rows=50)
    stop = threading.Event()
    seen: list[tuple[int, int, int]] = []

    def reader() -> None:
        while not stop.is_set():
            before = appended
            lines = all_lines(store)
            seen.append((before, len(lines), len(set(lines))))

    appended = 0
    t = threading.Thread(target=reader)
    t.start()
    for k in range(20):
        store.append([batch("api", 25, start=25 * k)])
        appended += 25
    store.join_compaction()
    stop.set()
    t.join(30)
    assert seen and all(total == distinct >= before for before, total, distinct in seen)
    assert len(store.segments) >= 5 and len(all_lines(store)) == 500
    store.close()
