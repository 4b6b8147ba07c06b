"""Physical lines of one file -> entries: container format, partial merging, decoding, multiline, fields.

Entries come out as columns per stream (`Rows`), never as an object per entry. `feed_lines` takes a whole
read chunk: its common lines (CRI `F`, the usual timestamp form, valid UTF-8, opening an entry) are
recognised with C-level maps over the chunk and handled as lists; everything else (partial pieces,
multiline continuations, repairs, Docker, raw text) goes through `feed`'s per-line path, in file order.
State is kept per stream so stdout and stderr pieces never merge with each other. Anything odd in a line
is repaired, counted as a Truncated event naming the file and offset, and the line still ships; its
neighbours are untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from itertools import compress, repeat
from operator import add, is_, itemgetter
from typing import cast

from collectors.log_adapter.events import Metrics, Truncated
from collectors.log_adapter.rows import Rows
from collectors.log_adapter.transforms.config import ParseConfig
from collectors.log_adapter.transforms.cri import looks_like_cri, parse_cri, parse_rfc3339
from collectors.log_adapter.transforms.docker import PREFIX as DOCKER_PREFIX
from collectors.log_adapter.transforms.docker import parse_docker
from collectors.log_adapter.transforms.multiline import MultilineMerger
from collectors.log_adapter.transforms.parse import extract
from observ.model import Entry

_AUTO, _CRI, _DOCKER, _RAW = "auto", "cri", "docker", "raw"
_MS = 1_000_000

_HEAD = 40
"""Where the content of a common line starts: `YYYY-MM-DDTHH:MM:SS.fffffffffZ stdout F ` (Go's RFC3339Nano
with all nine digits, as containerd and CRI-O write it, and a full line)."""
_FULL = {b"Z stdout F ": "stdout", b"Z stderr F ": "stderr"}
"""Bytes 29..40 of a common line -> its stream."""
_SIG = itemgetter(slice(29, _HEAD))
_SECOND = itemgetter(slice(0, 20))
_FRAC = itemgetter(slice(20, 29))
_CONTENT = itemgetter(slice(_HEAD, None))
_SECONDS: dict[bytes, int] = {}
"""`YYYY-MM-DDTHH:MM:SS.` -> that second since the epoch in ns, for the prefixes of common lines seen so far."""
_SECONDS_MAX = 8192


def _seconds_of(lines: list[bytes]) -> list[int | None]:
    """Per line: the ns since the epoch of its `YYYY-MM-DDTHH:MM:SS.` prefix, or None when it has no such prefix.

    One cache lookup a line; each second not cached yet is parsed once, whatever the number of its lines."""
    prefixes = list(map(_SECOND, lines))
    secs = list(map(_SECONDS.get, prefixes))
    if None in secs:
        for prefix in set(compress(prefixes, map(is_, secs, repeat(None)))):
            t = parse_rfc3339(prefix[:19] + b"Z") if prefix[10:11] == b"T" and prefix[19:20] == b"." else None
            if t is not None:
                if len(_SECONDS) >= _SECONDS_MAX:
                    _SECONDS.clear()
                _SECONDS[prefix] = t
        secs = list(map(_SECONDS.get, prefixes))
    return secs


def _decoded(content: bytes) -> str | None:
    try:
        return content.decode()
    except UnicodeDecodeError:
        return None


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
    """Partial pieces waiting for their final piece, the stream's multiline merger, and its finished rows."""

    __slots__ = (
        "cut",
        "end",
        "merger",
        "name",
        "pieces",
        "rows",
        "since",
        "size",
        "start",
        "ts",
    )

    def __init__(self, name: str, merger: MultilineMerger[None] | None) -> None:
        self.name = name
        self.merger = merger
        self.rows = Rows()
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
        """One physical line (newline stripped) spanning [start, end) of the file; the entries it completed."""
        self._line(line, start, end, truncated)
        return self._entries()

    def feed_lines(self, lines: list[bytes], starts: list[int], ends: list[int], truncated: list[bool]) -> None:
        """Consecutive physical lines, as `feed` takes them one by one; what they complete waits in `take()`.

        Lines are classified with C-level maps over the chunk; runs of common lines are then handled as lists
        (one decode of their joined contents, fields extracted in bulk) and the others one by one, in order."""
        n = len(lines)
        if self._format == _RAW or self._format == _DOCKER or not n:
            for args in zip(lines, starts, ends, truncated, strict=True):
                self._line(*args)
            return
        names = list(map(_FULL.get, map(_SIG, lines)))
        secs = _seconds_of(lines)
        fracs = list(map(_FRAC, lines))
        ok: list[bool] | None = None
        """Per line: whether it has a common line's form; None when all of them have."""
        if None in names or None in secs or any(truncated) or not all(map(bytes.isdigit, fracs)):
            ok = [
                nm is not None and s is not None and not c and f.isdigit()
                for nm, s, c, f in zip(names, secs, truncated, fracs, strict=True)
            ]
            ts = [(s or 0) + int(f) if o else 0 for s, f, o in zip(secs, fracs, ok, strict=True)]
        else:
            ts = list(map(add, secs, map(int, fracs)))
        texts = self._texts(lines, ok)
        i = 0
        while i < n:
            if texts[i] is None:
                self._line(lines[i], starts[i], ends[i], truncated[i])
                i += 1
                continue
            try:
                j = texts.index(None, i)
            except ValueError:
                j = n
            i = self._run(lines, names, texts, ts, starts, ends, i, j)

    def _texts(self, lines: list[bytes], ok: list[bool] | None) -> Sequence[str | None]:
        """Per line: its content as text when it is a common line (valid UTF-8, no NUL, opening an entry), else None."""
        merger = self._stdout.merger
        if ok is None:
            try:
                text = b"\n".join(map(_CONTENT, lines)).decode()
            except UnicodeDecodeError:
                decoded: Sequence[str | None] = [_decoded(x) for x in map(_CONTENT, lines)]
            else:
                common: list[str] = text.split("\n")
                if "\x00" not in text and (merger is None or all(map(merger.is_start, common))):
                    return common
                decoded = common
        else:
            decoded = [_decoded(line[_HEAD:]) if o else None for line, o in zip(lines, ok, strict=True)]
        if merger is None:
            return [None if t is None or "\x00" in t else t for t in decoded]
        is_start = merger.is_start
        return [t if t is not None and "\x00" not in t and is_start(t) else None for t in decoded]

    def _run(
        self,
        lines: list[bytes],
        names: list[str | None],
        texts: Sequence[str | None],
        ts: list[int],
        starts: list[int],
        ends: list[int],
        i: int,
        j: int,
    ) -> int:
        """Common lines [i, j) into rows, per stream in order; returns where the per-line path must go on: j, or the
        first line of a stream whose partial pieces wait for it (its line completes them)."""
        seg = names[i:j]
        for name in set(seg):
            assert name is not None
            st = self._streams.get(name) or self._stream(name)
            if st.pieces:
                j = min(j, i + seg.index(name))
        if j == i:
            self._line(lines[i], starts[i], ends[i], False)
            return i + 1
        self._seen_cri = True
        seg = seg[: j - i]
        present = set(seg)
        for name in present:
            assert name is not None
            if len(present) == 1:
                run = cast("list[str]", texts[i:j])  # a run holds common lines only
                self._rows(self._streams[name], lines, run, ts[i:j], starts[i:j], ends[i:j], j - 1)
            else:
                idx = [k for k, nm in enumerate(seg, i) if nm == name]
                self._rows(
                    self._streams[name],
                    lines,
                    cast("list[str]", [texts[k] for k in idx]),
                    [ts[k] for k in idx],
                    [starts[k] for k in idx],
                    [ends[k] for k in idx],
                    idx[-1],
                )
        return j

    def _rows(
        self,
        st: _Stream,
        lines: list[bytes],
        texts: list[str],
        ts: list[int],
        starts: list[int],
        ends: list[int],
        last: int,
    ) -> None:
        """Common lines of one stream, each opening an entry: every one but the last is complete (after the entry
        the merger held, which the first one closes); the last waits in the merger for continuations."""
        m = st.merger
        if m is not None:
            m.flush()
            held = (texts.pop(), len(lines[last]) - _HEAD, ts.pop(), starts.pop(), ends.pop())
        if texts:
            rows = st.rows
            levels, traces, spans, _ = zip(*map(extract, texts), strict=True)
            rows.ts += ts
            rows.line += texts
            rows.level += levels
            rows.trace_id += traces
            rows.span_id += spans
            rows.start += starts
            rows.end += ends
        if m is not None:
            text, nbytes, t, start, end = held
            m.feed(text, nbytes, t, self._clock(), start, end)

    def take(self) -> list[tuple[str, Rows]]:
        """Streams with entries completed since the last take, and those entries; they are handed over."""
        out = []
        for st in self._streams.values():
            if st.rows.line:
                out.append((st.name, st.rows))
                st.rows = Rows()
        return out

    def expire(self, now_ns: int) -> None:
        """Complete entries whose partial pieces or multiline continuations waited past their timeouts."""
        for st in self._streams.values():
            if st.pieces and now_ns - st.since >= self._partial_timeout_ns:
                self._unterminated(st, "partial line waited past partial_timeout_ms")
            if st.merger is not None:
                st.merger.expire(now_ns)

    def close(self) -> None:
        """Complete everything buffered: the file is closed for good."""
        for st in self._streams.values():
            if st.pieces:
                self._unterminated(st, "file ended inside a partial line")
            if st.merger is not None:
                st.merger.flush()

    def flush_expired(self, now_ns: int) -> list[Entry]:
        """`expire`, returning the entries."""
        self.expire(now_ns)
        return self._entries()

    def flush(self) -> list[Entry]:
        """`close`, returning the entries."""
        self.close()
        return self._entries()

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

    # -- helpers of the line API ---------------------------------------------------

    def _entries(self) -> list[Entry]:
        return [e for name, rows in self.take() for e in rows.entries(name)]

    # -- one line -------------------------------------------------------------------

    def _line(self, line: bytes, start: int, end: int, truncated: bool) -> None:
        if truncated:
            line = _trim_utf8(line)
            self._alter("line_too_large", start, f"line cut at {len(line)} bytes")
        fmt = self._format
        if fmt != _RAW:
            if fmt != _DOCKER and line[10:11] == b"T":
                cri = parse_cri(line)
                if cri is not None:
                    self._seen_cri = True
                    self._container(*cri, start, end)
                    return
            if fmt != _CRI and line.startswith(DOCKER_PREFIX):
                doc = parse_docker(line)
                if doc is not None:
                    self._seen_docker = True
                    self._docker(*doc, start, end)
                    return
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
            self._finish("stdout", None, now, text, start, end)
        else:
            st.merger.feed(text, len(line), None, now, start, end)

    # -- container formats ------------------------------------------------------

    def _container(self, ts: int | None, stream: str, partial: bool, content: bytes, start: int, end: int) -> None:
        st = self._streams.get(stream) or self._stream(stream)
        if partial or st.pieces:
            self._add_piece(st, ts, content, start, end)
            if partial:
                return
            content, ts, start = self._join(st)
        try:
            text = content.decode()
        except UnicodeDecodeError:
            text = self._repair(content, start)
        if "\x00" in text:
            text = self._binary(text, start)
        m = st.merger
        if m is None:
            self._finish(stream, ts, 0, text, start, end)
        else:
            m.feed(text, len(content), ts, self._clock(), start, end)

    def _docker(self, ts: int | None, stream: str, partial: bool, text: str, start: int, end: int) -> None:
        st = self._streams.get(stream) or self._stream(stream)
        if partial or st.pieces:
            self._add_piece(st, ts, text.encode(), start, end)
            if partial:
                return
            content, ts, start = self._join(st)
            text = content.decode(errors="replace")
        if "\x00" in text:
            text = self._binary(text, start)
        m = st.merger
        now = self._clock() if ts is None or m is not None else 0
        if m is None:
            self._finish(stream, ts, now, text, start, end)
        else:
            m.feed(text, len(text), ts, now, start, end)

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

    def _unterminated(self, st: _Stream, why: str) -> None:
        """Ship partial pieces whose final piece never came, as one entry."""
        end = st.end
        self._alter("partial_unterminated", st.start, why)
        content, ts, start = self._join(st)
        text = content.decode(errors="replace")
        if "\x00" in text:
            text = self._binary(text, start)
        now = self._clock()
        if st.merger is None:
            self._finish(st.name, ts, now, text, start, end)
        else:
            st.merger.feed(text, len(content), ts, now, start, end)

    # -- helpers --------------------------------------------------------------------

    def _stream(self, name: str) -> _Stream:
        ml = self._config.multiline
        merger = MultilineMerger(ml, name, self._finish, self._metrics, self._where) if ml.enabled else None
        st = self._streams[name] = _Stream(name, merger)
        return st

    def _finish(self, stream: str, ts: int | None, arrival: int, text: str, start: int, end: int) -> None:
        level, trace, span, found_ts = extract(text)
        if ts is None:
            ts = found_ts if found_ts is not None else arrival
        self._streams[stream].rows.append(ts, text, level, trace, span, start, end)

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
