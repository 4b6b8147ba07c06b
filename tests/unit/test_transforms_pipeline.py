from __future__ import annotations

import calendar
import itertools
import logging
import random

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from collectors.log_adapter.events import Metrics
from collectors.log_adapter.transforms.config import MultilineConfig, ParseConfig
from collectors.log_adapter.transforms.pipeline import LinePipeline
from observ.model import Entry

WHERE = "/var/log/pods/shop_pay_uid/api/0.log"
MS = 1_000_000
SEC = 1_000_000_000
T0 = calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0)) * SEC
TS = b"2024-01-02T03:04:05.000000000Z"
TID = "4bf92f3577b34da6a3ce929d0e0e4736"
NO_MULTILINE = MultilineConfig(enabled=False)


class Clock:
    def __init__(self, now: int = 42 * SEC) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def cri(stream: str, tag: str, content: bytes, ts: bytes = TS) -> bytes:
    return ts + b" " + stream.encode() + b" " + tag.encode() + b" " + content


def docker(log: str, stream: str = "stdout", time: str = "2024-01-02T03:04:05Z") -> bytes:
    return orjson.dumps({"log": log, "stream": stream, "time": time})


class Harness:
    """A pipeline fed at consecutive file offsets, as the tail source would."""

    def __init__(self, clock: Clock | None = None, **cfg: object) -> None:
        self.metrics = Metrics()
        self.clock = clock or Clock()
        self.pipeline = LinePipeline(ParseConfig(**cfg), self.metrics, WHERE, self.clock)
        self.offset = 0
        self.spans: list[tuple[int, int]] = []

    def feed(self, *lines: bytes, truncated: bool = False, physical: int | None = None) -> list[Entry]:
        out = []
        for line in lines:
            start = self.offset
            self.offset += (physical if physical is not None else len(line)) + 1
            self.spans.append((start, self.offset))
            out.extend(self.pipeline.feed(line, start, self.offset, truncated))
        return out

    def count(self, reason: str) -> float:
        value = self.metrics.registry.get_sample_value("observ_adapter_truncated_entries_total", {"reason": reason})
        return value or 0.0

    def counts(self) -> dict[str, float]:
        out = {}
        for metric in self.metrics.registry.collect():
            for s in metric.samples:
                if s.name == "observ_adapter_truncated_entries_total" and s.value:
                    out[s.labels["reason"]] = s.value
        return out


def lines_of(entries: list[Entry]) -> list[str]:
    return [e.line for e in entries]


# -- formats -------------------------------------------------------------------


def test_raw_lines() -> None:
    h = Harness(multiline=NO_MULTILINE)
    out = h.feed(b"hello", b"2024-01-01 12:00:00 ERROR boom", b"")
    assert lines_of(out) == ["hello", "2024-01-01 12:00:00 ERROR boom", ""]
    assert [(e.start, e.end) for e in out] == h.spans
    assert {e.ts for e in out} == {42 * SEC}
    assert [e.level for e in out] == ["", "error", ""]
    assert {e.stream for e in out} == {"stdout"}
    assert h.counts() == {}


def test_cri_lines() -> None:
    h = Harness(multiline=NO_MULTILINE)
    out = h.feed(
        cri("stdout", "F", b"INFO started"),
        cri("stderr", "F", b"level=error msg=x", b"2024-01-02T03:04:06.5Z"),
    )
    assert [(e.ts, e.line, e.stream, e.level) for e in out] == [
        (T0, "INFO started", "stdout", "info"),
        (T0 + SEC + 500 * MS, "level=error msg=x", "stderr", "error"),
    ]
    assert [(e.start, e.end) for e in out] == h.spans


def test_cri_time_beats_json_time_and_json_time_beats_clock() -> None:
    h = Harness(multiline=NO_MULTILINE)
    body = b'{"ts": 1700000000, "level": "warn", "trace_id": "' + TID.encode() + b'"}'
    out = h.feed(cri("stdout", "F", body), body)
    assert [(e.ts, e.level, e.trace_id) for e in out] == [(T0, "warn", TID), (1_700_000_000 * SEC, "warn", TID)]


def test_auto_detects_per_line() -> None:
    h = Harness(multiline=NO_MULTILINE)
    out = h.feed(cri("stderr", "F", b"from cri"), docker("from docker\n", "stderr"), b"plain")
    assert [(e.line, e.stream) for e in out] == [("from cri", "stderr"), ("from docker", "stderr"), ("plain", "stdout")]
    assert h.counts() == {}


def test_raw_format_keeps_container_lines_verbatim() -> None:
    h = Harness(format="raw", multiline=NO_MULTILINE)
    line = cri("stderr", "F", b"x")
    assert lines_of(h.feed(line, docker("y\n"))) == [line.decode(), docker("y\n").decode()]


# -- CRI partial lines ------------------------------------------------------------


def test_cri_partials_merge() -> None:
    h = Harness(multiline=NO_MULTILINE)
    assert h.feed(cri("stdout", "P", b"aaa"), cri("stdout", "P", b"bbb")) == []
    assert h.pipeline.pending_start() == 0
    out = h.feed(cri("stdout", "F", b"ccc", b"2024-01-02T03:04:09Z"))
    assert [(e.line, e.ts, e.start, e.end) for e in out] == [("aaabbbccc", T0, 0, h.offset)]
    assert h.pipeline.pending_start() is None


def test_cri_partials_interleaved_streams_stay_apart() -> None:
    h = Harness(multiline=NO_MULTILINE)
    out = h.feed(
        cri("stdout", "P", b"out-1 "),
        cri("stderr", "P", b"err-1 "),
        cri("stdout", "P", b"out-2 "),
        cri("stderr", "F", b"err-end"),
        cri("stdout", "F", b"out-end"),
    )
    s = h.spans
    assert [(e.stream, e.line, e.start, e.end) for e in out] == [
        ("stderr", "err-1 err-end", s[1][0], s[3][1]),
        ("stdout", "out-1 out-2 out-end", s[0][0], s[4][1]),
    ]


def test_cri_partial_split_inside_a_utf8_character() -> None:
    h = Harness(multiline=NO_MULTILINE)
    e = "é".encode()
    out = h.feed(cri("stdout", "P", b"caf" + e[:1]), cri("stdout", "F", e[1:] + b"!"))
    assert lines_of(out) == ["café!"]
    assert h.counts() == {}


def test_cri_merged_line_is_bounded() -> None:
    h = Harness(max_merged_bytes=10, multiline=NO_MULTILINE)
    out = h.feed(
        cri("stdout", "P", b"0123456"),
        cri("stdout", "P", b"789abcdef"),
        cri("stdout", "P", b"more"),
        cri("stdout", "F", b"end"),
        cri("stdout", "F", b"next line"),
    )
    assert lines_of(out) == ["0123456789", "next line"]
    assert (out[0].start, out[0].end) == (0, h.spans[3][1])  # the cut bytes are covered, not re-read
    assert h.counts() == {"partial_too_large": 1}


def test_cri_partial_timeout_and_late_final_piece() -> None:
    clock = Clock(0)
    h = Harness(clock, partial_timeout_ms=5000, multiline=NO_MULTILINE)
    h.feed(cri("stderr", "P", b"stuck "))
    assert h.pipeline.flush_expired(4999 * MS) == []
    assert h.pipeline.pending_start() == 0
    out = h.pipeline.flush_expired(5000 * MS)
    assert [(e.line, e.stream, e.start, e.end) for e in out] == [("stuck ", "stderr", 0, h.spans[0][1])]
    assert h.count("partial_unterminated") == 1
    assert h.pipeline.pending_start() is None
    late = h.feed(cri("stderr", "F", b"tail"))
    assert [(e.line, e.start) for e in late] == [("tail", h.spans[1][0])]


def test_flush_ships_partials_and_multiline() -> None:
    h = Harness()
    h.feed(cri("stdout", "F", b"ERROR boom"), cri("stdout", "F", b"\tat x"), cri("stderr", "P", b"half"))
    assert h.pipeline.pending_start() == 0
    out = h.pipeline.flush()
    assert sorted((e.stream, e.line) for e in out) == [("stderr", "half"), ("stdout", "ERROR boom\n\tat x")]
    assert h.pipeline.pending_start() is None
    assert h.pipeline.flush() == []


# -- Docker partial lines --------------------------------------------------------------


def test_docker_partials_merge() -> None:
    h = Harness(multiline=NO_MULTILINE)
    out = h.feed(
        docker("first ", "stderr"),
        docker("out\n", "stdout"),
        docker("second ", "stderr"),
        docker("third\n", "stderr", "2024-01-02T03:04:09Z"),
    )
    assert [(e.stream, e.line, e.ts, e.start, e.end) for e in out] == [
        ("stdout", "out", T0, h.spans[1][0], h.spans[1][1]),
        ("stderr", "first second third", T0, 0, h.offset),
    ]


def test_docker_merged_line_is_bounded() -> None:
    h = Harness(format="docker", max_merged_bytes=8, multiline=NO_MULTILINE)
    out = h.feed(docker("ééé"), docker("ééé\n"), docker("ok\n"))
    assert lines_of(out) == ["éééé", "ok"]  # 8 bytes, never half a character
    assert h.counts() == {"partial_too_large": 1}


def test_docker_mode_counts_foreign_lines() -> None:
    h = Harness(format="docker", multiline=NO_MULTILINE)
    out = h.feed(docker("a\n"), b'{"log":"cut', b"plain", docker("b\n"))
    assert lines_of(out) == ["a", '{"log":"cut', "plain", "b"]
    assert h.counts() == {"malformed_docker": 2}


# -- multiline per stream ----------------------------------------------------------------


def test_multiline_keeps_streams_apart() -> None:
    h = Harness()
    out = h.feed(
        cri("stdout", "F", b"2024 ERROR request failed"),
        cri("stderr", "F", b"Exception in thread main"),
        cri("stdout", "F", b"java.lang.IllegalStateException: boom"),
        cri("stderr", "F", b"\tat Main.main(Main.java:1)"),
        cri("stdout", "F", b"\tat Svc.run(Svc.java:9)"),
        cri("stdout", "F", b"2024 INFO next"),
        cri("stderr", "F", b"2024 INFO next err"),
    )
    s = h.spans
    assert [(e.stream, e.line, e.start, e.end, e.level) for e in out] == [
        (
            "stdout",
            "2024 ERROR request failed\njava.lang.IllegalStateException: boom\n\tat Svc.run(Svc.java:9)",
            s[0][0],
            s[4][1],
            "error",
        ),
        ("stderr", "Exception in thread main\n\tat Main.main(Main.java:1)", s[1][0], s[3][1], ""),
    ]
    assert h.pipeline.pending_start() == s[5][0]


def test_multiline_python_traceback_raw() -> None:
    h = Harness()
    tb = [
        b"ERROR:root:crash",
        b"Traceback (most recent call last):",
        b'  File "a.py", line 1, in <module>',
        b"ZeroDivisionError: division by zero",
    ]
    out = h.feed(*tb, b"INFO:root:fine")
    assert lines_of(out) == ["\n".join(x.decode() for x in tb)]
    assert out[0].level == "error"


def test_multiline_timeout_with_injected_clock() -> None:
    clock = Clock(0)
    h = Harness(clock)
    h.feed(b"ERROR boom")
    clock.now = 500 * MS
    h.feed(b"  at frame")
    assert h.pipeline.flush_expired(1499 * MS) == []
    out = h.pipeline.flush_expired(1500 * MS)
    assert [(e.line, e.ts, e.start, e.end) for e in out] == [("ERROR boom\n  at frame", 0, 0, h.offset)]
    assert h.pipeline.pending_start() is None


def test_multiline_limit_counted_without_loss() -> None:
    h = Harness(multiline=MultilineConfig(max_lines=2))
    out = h.feed(b"head", b" 1", b" 2", b" 3") + h.pipeline.flush()
    assert lines_of(out) == ["head\n 1", " 2\n 3"]
    assert h.count("multiline_limit") == 1
    assert out[1].start == out[0].end


# -- bad input: counted, repaired, neighbours intact -------------------------------------------


def test_invalid_utf8_replaced_and_counted() -> None:
    h = Harness(multiline=NO_MULTILINE)
    out = h.feed(b"before", b"bad \xff\xfe byte", cri("stderr", "F", b"cri \xc3\x28"), b"after")
    assert lines_of(out) == ["before", "bad \ufffd\ufffd byte", "cri \ufffd(", "after"]
    assert h.counts() == {"invalid_utf8": 2}
    assert [(e.start, e.end) for e in out] == h.spans


def test_huge_truncated_line() -> None:
    h = Harness(multiline=NO_MULTILINE)
    cut = b"x" * (10 * 1024 * 1024 - 1) + "é".encode()[:1]  # the tail's cut fell inside a character
    out = h.feed(b"before")
    out += h.feed(cut, truncated=True, physical=12 * 1024 * 1024)
    out += h.feed(b"after")
    assert [len(e.line) for e in out] == [6, 10 * 1024 * 1024 - 1, 5]
    assert (out[1].start, out[1].end) == h.spans[1]
    assert out[2].start == h.spans[1][1]
    assert h.counts() == {"line_too_large": 1}


def test_truncated_cri_line_keeps_its_metadata() -> None:
    h = Harness(multiline=NO_MULTILINE)
    out = h.feed(cri("stderr", "F", b"y" * 100), truncated=True)
    assert [(e.stream, e.ts, len(e.line)) for e in out] == [("stderr", T0, 100)]
    assert h.counts() == {"line_too_large": 1}


def test_binary_junk() -> None:
    h = Harness(multiline=NO_MULTILINE)
    out = h.feed(b"ok", b"\x00\x01\x02\xff\x00ELF", b"ok too")
    assert lines_of(out) == ["ok", "\ufffd\x01\x02\ufffd\ufffdELF", "ok too"]
    assert h.counts() == {"binary": 1, "invalid_utf8": 1}


@pytest.mark.parametrize("fmt", ["cri", "auto"])
def test_half_written_cri_line(fmt: str) -> None:
    h = Harness(format=fmt, multiline=NO_MULTILINE)
    half = b"2024-01-02T03:04:05.1232024-01-02T03:04:06.000000000Z stdout F resumed"
    out = h.feed(cri("stdout", "F", b"one"), half, b"2024-01-02T03:04:05.000000000Z std", cri("stdout", "F", b"two"))
    assert lines_of(out) == ["one", half.decode(), "2024-01-02T03:04:05.000000000Z std", "two"]
    assert [(e.start, e.end) for e in out] == h.spans
    assert h.counts() == {"malformed_cri": 2}


def test_cri_mode_counts_any_foreign_line() -> None:
    h = Harness(format="cri", multiline=NO_MULTILINE)
    assert lines_of(h.feed(b"not cri at all")) == ["not cri at all"]
    assert h.counts() == {"malformed_cri": 1}


def test_auto_mode_plain_file_with_timestamps_is_not_malformed() -> None:
    h = Harness(multiline=NO_MULTILINE)
    out = h.feed(b"2024-01-02T03:04:05Z app started", b"2024-01-02T03:04:06Z ready")
    assert len(out) == 2 and h.counts() == {}


def test_events_name_the_file(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(multiline=NO_MULTILINE)
    with caplog.at_level(logging.WARNING, logger="observ.log_adapter"):
        h.feed(b"ok", b"\xff")
    assert WHERE in caplog.text and "invalid_utf8" in caplog.text and "offset 3" in caplog.text


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValidationError, match="start_pattern"):
        ParseConfig.model_validate({"multiline": {"start_pattern": "(("}})
    with pytest.raises(ValidationError):
        ParseConfig.model_validate({"format": "json"})
    with pytest.raises(ValidationError):
        ParseConfig.model_validate({"max_merged_bytes": 0})
    with pytest.raises(ValidationError):
        ParseConfig.model_validate({"partial": True})


# -- properties ---------------------------------------------------------------------------


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n\x00", blacklist_categories=["Cs"]))))
def test_raw_lines_round_trip(texts: list[str]) -> None:
    h = Harness(format="raw", multiline=NO_MULTILINE)
    out = h.feed(*(t.encode() for t in texts)) + h.pipeline.flush()
    assert lines_of(out) == texts
    ends = [e.end for e in out]
    assert all(a < b for a, b in itertools.pairwise(ends))
    assert [(e.start, e.end) for e in out] == h.spans


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["stdout", "stderr"]),
            st.binary(min_size=0, max_size=30).map(lambda b: b.replace(b"\n", b"")),
            st.integers(1, 4),
        ),
        max_size=20,
    ),
    st.randoms(use_true_random=False),
)
def test_cri_pieces_reassemble(messages: list[tuple[str, bytes, int]], rnd: random.Random) -> None:
    """Messages split into P pieces and interleaved across streams come back whole, per stream in order."""
    queues: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    for stream, msg, parts in messages:
        cuts = sorted(rnd.sample(range(len(msg) + 1), min(parts - 1, len(msg) + 1)))
        pieces = [msg[a:b] for a, b in zip([0, *cuts], [*cuts, len(msg)], strict=True)]
        queues[stream].extend(cri(stream, "P" if i < len(pieces) - 1 else "F", p) for i, p in enumerate(pieces))
    h = Harness(multiline=NO_MULTILINE)
    out: list[Entry] = []
    while queues["stdout"] or queues["stderr"]:
        stream = rnd.choice([s for s, q in queues.items() if q])
        out += h.feed(queues[stream].pop(0))
    out += h.pipeline.flush()
    for stream in ("stdout", "stderr"):
        got = [e for e in out if e.stream == stream]
        want = [m for s, m, _ in messages if s == stream]
        assert [e.line for e in got] == [m.decode(errors="replace").replace("\x00", "\ufffd") for m in want]
        ends = [e.end for e in got]
        assert all(a < b for a, b in itertools.pairwise(ends))
    assert h.pipeline.pending_start() is None
