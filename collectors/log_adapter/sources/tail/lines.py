"""Bytes to complete physical lines with their offsets, in bounded memory.

Shared by the file tailer and the stdin source: both hand the pipeline `Lines`
whose `ends` are the positions the checkpoint and the ingester's duplicate
filter are expressed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

_plus1 = (1).__add__


@dataclass(slots=True)
class Lines:
    """Consecutive complete lines of one source, in file order."""

    path: str
    source: str
    """Identity of the content lineage; offsets are only comparable within one source."""
    lines: list[bytes]
    """Without the newline (`\\n`, and a `\\r` right before it)."""
    starts: list[int]
    ends: list[int]
    """Offset just after each line's newline (after the skipped rest, for a cut line)."""
    truncated: list[bool]


class LineSplitter:
    """Splits a byte stream read from `offset` on; holds at most one partial line.

    A line longer than `max_line_bytes` keeps only its first `max_line_bytes`
    while the rest is skipped up to its newline, so memory stays bounded by
    `max_line_bytes` plus one read chunk whatever the writer does.
    """

    __slots__ = ("buf", "consumed", "cut", "max_line", "path", "pos", "source")

    def __init__(self, path: str, source: str, max_line_bytes: int, offset: int = 0) -> None:
        self.path = path
        self.source = source
        self.max_line = max_line_bytes
        self.consumed = offset
        """End of the last emitted line: where the pending partial line starts."""
        self.pos = offset
        """Read position: everything before it was fed."""
        self.buf = b""
        self.cut: bytes | None = None
        """Head of an over-long line whose newline has not been seen yet."""

    @property
    def pending(self) -> bool:
        return bool(self.buf) or self.cut is not None

    def feed(self, data: bytes) -> Lines | None:
        """Lines completed by `data`, which continues the stream at `pos`."""
        base = self.pos
        self.pos += len(data)
        head: Lines | None = None
        if self.cut is not None:
            i = data.find(b"\n")
            if i < 0:
                return None
            end = base + i + 1
            head = Lines(self.path, self.source, [self.cut], [self.consumed], [end], [True])
            self.cut = None
            self.consumed = end
            data = data[i + 1 :]
        elif self.buf:
            data = self.buf + data
        parts = data.split(b"\n")
        tail = parts.pop()
        # One byte of slack for a trailing `\r`: it may be half of a CRLF whose `\n` is in the next chunk.
        if len(tail) > self.max_line + (tail[-1:] == b"\r"):
            self.cut = tail[: self.max_line]
            self.buf = b""
        else:
            self.buf = tail
        if not parts:
            return head
        lens = list(map(len, parts))
        acc = list(accumulate(map(_plus1, lens), initial=self.consumed))
        self.consumed = acc[-1]
        if b"\r" in data:
            parts = [p[:-1] if p[-1:] == b"\r" else p for p in parts]
        if max(lens) > self.max_line:
            cut = [len(p) > self.max_line for p in parts]
            parts = [p[: self.max_line] for p in parts]
        else:
            cut = [False] * len(parts)
        out = Lines(self.path, self.source, parts, acc[:-1], acc[1:], cut)
        if head is None:
            return out
        head.lines += out.lines
        head.starts += out.starts
        head.ends += out.ends
        head.truncated += out.truncated
        return head

    def flush(self, cut: bool = False) -> Lines | None:
        """The pending partial line as a line of its own: the writer went idle or the stream ended,
        or (`cut`) the rest of it is gone."""
        if self.cut is not None:
            line, cut = self.cut, True
        elif self.buf:
            line = self.buf
        else:
            return None
        out = Lines(self.path, self.source, [line], [self.consumed], [self.pos], [cut])
        self.consumed = self.pos
        self.buf = b""
        self.cut = None
        return out
