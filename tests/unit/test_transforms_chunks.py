"""The chunk path (`LinePipeline.feed_lines`, the topology's batches cut from rows) against the per-line path.

Whatever the chunking, the entries, their offsets, the counted repairs and what the checkpoint may pass are the
ones `feed` gives line by line.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.events import Metrics
from collectors.log_adapter.rows import RowBatch
from collectors.log_adapter.sinks.base import Ack
from collectors.log_adapter.sources.tail.lines import Lines, LineSplitter
from collectors.log_adapter.topology import Topology
from collectors.log_adapter.transforms.config import MultilineConfig, ParseConfig
from collectors.log_adapter.transforms.pipeline import LinePipeline
from observ.model import Batch, Entry, Stream

SEC = 1_000_000_000
TS = b"2024-01-02T03:04:05.123456789Z"
TID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Clock:
    def __init__(self) -> None:
        self.now = 42 * SEC

    def __call__(self) -> int:
        return self.now


def pipeline(cfg: ParseConfig, clock: Clock) -> tuple[LinePipeline, Metrics]:
    metrics = Metrics()
    return LinePipeline(cfg, metrics, "/logs/app.log", clock), metrics


def counts(metrics: Metrics) -> dict[str, float]:
    return {
        s.labels["reason"]: s.value
        for m in metrics.registry.collect()
        for s in m.samples
        if s.name == "observ_adapter_truncated_entries_total"
    }


def row(e: Entry) -> tuple[object, ...]:
    return (e.stream, e.ts, e.line, e.level, e.trace_id, e.span_id, e.start, e.end)


CONTENTS = [
    b"INFO started",
    b"2024-01-02 03:04:05 ERROR boom",
    b"java.lang.IllegalStateException: boom",
    b"\tat com.example.Main.main(Main.java:7)",
    b"Caused by: java.io.IOException: disk",
    b"  indented continuation",
    b"",
    b'{"level":"warn","trace_id":"' + TID.encode() + b'"}',
    b"level=debug msg=x",
    b"caf\xc3\xa9 ok",
    b"bad \xff utf8",
    b"nul \x00 byte",
    b"cut in \xe2\x82",
    b"x" * 70,
]
TIMES = [TS, b"2024-01-02T03:04:06.5Z", b"2024-01-02T03:04:05.123456789+01:00", b"2024-13-02T03:04:05.000000000Z"]
FAST_TIMES = [TS, TS, b"2024-01-02T03:04:07.000000001Z", b"1970-01-01T00:00:00.000000000Z"]
"""The common timestamp form, a second apart and at the epoch; with a space or `t` in the middle it is no CRI line."""
COMMON = st.tuples(
    st.sampled_from([*FAST_TIMES, TS.replace(b"T", b" "), TS.replace(b"T", b"t")]),
    st.sampled_from([b"stdout", b"stderr"]),
    st.just(b"F"),
    st.sampled_from(CONTENTS),
)
"""The chunk path's lines: most of what is drawn, so that runs of them meet every other kind of line (with
another timestamp form, the same line takes the per-line path)."""
PHYSICAL = st.one_of(
    COMMON.map(b" ".join),
    COMMON.map(b" ".join),
    COMMON.map(b" ".join),
    COMMON.map(lambda t: b" ".join((b"2024-01-02T03:04:06.5Z", *t[1:]))),
    st.tuples(
        st.sampled_from(TIMES),
        st.sampled_from([b"stdout", b"stderr", b"stdin"]),
        st.sampled_from([b"F", b"P", b"F:x", b"Q"]),
        st.sampled_from(CONTENTS),
    ).map(lambda t: b" ".join(t)),
    st.sampled_from([TS, TS + b" stdout F", TS + b" stdout", b"2024-01-02T03:04", b"plain text line", b"\tat x"]),
    st.sampled_from(CONTENTS),
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.tuples(PHYSICAL, st.sampled_from([b"\n", b"\r\n"])), max_size=40),
    cuts=st.lists(st.integers(0, 4000), max_size=12),
    max_line=st.sampled_from([40, 60, 10_000]),
    fmt=st.sampled_from(["cri", "auto"]),
    multiline=st.booleans(),
    max_merged=st.sampled_from([8, 1000]),
)
def test_any_chunking_gives_the_entries_of_the_line_path(
    lines: list[tuple[bytes, bytes]], cuts: list[int], max_line: int, fmt: str, multiline: bool, max_merged: int
) -> None:
    """Chunk bounds anywhere (inside a line, a CRLF, a line longer than the chunk), P pieces before F lines,
    continuations, repairs and foreign lines in one chunk: the same entries as feeding each line alone."""
    data = b"".join(a + b for a, b in lines)
    cfg = ParseConfig(format=fmt, multiline=MultilineConfig(enabled=multiline), max_merged_bytes=max_merged)
    slow_clock, fast_clock = Clock(), Clock()
    slow, slow_metrics = pipeline(cfg, slow_clock)
    fast, fast_metrics = pipeline(cfg, fast_clock)
    split = LineSplitter("p", "s", max_line)
    want: list[Entry] = []
    got: list[Entry] = []
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        chunk = split.feed(data[a:b])
        if chunk is None:
            continue
        for args in zip(chunk.lines, chunk.starts, chunk.ends, chunk.truncated, strict=True):
            want += slow.feed(*args)
        fast.feed_lines(chunk.lines, chunk.starts, chunk.ends, chunk.truncated)
        got += [e for name, rows in fast.take() for e in rows.entries(name)]
        assert fast.pending_start() == slow.pending_start()
        slow_clock.now = fast_clock.now = slow_clock.now + 400_000_000
        want += slow.flush_expired(slow_clock.now)
        got += fast.flush_expired(fast_clock.now)
    want += slow.flush()
    got += fast.flush()
    for stream in ("stdout", "stderr"):
        assert [row(e) for e in got if e.stream == stream] == [row(e) for e in want if e.stream == stream]
    assert counts(fast_metrics) == counts(slow_metrics)


def test_partial_then_full_lines_in_one_chunk() -> None:
    """A P piece ends the fast run of its stream; the F lines after it complete it and go on as usual."""
    fast, _ = pipeline(ParseConfig(format="cri"), Clock())
    data = [
        TS + b" stdout F first",
        TS + b" stdout P par",
        TS + b" stderr F other stream",
        TS + b" stdout F tial",
        TS + b" stdout F second",
        TS + b" stdout F third",
    ]
    ends = list(itertools.accumulate(len(x) + 1 for x in data))
    fast.feed_lines(data, [0, *ends[:-1]], ends, [False] * len(data))
    done = {name: rows.line for name, rows in fast.take()}
    assert done == {"stdout": ["first", "partial", "second"]}, "third (and stderr's line) wait for continuations"
    assert fast.pending_start() == ends[1], "the stderr line, the older of the two"
    fast.close()
    assert {name: rows.line for name, rows in fast.take()} == {"stdout": ["third"], "stderr": ["other stream"]}


def test_continuation_lines_join_the_entry_a_chunk_opened() -> None:
    """A stack trace whose head is on the fast path: the continuation (slow path) joins it, across a chunk bound."""
    fast, _ = pipeline(ParseConfig(format="cri"), Clock())
    first = [TS + b" stderr F 2024-01-02 ERROR request failed", TS + b" stderr F java.lang.IllegalStateException: x"]
    second = [TS + b" stderr F \tat com.example.Main.main(Main.java:7)", TS + b" stderr F INFO next"]
    ends = list(itertools.accumulate(len(x) + 1 for x in first + second))
    fast.feed_lines(first, [0, ends[0]], ends[:2], [False, False])
    assert fast.take() == []
    fast.feed_lines(second, ends[1:3], ends[2:], [False, False])
    [(name, rows)] = fast.take()
    assert name == "stderr" and rows.line == ["\n".join(x[31 + 9 :].decode() for x in first + second[:1])]
    assert (rows.level, rows.start, rows.end) == (["error"], [0], [ends[2]])


# -- batches cut from rows -------------------------------------------------------------


class ListSource:
    def __init__(self, chunks: list[Lines]) -> None:
        self.chunks = chunks

    def read(self, budget_bytes: int) -> list[Lines]:
        out, self.chunks = self.chunks, []
        return out

    def commit(self, source: str, offset: int) -> None:
        pass

    def save_checkpoints(self) -> None:
        pass

    def lag_bytes(self) -> int:
        return 0

    def close(self) -> None:
        pass


class ListSink:
    def __init__(self) -> None:
        self.batches: list[RowBatch] = []

    def send(self, batch: RowBatch, on_ack: Ack) -> bool:
        self.batches.append(batch)
        on_ack(None)
        return True

    def poll(self, timeout: float) -> None:
        pass

    def flush(self, timeout: float) -> int:
        return 0

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        pass


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=80),
    chunk=st.integers(1, 30),
    max_entries=st.integers(1, 12),
    max_bytes=st.integers(1024, 2500),
)
def test_batches_close_where_adding_entries_one_by_one_would(
    tmp_path_factory: object, sizes: list[int], chunk: int, max_entries: int, max_bytes: int
) -> None:
    lines = [TS + b" stdout F " + b"%d " % i + b"y" * n for i, n in enumerate(sizes)]
    ends = list(itertools.accumulate(len(x) + 1 for x in lines))
    starts = [0, *ends[:-1]]
    chunks = [
        Lines("/logs/app.log", "src", lines[i : i + chunk], starts[i : i + chunk], ends[i : i + chunk],
              [False] * len(lines[i : i + chunk]))
        for i in range(0, len(lines), chunk)
    ]  # fmt: skip
    config = AdapterConfig(
        parse=ParseConfig(multiline=MultilineConfig(enabled=False)),
        batch_max_entries=max_entries,
        batch_max_bytes=max_bytes,
        batch_linger_ms=60_000,
        http_port=0,
    )
    sink = ListSink()
    topology = Topology(config, ListSource(chunks), sink, Metrics(), env={}, clock=lambda: 0.0)
    topology.step()
    topology.shutdown()
    texts = [x[40:].decode() for x in lines]
    assert [line for b in sink.batches for line in b.rows.line] == texts
    for b in sink.batches[:-1]:
        last = len(b.rows.line[-1]) + 64
        assert len(b) == max_entries or b.nbytes >= max_bytes, "closed only when full"
        assert len(b) <= max_entries and b.nbytes - last < max_bytes, "not full before its last entry"
        assert b.nbytes == sum(len(x) + 64 for x in b.rows.line)
    assert [b.after for b in sink.batches] == [0] + [b.rows.end[-1] for b in sink.batches[:-1]]


def test_a_row_batch_encodes_as_a_batch_of_entries() -> None:
    """The Kafka record of a RowBatch is byte for byte the one `Batch.encode` makes of the same entries."""
    fast, _ = pipeline(ParseConfig(format="cri", multiline=MultilineConfig(enabled=False)), Clock())
    data = [TS + b' stderr F {"level":"error","trace_id":"' + TID.encode() + b'"}', TS + b" stderr F caf\xc3\xa9"]
    fast.feed_lines(data, [0, 100], [100, 120], [False, False])
    [(name, rows)] = fast.take()
    stream = Stream(tenant="t", service="s", stream=name, labels=(("a", "b"),))
    row_batch = RowBatch(stream, "src", 0, rows, observed_ts=7)
    batch = Batch(stream, "src", rows.entries(name), observed_ts=7, after=0)
    assert row_batch.encode() == batch.encode()
    decoded = Batch.decode(row_batch.encode())
    assert decoded.trace_id == [TID, ""] and decoded.line[1] == "café"
    assert orjson.loads(row_batch.encode())["after"] == 0


def test_tailed_file_with_crlf_and_a_line_longer_than_a_read(tmp_path: Path) -> None:
    """End to end through the file tailer: CRLF endings, a P/F pair and a line longer than the read chunk."""
    from collectors.log_adapter.sources.tail.config import TailConfig

    log = tmp_path / "app.log"
    huge = b"z" * 20_000
    log.write_bytes(
        TS + b" stdout F one\r\n" + TS + b" stdout P tw\r\n" + TS + b" stdout F o\r\n"
        + TS + b" stdout F " + huge + b"\r\n" + TS + b" stdout F three\n"
    )  # fmt: skip
    config = AdapterConfig(
        tail=TailConfig(include=[str(log)], checkpoint_path=str(tmp_path / "cp.json"), max_line_bytes=8192),
        parse=ParseConfig(format="cri"),
        read_budget_bytes=4096,
        batch_linger_ms=0,
        http_port=0,
    )
    from collectors.log_adapter.main import build_source

    metrics = Metrics()
    sink = ListSink()
    topology = Topology(config, build_source(config, metrics), sink, metrics, env={})
    for _ in range(20):
        topology.step()
    topology.shutdown()
    lines = [line for b in sink.batches for line in b.rows.line]
    assert lines == ["one", "two", "z" * (8192 - 40), "three"]
    assert counts(metrics) == {"line_too_large": 1}
