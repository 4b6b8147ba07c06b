"""The tail cursor never sends an entry twice, even when several share a timestamp."""

from __future__ import annotations

from observ.api.loki.tail import TailCursor
from observ.logql.results import LogEntry, StreamResult


def batch(*entries: tuple[str, int, str]) -> list[StreamResult]:
    out: dict[str, StreamResult] = {}
    for app, ts, line in entries:
        out.setdefault(app, StreamResult({"app": app}, [])).entries.append(LogEntry(ts, line))
    return list(out.values())


def lines(streams: list[StreamResult]) -> list[str]:
    return sorted(e.line for s in streams for e in s.entries)


def test_overlapping_polls_send_each_entry_once() -> None:
    c = TailCursor(0)
    fresh, seen = c.take(batch(("a", 5, "x"), ("b", 5, "y"), ("a", 3, "w")))
    assert lines(fresh) == ["w", "x", "y"] and seen == 3 and c.last_ts == 5
    # The next poll starts at the last timestamp (inclusive): same-ts entries come back.
    fresh, _ = c.take(batch(("a", 5, "x"), ("b", 5, "y"), ("b", 5, "z"), ("a", 6, "v")))
    assert lines(fresh) == ["v", "z"] and c.last_ts == 6
    fresh, _ = c.take(batch(("a", 6, "v"), ("a", 4, "late")))
    assert fresh == [], "late and already-sent entries are not sent"


def test_same_line_same_time_in_two_streams_are_two_entries() -> None:
    c = TailCursor(0)
    fresh, _ = c.take(batch(("a", 1, "x"), ("b", 1, "x")))
    assert sum(len(s.entries) for s in fresh) == 2
