"""Line tokenizers of Loki's pattern miner (`pkg/pattern/drain/line_tokenizer.go`).

A tokenizer turns a line into the tokens Drain compares position by position, plus whatever state it
needs to print a template back (`join`): the punctuation tokenizer keeps where the spaces were, the
logfmt one re-encodes key/value pairs, the JSON one mines only the message field. Which one a stream
gets is decided from its first line (`detect_format`).
"""

from __future__ import annotations

import contextlib
import re
import sys
import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import Protocol

from observ.logql.parsers import logfmt_pairs

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


def _category_class(keep: str, exclude: str = "") -> str:
    """A regex character class of every code point whose Unicode category starts with one of `keep`."""
    chars = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] in keep]
    return "[" + "".join(re.escape(c) for c in chars if c not in exclude) + "]"


@cache
def _delimiters() -> re.Pattern[str]:
    """Space, `=` and Unicode punctuation except `_ - . : /` (Go's unicode.IsPunct: category P)."""
    return re.compile("[ =]|" + _category_class("P", exclude="_-.:/"))


@cache
def _number() -> re.Pattern[str]:
    """Go's unicode.IsNumber: category N."""
    return re.compile(_category_class("N"))


def has_number(token: str) -> bool:
    return _number().search(token) is not None


def _too_long(line: str, max_bytes: int) -> bool:
    return len(line) > max_bytes or (len(line) * 4 > max_bytes and len(line.encode()) > max_bytes)


class PunctuationTokenizer:
    """Splits at spaces (dropped, remembered for `join`), `=` and punctuation (kept as one-character tokens)."""

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes

    def tokenize(self, line: str) -> tuple[Tokens, list[int]] | None:
        if _too_long(line, self.max_line_bytes):
            return None
        tokens: Tokens = []
        spaces_after: list[int] = []
        start = 0
        for m in _delimiters().finditer(line):
            if len(tokens) >= MAX_TOKENS:
                break
            i = m.start()
            if i > start:
                tokens.append(line[start:i])
            char = m.group()
            if char == " ":
                spaces_after.append(len(tokens) - 1)
            else:
                tokens.append(char)
            start = i + 1
        if start < len(line):
            tokens.append(line[start:])
        return tokens, spaces_after

    def join(self, tokens: Sequence[str], state: object) -> str:
        """Tokens with their spaces back; spaces before the first token too (Loki loses them: its index is -1)."""
        spaces_after: list[int] = state  # type: ignore[assignment]
        out: list[str] = []
        k = 0
        while k < len(spaces_after) and spaces_after[k] < 0:
            out.append(" ")
            k += 1
        for i, token in enumerate(tokens):
            out.append(token)
            while k < len(spaces_after) and spaces_after[k] == i:
                out.append(" ")
                k += 1
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

    def tokenize(self, line: str) -> tuple[Tokens, list[int]] | None:
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
