from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from collectors.log_adapter.events import Metrics
from collectors.log_adapter.transforms.config import DEFAULT_START_PATTERN, MultilineConfig
from collectors.log_adapter.transforms.multiline import MultilineMerger, start_matcher
from observ.model import Entry

MS = 1_000_000

JAVA = [
    "2024-01-01 12:00:00.000 ERROR [main] c.e.Service - request failed",
    "java.lang.IllegalStateException: boom",
    "\tat com.example.Service.handle(Service.java:42)",
    "\tat com.example.Main.main(Main.java:7)",
    "Caused by: java.io.IOException: disk",
    "\tat com.example.Disk.read(Disk.java:9)",
    "\t... 2 more",
    "Suppressed: java.lang.RuntimeException: also",
    "... 3 common frames omitted",
]
PYTHON = [
    "ERROR:root:handler crashed",
    "Traceback (most recent call last):",
    '  File "app.py", line 3, in <module>',
    "    main()",
    "KeyError: 'user'",
    "",
    "During handling of the above exception, another exception occurred:",
    "",
    "Traceback (most recent call last):",
    '  File "app.py", line 5, in <module>',
    "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
]


def finish(stream: str, ts: int | None, arrival: int, text: str, start: int, end: int) -> Entry:
    return Entry(ts if ts is not None else arrival, text, stream, start=start, end=end)


def merger(metrics: Metrics | None = None, **cfg: object) -> MultilineMerger:
    return MultilineMerger(MultilineConfig(**cfg), "stderr", finish, metrics or Metrics(), "/logs/app.log")


def run(m: MultilineMerger, lines: list[str], arrival: int = 0) -> list[Entry]:
    """Feeds lines at consecutive offsets (each line + newline)."""
    out = []
    offset = 0
    for i, text in enumerate(lines):
        nbytes = len(text.encode())
        done = m.feed(text, nbytes, 1000 + i, arrival, offset, offset + nbytes + 1)
        offset += nbytes + 1
        if done is not None:
            out.append(done)
    return out


def limit_count(metrics: Metrics) -> float:
    return (
        metrics.registry.get_sample_value("observ_adapter_truncated_entries_total", {"reason": "multiline_limit"})
        or 0.0
    )


@pytest.mark.parametrize(
    ("line", "starts"),
    [
        ("2024-01-01 INFO x", True),
        ('{"level":"info"}', True),
        ("Caused by the user", True),
        ("Tracebacks are fun", True),
        ("Error: connect ECONNREFUSED", True),  # Node prints the error first: a new entry
        ('Exception in thread "main" java.lang.Error', True),
        ("MyError is not a class line", True),
        ("2024 Error: a timestamp first", True),
        ("[main] Exception", True),
        ("\tat x", False),
        ("    at x", False),
        ("", False),
        ("Caused by: x", False),
        ("... 12 more", False),
        ("java.lang.NullPointerException", False),
        ("ValueError: bad", False),
        ("pkg.Throwable: x", False),
        ("$Proxy12Exception: x", False),
        ("_private.Error", False),
        ("Traceback (most recent call last):", False),
        ("The above exception was the direct cause of the following exception:", False),
    ],
)
def test_default_start_pattern(line: str, starts: bool) -> None:
    assert start_matcher(DEFAULT_START_PATTERN)(line) is starts
    assert (re.match(DEFAULT_START_PATTERN, line) is not None) is starts


PIECES = [
    *" \t\u2003\n.:$_()[]{}aCSTDE09",
    *("Error", "Exception", "Throwable", "Caused by:", "Suppressed:", "... ", "1 more", "common frames omitted"),
    *("Traceback (most recent call last):", "During handling of the above exception"),
]


@given(st.lists(st.sampled_from(PIECES), max_size=8).map("".join))
def test_default_fast_path_equals_regex(line: str) -> None:
    assert start_matcher(DEFAULT_START_PATTERN)(line) is (re.match(DEFAULT_START_PATTERN, line) is not None)


def test_java_trace_is_one_entry() -> None:
    m = merger()
    out = run(m, [*JAVA, "2024-01-01 12:00:01.000 INFO next"])
    assert [e.line for e in out] == ["\n".join(JAVA)]
    assert (out[0].start, out[0].end) == (0, sum(len(x) + 1 for x in JAVA))
    assert out[0].ts == 1000  # the first line's
    tail = m.flush()
    assert tail is not None and tail.line == "2024-01-01 12:00:01.000 INFO next"
    assert tail.start == out[0].end


def test_python_traceback_is_one_entry() -> None:
    m = merger()
    out = run(m, [*PYTHON, "INFO:root:recovered"])
    assert [e.line for e in out] == ["\n".join(PYTHON)]


def test_orphan_continuation_opens_an_entry() -> None:
    m = merger()
    assert run(m, ["\tat orphan", "\tat more", "next"])[0].line == "\tat orphan\n\tat more"


def test_max_lines_splits_and_counts() -> None:
    metrics = Metrics()
    m = merger(metrics, max_lines=3)
    out = run(m, ["head", " 1", " 2", " 3", " 4", "next"])
    assert [e.line for e in out] == ["head\n 1\n 2", " 3\n 4"]
    assert limit_count(metrics) == 1
    assert out[1].start == out[0].end  # nothing lost in between


def test_max_bytes_splits_and_counts() -> None:
    metrics = Metrics()
    m = merger(metrics, max_bytes=10)
    out = run(m, ["head", " 12", " 345", "next"])  # 4 + 1+3 = 8; + 1+4 > 10
    assert [e.line for e in out] == ["head\n 12", " 345"]
    assert limit_count(metrics) == 1


def test_single_line_over_max_bytes_passes_whole() -> None:
    metrics = Metrics()
    m = merger(metrics, max_bytes=4)
    out = run(m, ["0123456789", "next"])
    assert [e.line for e in out] == ["0123456789"]
    assert limit_count(metrics) == 0


def test_timeout_uses_last_arrival() -> None:
    m = merger(timeout_ms=1000)
    m.feed("head", 4, 1, 0, 0, 5)
    m.feed(" cont", 5, 2, 900 * MS, 5, 11)
    assert m.expire(1500 * MS) is None  # 600 ms since the last line
    done = m.expire(1900 * MS)
    assert done is not None and done.line == "head\n cont" and (done.start, done.end) == (0, 11)
    assert m.expire(10_000 * MS) is None
    assert m.pending_start() is None


def test_pending_start_and_flush() -> None:
    m = merger()
    assert m.pending_start() is None and m.flush() is None
    run(m, ["a", "b"])
    assert m.pending_start() == 2
    done = m.flush()
    assert done is not None and done.line == "b"
    assert m.pending_start() is None


def test_custom_pattern() -> None:
    m = merger(start_pattern=r"\[\d{4}-")
    out = run(m, ["[2024-01-01] one", "plain continuation", "[2024-01-02] two", "x"])
    assert [e.line for e in out] == ["[2024-01-01] one\nplain continuation"]


def test_bad_pattern_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="start_pattern is not a valid regular expression"):
        MultilineConfig(start_pattern="([unclosed")


def test_unknown_keys_rejected() -> None:
    with pytest.raises(ValidationError):
        MultilineConfig(start_regex="x")  # type: ignore[call-arg]
