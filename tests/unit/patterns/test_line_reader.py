"""The API's paged read of a query's lines: every line once, newest first, whatever the page size."""

from __future__ import annotations

import pytest

from observ.api.loki.patterns import LineReader, entry_level, stream_key
from observ.logql.results import LogEntry, QueryResult, StreamResult, Streams

Row = tuple[str, int, str]
"""(stream, ts, line)."""


class FakeEngine:
    """The engine's backward log query: the newest `limit` lines in [start, end), grouped by stream."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.calls = 0

    def query_range(self, query: str, *, tenant: str, start_ns: int, end_ns: int, step_ns: int, limit: int,
                    direction: str) -> QueryResult:  # fmt: skip
        self.calls += 1
        picked = sorted((r for r in self.rows if start_ns <= r[1] < end_ns), key=lambda r: (-r[1], r[0], r[2]))[:limit]
        streams: dict[str, StreamResult] = {}
        for name, ts, line in picked:
            streams.setdefault(name, StreamResult({"app": name}, [])).entries.append(LogEntry(ts, line))
        return QueryResult(Streams(list(streams.values())))


def read(rows: list[Row], page: int, max_lines: int = 1000) -> list[tuple[int, str]]:
    """Every line read, from every stream, as (ts, line) in order."""
    got = LineReader(FakeEngine(rows), page).read("{}", "t", 0, 10**6, max_lines)  # type: ignore[arg-type]
    return sorted((m.ts, m.line) for stream in got for m in stream)


@pytest.mark.parametrize("page", [3, 4, 5, 7, 100])
def test_every_line_once_across_pages_and_shared_timestamps(page: int) -> None:
    """As long as no nanosecond holds more lines than a page (see the next tests for when one does)."""
    rows = [("a", 12, "a 12"), ("b", 12, "b 12"), ("c", 12, "c 12"), ("a", 9, "a 9"), ("a", 5, "a 5 x"),
            ("a", 5, "a 5 y"), ("b", 5, "b 5"), ("c", 2, "c 2"), ("b", 1, "b 1")]  # fmt: skip
    assert read(rows, page) == sorted((ts, line) for _, ts, line in rows)


def test_max_lines_keeps_the_newest() -> None:
    rows = [("a", ts, f"line {ts}") for ts in range(1, 21)]
    assert [ts for ts, _ in read(rows, page=3, max_lines=5)] == [16, 17, 18, 19, 20]


def test_a_page_all_at_one_nanosecond_does_not_loop() -> None:
    """More lines at one timestamp than a page holds: the rest of that nanosecond is skipped, not re-read forever."""
    rows = [("a", 7, f"same {i}") for i in range(5)] + [("a", 3, "older")]
    engine = FakeEngine(rows)
    got = LineReader(engine, 2).read("{}", "t", 0, 100, 1000)  # type: ignore[arg-type]
    assert [m.line for m in got[0]] == ["same 0", "same 1", "older"]
    assert engine.calls == 3


def test_stream_key_and_level_of_an_entry() -> None:
    labels = {"app": "x", "level": "WARNING", "trace_id": "t1", "user": "u"}
    entry = LogEntry(1, "l", metadata={"trace_id": "t1"}, parsed={"user": "u"})
    assert stream_key(labels, entry) == (("app", "x"), ("level", "WARNING"))
    assert entry_level(labels, entry) == "warn"
    assert entry_level(labels, LogEntry(1, "l", metadata={"detected_level": "Err"})) == "error"
    assert entry_level({"app": "x"}, LogEntry(1, "l")) == "unknown"
