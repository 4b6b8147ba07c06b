"""Independent, plain-Python evaluation helpers for the golden LogQL tests.

Nothing here imports the engine, the parser or the pipeline: each golden query composes these
helpers by hand, so a bug shared by the engine and the oracle needs two independent mistakes.
The helpers follow Loki 3's code, cited per rule (paths are in github.com/grafana/loki):

- pkg/logql/log/labels.go        LabelsBuilder: stream < structured metadata < parsed labels, `_extracted`
                                 against stream labels and structured metadata (parser.go), errors last.
- pkg/logql/log/parser.go        json (jsonparser.ObjectEach: nested `_` join, arrays and nulls skipped,
                                 numbers as written), logfmt (non-strict skips bad pairs silently, empty
                                 values dropped unless --keep-empty), regexp, pattern, unpack (labels only
                                 when `_entry` is present).
- pkg/logql/log/logfmt/decode.go the logfmt scanner, ported byte for byte below.
- pkg/logql/log/pattern/*.go     Matches (parser) and Test (`|>` filter).
- pkg/logql/log/label_filter.go  numeric/duration/bytes filters: missing label drops the line,
                                 unparsable value keeps it with __error__=LabelFilterErr.
- pkg/logql/log/metrics_extraction.go  unwrap: missing or empty label skips the sample, bad value sets
                                 SampleExtractionErr; the unwrapped label leaves the series labels.
- pkg/logql/range_vector.go      windows are (t - range, t], shifted back by offset; rate = count / range.
- pkg/logql/evaluator.go         a sample carrying __error__ fails the query; absent_over_time labels come
                                 from the selector's equality matchers; binary ops, on/ignoring, and/or/unless.
- pkg/logql/syntax/ast.go        MergeBinOp: x / 0 and x % 0 are NaN; a filtering comparison keeps the
                                 vector's own value.
- pkg/logql/engine.go            readStreams: entries in query direction until `limit`, grouped by labels;
                                 the store selects [start, end) ("add leap nanosecond to endTs to include
                                 lines exactly at endTs" is done only for metric queries' sample selection).
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache

from tests.golden.corpus import Row

Labels = tuple[tuple[str, str], ...]
"""A label set in canonical (sorted, hashable) form."""
SeriesSet = dict[Labels, dict[int, float]]
"""Series labels -> {step timestamp (ns): value}."""

ERR = "__error__"
ERR_DETAILS = "__error_details__"


def key(labels: dict[str, str]) -> Labels:
    return tuple(sorted((k, v) for k, v in labels.items() if v != ""))


# --- stream selection and matchers -----------------------------------------------------------------


def match(value: str, op: str, want: str) -> bool:
    """Prometheus matchers: regexes are fully anchored; an absent label has the value ""."""
    if op == "=":
        return value == want
    if op == "!=":
        return value != want
    if op == "=~":
        return re.fullmatch(want, value, re.S) is not None
    if op == "!~":
        return re.fullmatch(want, value, re.S) is None
    raise ValueError(op)


def select(rows: Iterable[Row], *matchers: tuple[str, str, str], start: int | None = None, end: int | None = None):
    """Rows of one tenant whose stream labels satisfy every matcher, with start <= ts < end, oldest first."""
    return [
        r
        for r in rows
        if (start is None or r.ts >= start)
        and (end is None or r.ts < end)
        and all(match(r.stream.get(n, ""), op, v) for n, op, v in matchers)
    ]


# --- pipeline state --------------------------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    """One line going through a pipeline, with Loki's three label categories kept apart."""

    ts: int
    line: str
    stream: dict[str, str]
    meta: dict[str, str]
    parsed: dict[str, str] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    err: str = ""
    details: str = ""

    @classmethod
    def of(cls, row: Row) -> Entry:
        return cls(row.ts, row.line, row.stream, dict(row.metadata))

    def base_has(self, name: str) -> bool:
        """parser.go: BaseHas(key) || HasInCategory(key, StructuredMetadataLabel)."""
        return name in self.stream or name in self.meta

    def get(self, name: str) -> str | None:
        if name in self.parsed:
            return self.parsed[name]
        if name in self.meta:
            return self.meta[name]
        if name in self.deleted:
            return None
        return self.stream.get(name)

    def value(self, name: str) -> str:
        """What a string label filter compares: "" when absent; __error__ is the error."""
        if name == ERR:
            return self.err
        v = self.get(name)
        return "" if v is None else v

    def set(self, name: str, value: str) -> None:
        self.meta.pop(name, None)
        self.parsed[name] = value

    def delete(self, name: str) -> None:
        self.parsed.pop(name, None)
        self.meta.pop(name, None)
        self.deleted.add(name)

    def set_err(self, err: str, details: str = "") -> None:
        self.err = err
        if details:
            self.details = details

    def labels(self) -> dict[str, str]:
        out = {k: v for k, v in self.stream.items() if k not in self.deleted}
        out |= self.meta
        out |= self.parsed
        if self.err:
            out[ERR] = self.err
        if self.details:
            out[ERR_DETAILS] = self.details
        return {k: v for k, v in out.items() if v != ""}

    def template_data(self) -> dict[str, str]:
        """What line_format / label_format templates see (missing keys render as "")."""
        return self.labels()


def entries(rows: Iterable[Row]) -> list[Entry]:
    return [Entry.of(r) for r in rows]


# --- line filters ----------------------------------------------------------------------------------


def contains(line: str, *needles: str) -> bool:
    return any(n in line for n in needles)


def regex(line: str, pattern: str) -> bool:
    """`|~`: RE2 search, unanchored."""
    return re.search(pattern, line) is not None


# --- Go value parsing ------------------------------------------------------------------------------

_DIGITS = r"\d(?:_?\d)*"
_GO_FLOAT = re.compile(
    rf"[+-]?(?:(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?|inf|infinity|nan)", re.I
)


def go_float(text: str) -> float:
    """strconv.ParseFloat for decimal forms: since Go 1.13 underscores may separate digits (`1_000`),
    golang/go commit 36a81d5 "strconv: accept underscores in ParseInt, ParseUint, ParseFloat"."""
    if not _GO_FLOAT.fullmatch(text):
        raise ValueError(text)
    return float(text)


_GO_DURATION_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
                      "h": 3600 * 10**9}  # fmt: skip
_GO_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration_ns(text: str) -> int:
    """time.ParseDuration: no d/w/y units, a sign, `0` alone is fine."""
    s = text
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(text)
    pos, total = 0, 0.0
    for m in _GO_DURATION_PART.finditer(s):
        if m.start() != pos:
            raise ValueError(text)
        total += float(m.group(1)) * _GO_DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(text)
    return sign * int(total)


_BYTE_UNITS = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    _BYTE_UNITS |= {_p: 1000**_i, f"{_p}b": 1000**_i, f"{_p}i": 1024**_i, f"{_p}ib": 1024**_i}


def humanize_bytes(text: str) -> int:
    """go-humanize ParseBytes: leading digits (commas allowed), then a unit; truncated to an integer."""
    n = 0
    while n < len(text) and (text[n].isdigit() or text[n] in ".,"):
        n += 1
    num = text[:n].replace(",", "")
    f = go_float(num)
    unit = text[n:].strip().lower()
    if unit not in _BYTE_UNITS:
        raise ValueError(text)
    return int(f * _BYTE_UNITS[unit])


# --- parsers ---------------------------------------------------------------------------------------


@cache
def sanitize(name: str) -> str:
    """sanitizeLabelKey(key, true): trim, `_` before a leading digit, anything but [A-Za-z0-9_] -> `_`."""
    name = name.strip()
    if not name:
        return name
    if name[0].isdigit() and name[0].isascii():
        name = "_" + name
    return "".join(c if (c.isascii() and (c.isalnum() or c == "_")) else "_" for c in name)


# A port of buger/jsonparser's ObjectEach, which Loki's json and unpack stages walk the line with: it
# stops at the object's closing brace (trailing text is ignored), checks arrays and nested objects only
# for balanced brackets until a callback descends into them, takes numbers as the raw token, and
# reports an error only when it reaches it — labels set by earlier callbacks stay.
_WS = b" \n\r\t"
JsonItem = tuple[str, str, object]
"""(key, kind, value): kind is string/number/bool/null/array/object; an object's value is its items."""


class _JsonError(Exception):
    pass


def _next_token(data: bytes, i: int) -> int:
    while i < len(data) and data[i] in _WS:
        i += 1
    return i if i < len(data) else -1


def _string_end(data: bytes, i: int) -> int:
    """Index just past the first quote at or after `i` not escaped by an odd run of backslashes."""
    start = i
    while i < len(data):
        if data[i] == 0x22:
            j = i - 1
            while j >= start and data[j] == 0x5C:
                j -= 1
            if (i - 1 - j) % 2 == 0:
                return i + 1
        i += 1
    return -1


def _block_end(data: bytes, i: int, open_: int, close: int) -> int:
    level = 0
    while i < len(data):
        c = data[i]
        if c == 0x22:
            end = _string_end(data, i + 1)
            if end == -1:
                return -1
            i = end - 1
        elif c == open_:
            level += 1
        elif c == close:
            level -= 1
            if level == 0:
                return i + 1
        i += 1
    return -1


def _token_end(data: bytes, i: int) -> int:
    while i < len(data) and data[i] not in b" \n\r\t,}]":
        i += 1
    return i


def _value(data: bytes, i: int) -> tuple[str, bytes, int]:
    """jsonparser getType: (kind, raw value, end index)."""
    c = data[i]
    if c == 0x22:
        end = _string_end(data, i + 1)
        if end == -1:
            raise _JsonError
        return "string", data[i + 1 : end - 1], end
    if c in b"[{":
        end = _block_end(data, i, c, c + 2)  # `[`+2 is `]`, `{`+2 is `}`
        if end == -1:
            raise _JsonError
        return ("array" if c == 0x5B else "object"), data[i:end], end
    end = _token_end(data, i)
    tok = data[i:end]
    if c in b"tf" and tok in (b"true", b"false"):
        return "bool", tok, end
    if c in b"un" and tok == b"null":
        return "null", tok, end
    if c in b"0123456789-":
        return "number", tok, end
    raise _JsonError


def _unescape(raw: bytes) -> str:
    """jsonparser.Unescape; raises on a bad escape."""
    if b"\\" not in raw:
        return raw.decode(errors="replace")
    try:
        return json.loads(b'"' + raw + b'"', strict=False)
    except ValueError as exc:
        raise _JsonError from exc


def object_each(data: bytes, descend: bool) -> tuple[list[JsonItem], bool]:
    """The items ObjectEach hands to a callback before it stops, and whether it stopped on an error.

    `descend`: objects are walked too (the json stage does; unpack does not), and their errors stop the walk.
    """
    items: list[JsonItem] = []
    i = _next_token(data, 0)
    if i == -1 or data[i] != 0x7B:
        return items, True
    i = _next_token(data, i + 1)
    if i == -1:
        return items, True
    if data[i] == 0x7D:
        return items, False
    while i < len(data):
        if data[i] == 0x7D:
            return items, False
        if data[i] != 0x22:
            return items, True
        end = _string_end(data, i + 1)
        if end == -1:
            return items, True
        try:
            key = _unescape(data[i + 1 : end - 1])
        except _JsonError:
            return items, True
        i = _next_token(data, end)
        if i == -1 or data[i] != 0x3A:
            return items, True
        i = _next_token(data, i + 1)
        if i == -1:
            return items, True
        try:
            kind, raw, i = _value(data, i)
        except _JsonError:
            return items, True
        if kind == "object" and descend:
            sub, failed = object_each(raw, True)
            items.append((key, kind, sub))
            if failed:
                return items, True
        else:
            items.append((key, kind, raw))
        i = _next_token(data, i)
        if i == -1 or data[i] not in b",}":
            return items, True
        if data[i] == 0x7D:
            return items, False
        i = _next_token(data, i + 1)
        if i == -1:
            return items, True
    return items, True


@cache
def _json_items(line: str, descend: bool) -> tuple[list[JsonItem], bool]:
    """Cached per line: the golden cases parse the same lines many times (callers never mutate the items)."""
    return object_each(line.encode(), descend)


def _string_value(raw: object) -> str:
    """unescapeJSONString: a bad escape gives an empty value."""
    assert isinstance(raw, bytes)
    try:
        return _unescape(raw)
    except _JsonError:
        return ""


def json_parse(e: Entry) -> None:
    """`| json`: every scalar leaf, nested keys joined with `_`; an error keeps what was set before it."""
    items, failed = _json_items(e.line, True)

    def walk(prefix: str, items: list[JsonItem]) -> None:
        for k, kind, v in items:
            name = f"{prefix}_{_part(k)}" if prefix else sanitize(k)
            if kind == "object":
                walk(name, v)  # type: ignore[arg-type]
                continue
            if kind in ("array", "null"):
                continue  # ObjectEach's callback in Loki ignores them
            if e.base_has(name):
                name += "_extracted"
            if kind == "string":
                e.set(name, _string_value(v))
            else:
                e.set(name, v.decode())  # type: ignore[union-attr]

    walk("", items)
    if failed:
        e.set_err("JSONParserErr", "json parse error")


@cache
def _part(k: str) -> str:
    """appendSanitized for a nested key: trimmed, invalid characters -> `_`."""
    k = k.strip()
    return "".join(c if (c.isascii() and (c.isalnum() or c == "_")) else "_" for c in k)


def json_params(e: Entry, params: dict[str, list[str | int]]) -> None:
    """`| json a="x.y"`: each path's value; a missing path gives ""; objects stay JSON text."""
    try:
        doc = json.loads(e.line)
    except ValueError:
        e.set_err("JSONParserErr")
        return
    for label, path in params.items():
        cur: object = doc
        for p in path:
            if (isinstance(p, int) and isinstance(cur, list) and p < len(cur)) or (
                isinstance(p, str) and isinstance(cur, dict) and p in cur
            ):
                cur = cur[p]  # type: ignore[index]
            else:
                cur = None
                break
        name = label + "_extracted" if e.base_has(label) else label
        if cur is None:
            e.set(name, "")
        elif isinstance(cur, bool):
            e.set(name, "true" if cur else "false")
        elif isinstance(cur, (dict, list)):
            e.set(name, json.dumps(cur, separators=(",", ":")))
        else:
            e.set(name, str(cur))


class LogfmtDecoder:
    """Loki's pkg/logql/log/logfmt/decode.go, on the UTF-8 bytes of the line."""

    def __init__(self, line: str) -> None:
        self.line = line.encode()
        self.pos = 0
        self.key: bytes | None = None
        self.value: bytes | None = None
        self.err = ""

    def eol(self) -> bool:
        return self.pos >= len(self.line)

    def _error(self, msg: str) -> None:
        self.err = f"logfmt syntax error at pos {self.pos + 1} : {msg}"

    def _skip_value(self) -> bool:
        line = self.line
        while self.pos < len(line) and line[self.pos] > 0x20:
            self.pos += 1
        return False

    def scan(self) -> bool:
        self.key = self.value = None
        line = self.line
        while self.pos < len(line) and line[self.pos] <= 0x20:
            self.pos += 1
        if self.pos >= len(line):
            return False
        start = self.pos
        while self.pos < len(line):
            c = line[self.pos]
            if c == ord("="):
                if self.pos > start:
                    self.key = line[start : self.pos]
                if self.key is None:
                    self._error("unexpected '='")
                    return self._skip_value()
                return self._equal()
            if c == ord('"'):
                self._error("unexpected '\"'")
                return self._skip_value()
            if c <= 0x20:
                self.key = line[start : self.pos]
                return True
            self.pos += 1
        self.key = line[start:]
        return True

    def _equal(self) -> bool:
        line = self.line
        self.pos += 1
        if self.pos >= len(line):
            return True
        c = line[self.pos]
        if c <= 0x20:
            return True
        if c == ord('"'):
            return self._quoted()
        start = self.pos
        while self.pos < len(line):
            c = line[self.pos]
            if c in (ord("="), ord('"')):
                self._error(f"unexpected {chr(c)!r}")
                return self._skip_value()
            if c <= 0x20:
                break
            self.pos += 1
        if self.pos > start:
            self.value = line[start : self.pos]
        return True

    def _quoted(self) -> bool:
        line = self.line
        start = self.pos
        esc = has_esc = False
        i = self.pos + 1
        while i < len(line):
            c = line[i]
            if esc:
                esc = False
            elif c == ord("\\"):
                has_esc = esc = True
            elif c == ord('"'):
                self.pos = i + 1
                if has_esc:
                    try:
                        self.value = json.loads(line[start : self.pos].decode(errors="replace")).encode()
                    except ValueError:
                        self._error("invalid quoted value")
                        return False
                elif self.pos - 1 > start + 1:
                    self.value = line[start + 1 : self.pos - 1]
                return True
            i += 1
        self.pos = len(line)
        self._error("unterminated quoted value")
        return False


def logfmt_parse(e: Entry, strict: bool = False, keep_empty: bool = False) -> None:
    """LogfmtParser.Process: non-strict skips bad pairs and never sets __error__."""
    dec = LogfmtDecoder(e.line)
    while not dec.eol():
        if not dec.scan():
            if strict:
                break
            continue
        name = sanitize((dec.key or b"").decode(errors="replace"))
        if not name:
            continue
        if e.base_has(name):
            name += "_extracted"
        val = (dec.value or b"").decode(errors="replace")
        if "\ufffd" in val:
            val = ""
        if not keep_empty and val == "":
            continue
        e.set(name, val)
    if strict and dec.err:
        e.set_err("LogfmtParserErr", dec.err)


def regexp_parse(e: Entry, pattern: str) -> None:
    m = re.search(pattern, e.line)
    if m is None:
        return
    for name in sorted(m.re.groupindex, key=m.re.groupindex.__getitem__):
        label = sanitize(name)
        if e.base_has(label):
            label += "_extracted"
        e.set(label, m.group(name) or "")


_PATTERN_TOKEN = re.compile(r"<(_|[A-Za-z_][A-Za-z0-9_]*)>")


def _pattern_parts(pattern: str) -> list[tuple[str, str]]:
    """[("lit", text) | ("cap", name)]; `<_>` is the unnamed capture."""
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in _PATTERN_TOKEN.finditer(pattern):
        if m.start() > pos:
            parts.append(("lit", pattern[pos : m.start()]))
        parts.append(("cap", m.group(1)))
        pos = m.end()
    if pos < len(pattern):
        parts.append(("lit", pattern[pos:]))
    return parts


def pattern_matches(line: str, pattern: str) -> list[tuple[str, str]]:
    """pattern.Matcher.Matches: (name, value) of the named captures it reached."""
    parts = _pattern_parts(pattern)
    data = line.encode()
    out: list[tuple[str, str]] = []
    if not data or not parts:
        return out
    if parts[0][0] == "lit":
        lit = parts[0][1].encode()
        if data.find(lit) != 0:
            return out
        data = data[len(lit) :]
        parts = parts[1:]
    while parts:
        cap = parts[0][1]
        if len(parts) == 1:
            if cap != "_":
                out.append((cap, data.decode(errors="replace")))
            return out
        lit = parts[1][1].encode()
        parts = parts[2:]
        i = data.find(lit)
        if i == -1:
            if cap != "_":
                out.append((cap, data.decode(errors="replace")))
            return out
        if cap != "_":
            out.append((cap, data[:i].decode(errors="replace")))
        data = data[i + len(lit) :]
    return out


def pattern_parse(e: Entry, pattern: str) -> None:
    for name, value in pattern_matches(e.line, pattern):
        e.set(name + "_extracted" if e.base_has(name) else name, value)


def pattern_test(line: str, pattern: str) -> bool:
    """pattern.Matcher.Test, the `|>` line filter."""
    parts = _pattern_parts(pattern)
    data = line.encode()
    if not data or not parts:
        return not data and not parts
    off = 0
    for i, (kind, text) in enumerate(parts):
        if kind != "lit":
            continue
        j = data[off:].find(text.encode())
        if j == -1 or (i != 0 and j == 0):
            return False
        off += j + len(text.encode())
    ends_on_capture = parts[-1][0] == "cap"
    return ends_on_capture == (off != len(data))


def unpack(e: Entry) -> None:
    """`| unpack`: string fields become labels and `_entry` the line — only for a packed line."""
    if not e.line.startswith("{"):
        e.set_err("JSONParserErr", "expecting json object")
        return
    items, failed = _json_items(e.line, False)
    found: list[tuple[str, str]] = []
    packed: str | None = None
    for k, kind, v in items:
        if kind != "string":
            continue  # only string values unpack
        if k == "_entry":
            try:
                packed = _unescape(v)  # type: ignore[arg-type]
            except _JsonError:
                failed = True
                break
            continue
        found.append((sanitize(k + "_extracted" if e.base_has(k) else k), _string_value(v)))
    if failed:
        e.set_err("JSONParserErr", "json parse error")
        return
    if packed is not None:
        for k, v in found:
            e.set(k, v)
        e.line = packed


_ANSI = re.compile(
    "[\u001b\u009b][\\[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[a-zA-Z\\d]*)*)?\u0007)"
    "|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PRZcf-ntqry=><~]))"
)


def decolorize(line: str) -> str:
    return _ANSI.sub("", line)


# --- label filters ---------------------------------------------------------------------------------

_CMP: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}  # fmt: skip


def _typed(e: Entry, name: str, op: str, want: float, conv: Callable[[str], float]) -> bool:
    v = e.get(name)
    if v is None:
        return False
    try:
        got = conv(v)
    except ValueError:
        if not e.err:
            e.set_err("LabelFilterErr", "label filter error")
        return True
    return _CMP[op](got, want)


def num(e: Entry, name: str, op: str, want: float) -> bool:
    return _typed(e, name, op, want, go_float)


def dur(e: Entry, name: str, op: str, want: str) -> bool:
    return _typed(e, name, op, go_duration_ns(want), go_duration_ns)


def size(e: Entry, name: str, op: str, want: str) -> bool:
    return _typed(e, name, op, humanize_bytes(want), humanize_bytes)


def lbl(e: Entry, name: str, op: str, want: str) -> bool:
    return match(e.value(name), op, want)


def either(e: Entry, left: Callable[[Entry], bool], right: Callable[[Entry], bool]) -> bool:
    """`a or b` short-circuits: the right side (and its error) is not evaluated when the left passes."""
    return left(e) or right(e)


def both(e: Entry, left: Callable[[Entry], bool], right: Callable[[Entry], bool]) -> bool:
    """`a and b` / `a, b` evaluates both sides."""
    lok = left(e)
    rok = right(e)
    return lok and rok


def keep(e: Entry, *names: str, matchers: Iterable[tuple[str, str, str]] = ()) -> None:
    """`| keep`: drop every label not named (a matcher keeps its label only when it matches); errors stay."""
    ms = list(matchers)
    for name, value in list(e.labels().items()):
        if name in (ERR, ERR_DETAILS):
            continue
        if name in names or any(n == name and match(value, op, v) for n, op, v in ms):
            continue
        e.delete(name)


def drop(e: Entry, *names: str, matchers: Iterable[tuple[str, str, str]] = ()) -> None:
    for name in names:
        if name == ERR:
            e.err = ""
        elif name == ERR_DETAILS:
            e.details = ""
        elif e.get(name) is not None:
            e.delete(name)
    for name, op, v in matchers:
        if match(e.value(name), op, v):
            if name == ERR:
                e.err = ""
            else:
                e.delete(name)


def rename(e: Entry, dst: str, src: str) -> None:
    """`label_format dst=src`."""
    v = e.get(src)
    if v is not None:
        e.set(dst, v)
        e.delete(src)


# --- log query results -----------------------------------------------------------------------------

LogLine = tuple[Labels, int, str]


def log_result(kept: Iterable[Entry], limit: int, backward: bool = True) -> list[LogLine]:
    """readStreams: the first `limit` entries in query direction (timestamps are unique in the corpus)."""
    ordered = sorted(kept, key=lambda e: e.ts, reverse=backward)[:limit]
    return [(key(e.labels()), e.ts, e.line) for e in ordered]


# --- metric queries --------------------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    ts: int
    labels: dict[str, str]
    value: float


class PipelineErrorExpected(Exception):
    """The oracle's verdict that Loki refuses the query: a sample in some window carries __error__."""


def steps(start: int, end: int, step: int) -> list[int]:
    out, t = [], start
    while t <= end:
        out.append(t)
        t += step
    return out


def log_samples(es: Iterable[Entry], value: Callable[[Entry], float] = lambda e: 1.0) -> list[Sample]:
    return [Sample(e.ts, e.labels(), value(e)) for e in es]


def line_bytes(e: Entry) -> float:
    return float(len(e.line.encode()))


def unwrap(
    es: Iterable[Entry],
    label: str,
    conversion: str = "",
    post: Callable[[Entry], bool] | None = None,
    by: tuple[str, ...] | None = None,
    without: tuple[str, ...] = (),
) -> list[Sample]:
    """labelSampleExtractor.Process: convert, post-filter, then the grouped labels of the sample."""
    out = []
    for e in es:
        raw = e.get(label)
        if not raw:
            continue
        try:
            if conversion == "duration":
                v = go_duration_ns(raw) / 1e9
            elif conversion == "bytes":
                v = float(humanize_bytes(raw))
            else:
                v = go_float(raw)
        except ValueError:
            v = 0.0
            e.set_err("SampleExtractionErr", "conversion error")
        if post is not None and not post(e):
            continue
        labels = e.labels()
        if not e.err:
            if by is not None:
                labels = {k: v2 for k, v2 in labels.items() if k in by}
            else:
                labels = {k: v2 for k, v2 in labels.items() if k != label and k not in without}
        out.append(Sample(e.ts, labels, v))
    return out


def _quantile(q: float, values: list[float]) -> float:
    if not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    vs = sorted(values)
    rank = q * (len(vs) - 1)
    lo = max(0, math.floor(rank))
    hi = min(len(vs) - 1, lo + 1)
    w = rank - math.floor(rank)
    return vs[lo] * (1 - w) + vs[hi] * w


def _stdvar(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


def range_agg(
    samples: list[Sample],
    op: str,
    range_ns: int,
    at: list[int],
    offset: int = 0,
    param: float | None = None,
) -> SeriesSet:
    """`op(...[range] offset o)` at each step of `at` (ascending): window (t - o - range, t - o].

    Samples already carry their final labels (see `unwrap` for a range aggregation's own grouping).
    """
    grouped: dict[Labels, list[Sample]] = {}
    for s in samples:
        grouped.setdefault(key(s.labels), []).append(s)
    secs = range_ns / 1e9
    out: SeriesSet = {}
    for lk, ss in grouped.items():
        ss.sort(key=lambda s: s.ts)
        times = [s.ts for s in ss]
        # only steps whose window can reach a sample: times[0] + offset <= t < times[-1] + offset + range
        first, last = bisect_left(at, times[0] + offset), bisect_left(at, times[-1] + offset + range_ns)
        for t in at[first:last]:
            lo, hi = t - offset - range_ns, t - offset
            vs = [s.value for s in ss[bisect_right(times, lo) : bisect_right(times, hi)]]
            if not vs:
                continue
            if any(k == ERR for k, _ in lk):
                raise PipelineErrorExpected(dict(lk))
            out.setdefault(lk, {})[t] = _reduce(op, vs, secs, param)
    return out


def _reduce(op: str, vs: list[float], secs: float, param: float | None) -> float:
    match op:
        case "count_over_time":
            return float(len(vs))
        case "rate":
            return sum(vs) / secs  # count samples are 1.0; unwrapped rate is the sum per second
        case "bytes_over_time" | "sum_over_time":
            return sum(vs)
        case "bytes_rate":
            return sum(vs) / secs
        case "avg_over_time":
            return sum(vs) / len(vs)
        case "min_over_time":
            return min(vs)
        case "max_over_time":
            return max(vs)
        case "first_over_time":
            return vs[0]
        case "last_over_time":
            return vs[-1]
        case "stdvar_over_time":
            return _stdvar(vs)
        case "stddev_over_time":
            return math.sqrt(_stdvar(vs))
        case "quantile_over_time":
            assert param is not None
            return _quantile(param, vs)
    raise ValueError(op)


def absent_over_time(samples: list[Sample], range_ns: int, at: list[int], labels: dict[str, str]) -> SeriesSet:
    """1 with the selector's equality-matcher labels at each step whose window has no sample at all."""
    out: dict[int, float] = {}
    for t in at:
        if not any(t - range_ns < s.ts <= t for s in samples):
            out[t] = 1.0
    return {key(labels): out} if out else {}


# --- instant-vector operations, applied step by step -----------------------------------------------


def at_step(series: SeriesSet, t: int) -> dict[Labels, float]:
    return {lk: pts[t] for lk, pts in series.items() if t in pts}


def from_steps(per_step: dict[int, dict[Labels, float]]) -> SeriesSet:
    out: SeriesSet = {}
    for t, vec in per_step.items():
        for lk, v in vec.items():
            out.setdefault(lk, {})[t] = v
    return out


def per_step(series: SeriesSet, at: list[int], fn: Callable[[dict[Labels, float]], dict[Labels, float]]) -> SeriesSet:
    return from_steps({t: fn(at_step(series, t)) for t in at})


def group_key(lk: Labels, by: tuple[str, ...] | None, without: tuple[str, ...] = ()) -> Labels:
    if by is not None:
        return tuple((k, v) for k, v in lk if k in by)
    return tuple((k, v) for k, v in lk if k not in without)


def vector_agg(
    series: SeriesSet, at: list[int], op: str, by: tuple[str, ...] | None = None, without: tuple[str, ...] = ()
) -> SeriesSet:
    """sum/avg/min/max/count/stddev/stdvar `by (...)` or `without (...)` (no clause: one group, no labels)."""
    if by is None and not without:
        by = ()

    def agg(vec: dict[Labels, float]) -> dict[Labels, float]:
        groups: dict[Labels, list[float]] = {}
        for lk, v in vec.items():
            groups.setdefault(group_key(lk, by, without), []).append(v)
        out = {}
        for g, vs in groups.items():
            match op:
                case "sum":
                    out[g] = sum(vs)
                case "avg":
                    out[g] = sum(vs) / len(vs)
                case "min":
                    out[g] = min(vs)
                case "max":
                    out[g] = max(vs)
                case "count":
                    out[g] = float(len(vs))
                case "stdvar":
                    out[g] = _stdvar(vs)
                case "stddev":
                    out[g] = math.sqrt(_stdvar(vs))
        return out

    return per_step(series, at, agg)


def topk(
    series: SeriesSet, at: list[int], k: int, bottom: bool = False, by: tuple[str, ...] | None = None
) -> SeriesSet:
    """topk/bottomk keep whole input series (their own labels); ties at the cut are a test-design error."""

    def pick(vec: dict[Labels, float]) -> dict[Labels, float]:
        groups: dict[Labels, list[tuple[Labels, float]]] = {}
        for lk, v in vec.items():
            groups.setdefault(group_key(lk, by if by is not None else ()), []).append((lk, v))
        out = {}
        for members in groups.values():
            members.sort(key=lambda m: m[1], reverse=not bottom)
            if len(members) > k and members[k - 1][1] == members[k][1]:
                raise AssertionError(f"tie at the topk cut: {members[k - 1]} / {members[k]}")
            out.update(members[:k])
        return out

    return per_step(series, at, pick)


def scalar_op(series: SeriesSet, at: list[int], op: str, value: float, scalar_left: bool = False,
              bool_: bool = False) -> SeriesSet:  # fmt: skip
    """vector op scalar (or scalar op vector): labels kept; comparisons filter and keep the vector's value."""

    def apply(vec: dict[Labels, float]) -> dict[Labels, float]:
        out = {}
        for lk, v in vec.items():
            a, b = (value, v) if scalar_left else (v, value)
            r = binop(op, a, b)
            if op in _CMP:
                if bool_:
                    out[lk] = r
                elif r:
                    out[lk] = v
            else:
                out[lk] = r
        return out

    return per_step(series, at, apply)


def binop(op: str, a: float, b: float) -> float:
    match op:
        case "+":
            return a + b
        case "-":
            return a - b
        case "*":
            return a * b
        case "/":
            return math.nan if b == 0 else a / b
        case "%":
            return math.nan if b == 0 else math.fmod(a, b)
        case "^":
            return math.pow(a, b)
    return 1.0 if _CMP[op](a, b) else 0.0


def _signature(lk: Labels, on: tuple[str, ...] | None, ignoring: tuple[str, ...]) -> Labels:
    if on is not None:
        return tuple((k, v) for k, v in lk if k in on)
    return tuple((k, v) for k, v in lk if k not in ignoring)


def vector_op(
    left: SeriesSet,
    right: SeriesSet,
    at: list[int],
    op: str,
    on: tuple[str, ...] | None = None,
    ignoring: tuple[str, ...] = (),
    bool_: bool = False,
    group_left: tuple[str, ...] | None = None,
    group_right: tuple[str, ...] | None = None,
) -> SeriesSet:
    """Vector-vector operations per step, Loki's vectorBinop / vectorAnd / vectorOr / vectorUnless.

    group_left / group_right (arithmetic only here): the result keeps the "many" side's labels plus the
    included labels of the "one" side; the value is still `left op right`.
    """

    def many_to_one(lv: dict[Labels, float], rv: dict[Labels, float]) -> dict[Labels, float]:
        one, many, include = (rv, lv, group_left) if group_left is not None else (lv, rv, group_right)
        assert include is not None
        one_by_sig = {_signature(lk, on, ignoring): (lk, v) for lk, v in one.items()}
        out = {}
        for mlk, mv in many.items():
            sig = _signature(mlk, on, ignoring)
            if sig not in one_by_sig:
                continue
            olk, ov = one_by_sig[sig]
            labels, od = dict(mlk), dict(olk)
            for n in include:
                if od.get(n):
                    labels[n] = od[n]
                else:
                    labels.pop(n, None)
            out[key(labels)] = binop(op, mv, ov) if group_left is not None else binop(op, ov, mv)
        return out

    def apply(t: int) -> dict[Labels, float]:
        lv, rv = at_step(left, t), at_step(right, t)
        if group_left is not None or group_right is not None:
            return many_to_one(lv, rv)
        rsig = {_signature(lk, on, ignoring): (lk, v) for lk, v in rv.items()}
        lsig = {_signature(lk, on, ignoring) for lk in lv}
        if op == "and":
            return {lk: v for lk, v in lv.items() if _signature(lk, on, ignoring) in rsig} if rv else {}
        if op == "unless":
            return {lk: v for lk, v in lv.items() if _signature(lk, on, ignoring) not in rsig}
        if op == "or":
            out = dict(lv)
            out.update({lk: v for lk, v in rv.items() if _signature(lk, on, ignoring) not in lsig})
            return out
        out = {}
        for lk, v in lv.items():
            sig = _signature(lk, on, ignoring)
            if sig not in rsig:
                continue
            _, rvalue = rsig[sig]
            r = binop(op, v, rvalue)
            if op in _CMP and not bool_ and not r:
                continue
            value = v if (op in _CMP and not bool_) else r
            if on is not None:
                out[sig] = value
            else:
                out[tuple((k, x) for k, x in lk if k not in ignoring)] = value
        return out

    return from_steps({t: apply(t) for t in at})


def _expand(m: re.Match[str], template: str) -> str:
    groups = (m.group(0), *m.groups())
    return re.sub(r"\$\{?(\d+)\}?", lambda g: groups[int(g.group(1))] or "", template)


def label_replace(series: SeriesSet, dst: str, replacement: str, src: str, regex_: str) -> SeriesSet:
    """Anchored regex over the source value; `$1` / `${1}` expansions; an empty result deletes dst."""
    out: SeriesSet = {}
    rx = re.compile(f"^(?:{regex_})$", re.S)
    for lk, pts in series.items():
        labels = dict(lk)
        m = rx.match(labels.get(src, ""))
        if m is not None:
            res = _expand(m, replacement)
            labels.pop(dst, None)
            if res:
                labels[dst] = res
        out.setdefault(key(labels), {}).update(pts)
    return out


def vector_literal(value: float, at: list[int]) -> SeriesSet:
    return {(): dict.fromkeys(at, value)}
