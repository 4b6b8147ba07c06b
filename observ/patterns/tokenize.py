"""Line tokenizers of Loki's pattern miner (`pkg/pattern/drain/line_tokenizer.go`).

A tokenizer turns a line into the tokens Drain compares position by position, plus whatever state it
needs to print a template back (`join`): the punctuation tokenizer keeps where the spaces were, the
logfmt one re-encodes key/value pairs, the JSON one mines only the message field. Which one a stream
gets is decided from its first line (`detect_format`).
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from observ.logql.log.logfmt import logfmt_pairs

PLACEHOLDER = "<_>"
FORMAT_JSON, FORMAT_LOGFMT, FORMAT_UNKNOWN = "json", "logfmt", "unknown"
DEFAULT_JSON_FIELDS = ("log", "message", "msg", "msg_", "_msg", "content")
"""Loki's `pattern_ingester_tokenizable_json_fields_default`: the first of these holding a string is mined."""
MAX_TOKENS = 127
"""The punctuation tokenizer stops splitting here and keeps the rest of the line as one token."""

_LOGFMT = re.compile(r'^(\w+?=([^"]\S*?|".+?") )*?(\w+?=([^"]\S*?|".+?"))+$')
_VARIABLE_KEYS = frozenset({"ts", "traceid", "time", "timestamp"})
"""Keys whose values the logfmt tokenizer replaces by the placeholder (case-insensitive), and `t` exactly."""

Tokens = list[str]


class Tokenizer(Protocol):
    def tokenize(self, line: str) -> tuple[Tokens, object] | None:
        """Tokens and join state, or None when the line is not mined (too long, not in this format)."""
        ...

    def join(self, tokens: Sequence[str], state: object) -> str: ...


def detect_format(line: str) -> str:
    """`DetectLogFormat`: `{...}` is JSON, a line of key=value pairs logfmt, anything else unknown."""
    if len(line) < 2:
        return FORMAT_UNKNOWN
    if line[0] == "{" and line[-1] == "}":
        return FORMAT_JSON
    return FORMAT_LOGFMT if _LOGFMT.match(line) else FORMAT_UNKNOWN


_PLANES_WITH_P_OR_N = 0x20000
"""No code point above the first two planes is punctuation or a number (checked against Unicode 14)."""


@cache
def _classes() -> tuple[str, str]:
    """The characters of Go's unicode.IsPunct (category P) and unicode.IsNumber (category N)."""
    punct: list[str] = []
    number: list[str] = []
    for c in range(_PLANES_WITH_P_OR_N):
        category = unicodedata.category(chr(c))[0]
        if category == "P":
            punct.append(chr(c))
        elif category == "N":
            number.append(chr(c))
    return "".join(punct), "".join(number)


@cache
def _splitter() -> re.Pattern[str]:
    """Space, `=` and punctuation except `_ - . : /`, captured so `split` keeps them (one class: fast)."""
    kept = "".join(re.escape(c) for c in _classes()[0] if c not in "_-.:/")
    return re.compile("([ =" + kept + "])")


_ASCII_SPLITTER = re.compile(r"""([ =!"#%&'()*,;?@\[\\\]{}])""")
"""`_splitter` for ASCII lines (most of them): a small class is many times faster than the Unicode one."""


@cache
def _number() -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(c) for c in _classes()[1]) + "]")


_ASCII_DIGIT = re.compile("[0-9]")


def has_number(token: str) -> bool:
    return (_ASCII_DIGIT if token.isascii() else _number()).search(token) is not None


def _too_long(line: str, max_bytes: int) -> bool:
    return len(line) > max_bytes or (len(line) * 4 > max_bytes and len(line.encode()) > max_bytes)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a line's tokens and spaces were: `re.split` parts (text, delimiter, text, ...), `join` state.

    Every non-empty part but a lone space is a token; when `capped`, the last part is the rest of the line,
    one token whatever it holds.
    """

    parts: list[str]
    capped: bool = False


class PunctuationTokenizer:
    """Splits at spaces (dropped, remembered for `join`), `=` and punctuation (kept as one-character tokens)."""

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes

    def tokenize(self, line: str) -> tuple[Tokens, Layout] | None:
        if _too_long(line, self.max_line_bytes):
            return None
        parts = (_ASCII_SPLITTER if line.isascii() else _splitter()).split(line)
        if len(parts) <= MAX_TOKENS + 1:  # too few parts for the cap to be reached before the last delimiter
            return [p for p in parts if p and p != " "], Layout(parts)
        tokens: Tokens = []
        pos = 0
        for k in range(0, len(parts) - 1, 2):
            if len(tokens) >= MAX_TOKENS:
                rest = line[pos:]
                return [*tokens, rest] if rest else tokens, Layout([*parts[:k], rest], capped=bool(rest))
            text, delimiter = parts[k], parts[k + 1]
            if text:
                tokens.append(text)
            if delimiter != " ":
                tokens.append(delimiter)
            pos += len(text) + 1
        if parts[-1]:
            tokens.append(parts[-1])
        return tokens, Layout(parts)

    def join(self, tokens: Sequence[str], state: object) -> str:
        """The template's tokens in the first line's layout: its spaces, leading ones too (Loki drops those)."""
        if not isinstance(state, Layout):
            raise TypeError(f"join takes the Layout this tokenizer's tokenize made, got {type(state).__name__}")
        parts, out, i = state.parts, [], 0
        last = len(parts) - 1
        for k, part in enumerate(parts):
            if not part:
                continue
            if part == " " and not (state.capped and k == last):
                out.append(" ")
            else:
                out.append(tokens[i])
                i += 1
        return "".join(out)


def _logfmt_key(key: str) -> str:
    """go-logfmt drops runes not allowed in a key (space and below, `=`, `"`, U+FFFD)."""
    return "".join(c for c in key if c > " " and c not in '="\ufffd')


_NEEDS_QUOTE = re.compile('[\x00-\x20="\x7f\ufffd]')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _logfmt_value(value: str) -> str:
    """go-logfmt's writeBytesValue: quoted, JSON-escaped, when it holds a space, control, `=`, `"` or U+FFFD."""
    if not _NEEDS_QUOTE.search(value):
        return value
    escaped = "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if c < " " else c) for c in value)
    return f'"{escaped}"'


class LogfmtTokenizer:
    """Tokens are keys and values alternately; time and trace ID values are the placeholder already."""

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes

    def tokenize(self, line: str) -> tuple[Tokens, None] | None:
        if _too_long(line, self.max_line_bytes):
            return None
        pairs, error = logfmt_pairs(line, strict=True)
        if error is not None:
            return None
        tokens: Tokens = []
        for key, value in pairs:
            variable = key == "t" or key.lower() in _VARIABLE_KEYS
            tokens += (key, PLACEHOLDER if variable else value)
        return tokens, None

    def join(self, tokens: Sequence[str], state: object) -> str:
        """go-logfmt's encoder; a key with nothing printable left makes the whole template empty, as in Loki."""
        items = list(tokens) + [""] * (len(tokens) % 2)
        out = []
        for i in range(0, len(items), 2):
            key = _logfmt_key(items[i])
            if not key:
                return ""
            out.append(f"{key}={_logfmt_value(items[i + 1])}")
        return " ".join(out)


_WS = " \t\n\r"


class _JsonScanError(ValueError):
    pass


class _TopLevelStrings:
    """The raw (still escaped) string values of a JSON object's top-level keys, read up to the first error.

    As buger/jsonparser's `Get(line, key)`: values are not unescaped and the object is not validated past
    the keys it returns, so a line broken after its message field still yields the message.
    """

    def __init__(self, line: str) -> None:
        self.s, self.i = line, 0
        self.values: dict[str, str | None] = {}
        with contextlib.suppress(_JsonScanError, IndexError):
            self._object()

    def _ws(self) -> None:
        while self.s[self.i] in _WS:
            self.i += 1

    def _string(self) -> str:
        s, start = self.s, self.i + 1
        i = start
        while s[i] != '"':
            i += 2 if s[i] == "\\" else 1
        self.i = i + 1
        return s[start:i]

    def _skip(self) -> None:
        s = self.s
        c = s[self.i]
        if c == '"':
            self._string()
        elif c in "{[":
            depth = 0
            while True:
                c = s[self.i]
                if c == '"':
                    self._string()
                    continue
                if c in "{[":
                    depth += 1
                elif c in "}]":
                    depth -= 1
                self.i += 1
                if depth == 0:
                    return
        else:
            start = self.i
            while s[self.i] not in ",}] \t\n\r":
                self.i += 1
            if self.i == start:
                raise _JsonScanError("empty value")

    def _object(self) -> None:
        self._ws()
        if self.s[self.i] != "{":
            raise _JsonScanError("not an object")
        self.i += 1
        while True:
            self._ws()
            if self.s[self.i] == "}":
                return
            if self.s[self.i] != '"':
                raise _JsonScanError("key expected")
            key = self._string()
            self._ws()
            if self.s[self.i] != ":":
                raise _JsonScanError("colon expected")
            self.i += 1
            self._ws()
            is_string = self.s[self.i] == '"'
            start = self.i
            self._skip()
            if key not in self.values:
                self.values[key] = self.s[start + 1 : self.i - 1] if is_string else None
            self._ws()
            if self.s[self.i] == ",":
                self.i += 1
            elif self.s[self.i] != "}":
                raise _JsonScanError("comma expected")


class JsonTokenizer:
    """Mines the first string field of `fields` (the message) with the punctuation tokenizer; `<_>msg<_>`."""

    def __init__(self, max_line_bytes: int, fields: Sequence[str] = DEFAULT_JSON_FIELDS) -> None:
        self.punctuation = PunctuationTokenizer(max_line_bytes)
        self.fields = tuple(fields)

    def tokenize(self, line: str) -> tuple[Tokens, Layout] | None:
        message = None
        if "\\" not in line:  # no escapes: decoded strings are the raw ones, and the C parser is far faster
            try:
                doc = json.loads(line)
            except ValueError:
                doc = None
            if isinstance(doc, dict):  # a duplicated key gives the last value here, the first in Loki
                message = next((v for f in self.fields if isinstance(v := doc.get(f), str)), None)
                return None if message is None else self.punctuation.tokenize(message)
        values = _TopLevelStrings(line).values
        message = next((v for f in self.fields if (v := values.get(f)) is not None), None)
        return None if message is None else self.punctuation.tokenize(message)

    def join(self, tokens: Sequence[str], state: object) -> str:
        return PLACEHOLDER + self.punctuation.join(tokens, state) + PLACEHOLDER


def tokenizer_for(fmt: str, max_line_bytes: int, json_fields: Sequence[str] = DEFAULT_JSON_FIELDS) -> Tokenizer:
    """Loki's `drain.New` choice: JSON and logfmt streams get their own tokenizer, the rest punctuation."""
    if fmt == FORMAT_JSON:
        return JsonTokenizer(max_line_bytes, json_fields)
    if fmt == FORMAT_LOGFMT:
        return LogfmtTokenizer(max_line_bytes)
    return PunctuationTokenizer(max_line_bytes)


def deduplicate_placeholders(line: str, placeholder: str = PLACEHOLDER) -> str:
    """Runs of adjacent placeholders print as one (`<_><_>` -> `<_>`)."""
    double = placeholder * 2
    while double in line:
        line = line.replace(double, placeholder)
    return line
