"""The line splitter shared by the file and stdin sources: any chunking gives the same lines."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from collectors.log_adapter.sources.tail.lines import Lines, LineSplitter


def reference(data: bytes, max_line: int, base: int) -> list[tuple[bytes, int, int, bool]]:
    out = []
    pos = base
    for raw in data.split(b"\n")[:-1]:
        line = raw[:-1] if raw.endswith(b"\r") else raw
        out.append((line[:max_line], pos, pos + len(raw) + 1, len(line) > max_line))
        pos += len(raw) + 1
    return out


def flat(chunks: list[Lines | None]) -> list[tuple[bytes, int, int, bool]]:
    rows = []
    for c in chunks:
        if c is not None:
            rows.extend(zip(c.lines, c.starts, c.ends, c.truncated, strict=True))
    return rows


@given(
    data=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\r", b"\r\n", b"\xff", b"x" * 40]), max_size=60).map(b"".join),
    cuts=st.lists(st.integers(0, 400), max_size=20),
    max_line=st.integers(1, 50),
    base=st.integers(0, 10**12),
)
def test_any_chunking_gives_the_reference_lines(data: bytes, cuts: list[int], max_line: int, base: int) -> None:
    split = LineSplitter("p", "s", max_line, base)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    out = []
    for a, b in itertools.pairwise(points):
        out.append(split.feed(data[a:b]))
        assert len(split.buf) <= max_line + split.buf.endswith(b"\r")
        assert split.cut is None or len(split.cut) == max_line
    assert flat(out) == reference(data, max_line, base)
    assert split.pos == base + len(data)
    tail = data.rsplit(b"\n", 1)[-1] if b"\n" in data else data
    assert split.consumed == base + len(data) - len(tail)


def test_flush_hands_out_the_partial_line_once() -> None:
    split = LineSplitter("p", "s", 100)
    assert split.feed(b"done\nhalf") is not None
    assert split.pending
    flushed = split.flush()
    assert flushed is not None
    assert (flushed.lines, flushed.starts, flushed.ends, flushed.truncated) == ([b"half"], [5], [9], [False])
    assert split.flush() is None and not split.pending
    cut = LineSplitter("p", "s", 100, 7)
    cut.feed(b"gone with the truncation")
    lost = cut.flush(cut=True)
    assert lost is not None and lost.truncated == [True]


def test_cut_line_ends_after_its_real_newline() -> None:
    split = LineSplitter("p", "s", 4)
    assert split.feed(b"abcdefgh") is None
    assert split.feed(b"ijk") is None
    got = split.feed(b"lm\nnext\n")
    assert got is not None
    assert (got.lines, got.starts, got.ends, got.truncated) == ([b"abcd", b"next"], [0, 14], [14, 19], [True, False])
