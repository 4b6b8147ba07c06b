"""Physical lines of one file -> entries: container format, partial merging, decoding, multiline, fields.

Per line the work is a format check, a decode and `extract`; everything else
(partial pieces, multiline continuations, repairs) is off the fast path. State
is kept per stream so stdout and stderr pieces never merge with each other.
Anything odd in a line is repaired, counted as a Truncated event naming the
file and offset, and the line still ships; its neighbours are untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from collectors.log_adapter.events import Metrics, Truncated
from collectors.log_adapter.transforms.config import ParseConfig
from collectors.log_adapter.transforms.cri import looks_like_cri, parse_cri
from collectors.log_adapter.transforms.docker import PREFIX as DOCKER_PREFIX
from collectors.log_adapter.transforms.docker import parse_docker
from collectors.log_adapter.transforms.multiline import MultilineMerger
from collectors.log_adapter.transforms.parse import extract
from observ.model import Entry

_AUTO, _CRI, _DOCKER, _RAW = "auto", "cri", "docker", "raw"
_MS = 1_000_000


def _trim_utf8(data: bytes) -> bytes:
    """Drop an incomplete multi-byte sequence at the end of a cut line (it is not invalid input)."""
    n = len(data)
    i = n - 1
    while i >= 0 and n - i <= 4 and data[i] & 0xC0 == 0x80:
        i -= 1
    if i < 0 or data[i] < 0xC0:
        return data
    lead = data[i]
    need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return data[:i] if n - i < need else data


class _Stream:
    """Partial pieces waiting for their final piece, and the stream's multiline merger."""

    __slots__ = ("cut", "end", "merger", "name", "pieces", "since", "size", "start", "ts")

    def __init__(self, name: str, merger: MultilineMerger | None) -> None:
        self.name = name
        self.merger = merger
        self.pieces: list[bytes] = []
        self.size = 0
        self.start = 0
        self.end = 0
        self.ts: int | None = None
        self.since = 0
        self.cut = False


class LinePipeline:
    """One per source file; not thread-safe."""

    def __init__(
        self,
        config: ParseConfig,
        metrics: Metrics,
        where: str,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._where = where
        self._clock = clock
        self._format = config.format
        self._max_merged = config.max_merged_bytes
        self._partial_timeout_ns = config.partial_timeout_ms * _MS
        self._streams: dict[str, _Stream] = {}
        self._seen_cri = False
        self._seen_docker = False
        self._stdout = self._stream("stdout")

    # -- public ---------------------------------------------------------------

    def feed(self, line: bytes, start: int, end: int, truncated: bool = False) -> list[Entry]:
        """One physical line (newline stripped) spanning [start, end) of the file."""
        if truncated:
            line = _trim_utf8(line)
            self._alter("line_too_large", start, f"line cut at {len(line)} bytes")
        fmt = self._format
        if fmt != _RAW:
            if fmt != _DOCKER and line[10:11] == b"T":
                cri = parse_cri(line)
                if cri is not None:
                    self._seen_cri = True
                    return self._container(*cri, start, end)
            if fmt != _CRI and line.startswith(DOCKER_PREFIX):
                doc = parse_docker(line)
                if doc is not None:
                    self._seen_docker = True
                    return self._docker(*doc, start, end)
            if not truncated:
                self._check_malformed(line, start)
        try:
            text = line.decode()
        except UnicodeDecodeError:
            text = self._repair(line, start)
        if "\x00" in text:
            text = self._binary(text, start)
        now = self._clock()
        st = self._stdout
        if st.merger is None:
            return [self._finish("stdout", None, now, text, start, end)]
        done = st.merger.feed(text, len(line), None, now, start, end)
        return [done] if done is not None else []

    def flush_expired(self, now_ns: int) -> list[Entry]:
        """Entries whose partial pieces or multiline continuations waited past their timeouts."""
        out: list[Entry] = []
        for st in self._streams.values():
            if st.pieces and now_ns - st.since >= self._partial_timeout_ns:
                out.extend(self._unterminated(st, "partial line waited past partial_timeout_ms"))
            if st.merger is not None:
                done = st.merger.expire(now_ns)
                if done is not None:
                    out.append(done)
        return out

    def flush(self) -> list[Entry]:
        """Everything buffered: the file is closed for good."""
        out: list[Entry] = []
        for st in self._streams.values():
            if st.pieces:
                out.extend(self._unterminated(st, "file ended inside a partial line"))
            if st.merger is not None:
                done = st.merger.flush()
                if done is not None:
                    out.append(done)
        return out

    def pending_start(self) -> int | None:
        """Lowest start offset still held in buffers: the checkpoint may not pass it."""
        marks = []
        for st in self._streams.values():
            if st.pieces:
                marks.append(st.start)
            if st.merger is not None:
                held = st.merger.pending_start()
                if held is not None:
                    marks.append(held)
        return min(marks) if marks else None

    # -- container formats ------------------------------------------------------

    def _container(
        self, ts: int | None, stream: str, partial: bool, content: bytes, start: int, end: int
    ) -> list[Entry]:
        st = self._streams.get(stream) or self._stream(stream)
        if partial or st.pieces:
            self._add_piece(st, ts, content, start, end)
            if partial:
                return []
            content, ts, start = self._join(st)
        try:
            text = content.decode()
        except UnicodeDecodeError:
            text = self._repair(content, start)
        if "\x00" in text:
            text = self._binary(text, start)
        m = st.merger
        if m is None:
            return [self._finish(stream, ts, 0, text, start, end)]
        done = m.feed(text, len(content), ts, self._clock(), start, end)
        return [done] if done is not None else []

    def _docker(self, ts: int | None, stream: str, partial: bool, text: str, start: int, end: int) -> list[Entry]:
        st = self._streams.get(stream) or self._stream(stream)
        if partial or st.pieces:
            self._add_piece(st, ts, text.encode(), start, end)
            if partial:
                return []
            content, ts, start = self._join(st)
            text = content.decode(errors="replace")
        if "\x00" in text:
            text = self._binary(text, start)
        m = st.merger
        now = self._clock() if ts is None or m is not None else 0
        if m is None:
            return [self._finish(stream, ts, now, text, start, end)]
        done = m.feed(text, len(text), ts, now, start, end)
        return [done] if done is not None else []

    def _add_piece(self, st: _Stream, ts: int | None, content: bytes, start: int, end: int) -> None:
        if not st.pieces:
            st.start = start
            st.ts = ts
            st.since = self._clock()
            st.size = 0
            st.cut = False
        room = self._max_merged - st.size
        if len(content) > room:
            st.cut = True
            content = _trim_utf8(content[: max(room, 0)])
        if content or not st.pieces:
            st.pieces.append(content)
            st.size += len(content)
        st.end = end

    def _join(self, st: _Stream) -> tuple[bytes, int | None, int]:
        """The merged content, its timestamp (the first piece's) and start; resets the buffer."""
        content = b"".join(st.pieces)
        st.pieces = []
        if st.cut:
            self._alter("partial_too_large", st.start, f"merged line cut at max_merged_bytes={self._max_merged}")
        return content, st.ts, st.start

    def _unterminated(self, st: _Stream, why: str) -> list[Entry]:
        """Ship partial pieces whose final piece never came, as one entry."""
        end = st.end
        self._alter("partial_unterminated", st.start, why)
        content, ts, start = self._join(st)
        text = content.decode(errors="replace")
        if "\x00" in text:
            text = self._binary(text, start)
        now = self._clock()
        if st.merger is None:
            return [self._finish(st.name, ts, now, text, start, end)]
        done = st.merger.feed(text, len(content), ts, now, start, end)
        return [done] if done is not None else []

    # -- helpers --------------------------------------------------------------------

    def _stream(self, name: str) -> _Stream:
        ml = self._config.multiline
        merger = MultilineMerger(ml, name, self._finish, self._metrics, self._where) if ml.enabled else None
        st = self._streams[name] = _Stream(name, merger)
        return st

    def _finish(self, stream: str, ts: int | None, arrival: int, text: str, start: int, end: int) -> Entry:
        level, trace, span, found_ts = extract(text)
        if ts is None:
            ts = found_ts if found_ts is not None else arrival
        return Entry(ts, text, stream, level, trace, span, start, end)

    def _check_malformed(self, line: bytes, start: int) -> None:
        """A line that is not in the file's container format: shipped raw, but counted."""
        fmt = self._format
        if fmt == _CRI or (fmt == _AUTO and self._seen_cri and looks_like_cri(line)):
            self._alter("malformed_cri", start, "not a CRI line (cut or half-written?); shipped raw")
        elif fmt == _DOCKER or (fmt == _AUTO and self._seen_docker and line.startswith(DOCKER_PREFIX)):
            self._alter("malformed_docker", start, "not a Docker json-file line; shipped raw")

    def _repair(self, data: bytes, start: int) -> str:
        self._alter("invalid_utf8", start, "invalid UTF-8 replaced by U+FFFD")
        return data.decode(errors="replace")

    def _binary(self, text: str, start: int) -> str:
        self._alter("binary", start, "NUL bytes replaced by U+FFFD")
        return text.replace("\x00", "\ufffd")

    def _alter(self, reason: str, offset: int, detail: str) -> None:
        Truncated(reason, self._where, f"offset {offset}: {detail}").emit(self._metrics)
