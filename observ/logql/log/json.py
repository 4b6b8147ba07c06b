"""`| json`, with or without expressions: Loki's JSON parser, flattened with `_`.

Loki parses JSON with buger/jsonparser, which is lenient (trailing text is ignored, numbers keep their
spelling) and reports errors in its own words. The fast path here is the C `json` decoder with numbers kept
as text; a line it refuses, or one with a lone surrogate escape, goes through a port of jsonparser so the
labels extracted before an error and the `__error_details__` text are the ones Loki gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from typing import Any

import orjson

from observ.logql.errors import LogQLError
from observ.logql.log.names import append_sanitized, clean_value, sanitize_key, valid_label_name

_NAME_CACHE_MAX = 20_000
_NAMES: dict[str, dict[str, str]] = {}
"""Flattened label name per (prefix, key), memoised: the same keys come back on every line."""
_names_size = 0


def _names(prefix: str) -> dict[str, str]:
    names = _NAMES.get(prefix)
    if names is None:
        names = _NAMES[prefix] = {}
    return names


def _name_miss(names: dict[str, str], prefix: str, key: str) -> str:
    """A blank key adds nothing to the name, as in Loki (`{"a":{" ":{"b":1}}}` is `a_b`)."""
    global _names_size
    name = append_sanitized(prefix + "_" if prefix else "", key) if key.strip() else prefix
    if _names_size < _NAME_CACHE_MAX:
        names[key] = name
        _names_size += 1
    return name


def _name(prefix: str, key: str) -> str:
    names = _names(prefix)
    return names.get(key) or _name_miss(names, prefix, key)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


_DECODER = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=_reject_constant, strict=False)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_NEGATIVE_ZERO = re.compile(r"-0(?![.0-9eE])")
_MEMBER_NUMBER = re.compile(r"\"\s*:\s*(-?[0-9][0-9.eE+-]*)")


def _floats_canonical(line: str) -> bool:
    """Every number that is an object member's value is spelled as Python's repr spells its float.

    Then orjson's floats print back to the line's own text and the exact (slower) decode is not needed.
    """
    for token in _MEMBER_NUMBER.findall(line):
        if "." in token or "e" in token or "E" in token:
            try:
                if repr(float(token)) != token:
                    return False
            except ValueError:
                return False
    return True


def _exact_decode(line: str) -> Any:
    """The document with numbers as their text; None when only the jsonparser port can say what Loki does."""
    if "\\u" in line and _SURROGATE_ESCAPE.search(line):
        return None
    try:
        return _DECODER.decode(line)
    except (ValueError, RecursionError):
        return None


def quick_decode(line: str) -> Any:
    """orjson's document: right for strings, bools and integers (not `-0`); floats lose their spelling."""
    if "\\u" in line and _SURROGATE_ESCAPE.search(line):
        return None
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _exact_decode(line)


def _flatten(
    obj: dict[str, Any],
    prefix: str,
    out: dict[str, str],
    line: str,
    stream: Container[str],
    meta: Container[str],
    floats: list[bool | None],
) -> bool:
    """Loki's parseObject over a decoded object; False on a float (or -0) whose spelling only the text has."""
    names = _names(prefix)
    for key, value in obj.items():
        t = type(value)
        if t is str:
            if "\ufffd" in value:
                value = value.replace("\ufffd", " ")
        elif t is dict:
            if not _flatten(value, names.get(key) or _name_miss(names, prefix, key), out, line, stream, meta, floats):
                return False
            continue
        elif t is int:
            if not value and _NEGATIVE_ZERO.search(line):
                return False
            value = str(value)
        elif t is bool:
            value = "true" if value else "false"
        elif t is float:
            if floats[0] is None:
                floats[0] = _floats_canonical(line)
            if not floats[0]:
                return False
            value = repr(value)
        else:
            continue
        name = names.get(key) or _name_miss(names, prefix, key)
        if name:
            if name in stream and name not in meta:
                name += "_extracted"
            out[name] = value
    return True


def json_labels(line: str, out: dict[str, str], stream: Container[str] = (), meta: Container[str] = ()) -> str | None:
    """`| json` into `out`: strings, numbers and bools, nested objects flattened with `_`, arrays and nulls
    skipped. A name found in `stream` (and not in `meta`) gets the `_extracted` suffix.

    Returns the error text; on an error the labels found before it are kept, as in Loki.
    """
    doc = quick_decode(line)
    if type(doc) is dict and _flatten(doc, "", out, line, stream, meta, [None]):
        return None
    doc = _exact_decode(line)
    if type(doc) is dict:
        _flatten(doc, "", out, line, stream, meta, [None])
        return None
    found: dict[str, str] = {}
    try:
        JsonScan(line).object_each(0, len(line), "", found)
    except JsonError as e:
        return str(e)
    finally:
        for name, value in found.items():
            out[name + "_extracted" if name in stream and name not in meta else name] = value
    return None


def parse_json(line: str) -> dict[str, str]:
    """Flattened labels of a JSON line; ValueError with jsonparser's message when the line is not an object."""
    labels: dict[str, str] = {}
    err = json_labels(line, labels)
    if err is not None:
        raise ValueError(err)
    return labels


class JsonError(Exception):
    pass


_MALFORMED_OBJECT = "Value looks like object, but can't find closing '}' symbol"
_MALFORMED_ARRAY = "Value is array, but can't find closing ']' symbol"
_MALFORMED_JSON = "Malformed JSON error"
_MALFORMED_STRING = "Value is string, but can't find closing '\"' symbol"
_UNKNOWN_TYPE = "Unknown value type"
_BAD_ESCAPE = "Encountered an invalid escape sequence in a string"
_WS = " \n\r\t"
_TOKEN_END = set(" \n\r\t,}]")
STRING, NUMBER, BOOL, NULL, OBJECT, ARRAY = range(6)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE_RE = re.compile(r"\\(u[dD][89abAB][0-9a-fA-F]{2}\\u[0-9a-fA-F]{4}|u[0-9a-fA-F]{4}|.?)", re.DOTALL)
"""A high surrogate is taken together with the escape after it, so a pair decodes as one code point."""


def unescape(raw: str) -> str:
    """jsonparser.Unescape: JSON escapes only; a lone surrogate or unknown escape is an error."""
    if "\\" not in raw:
        return raw

    def repl(m: re.Match[str]) -> str:
        esc = m.group(1)
        if len(esc) < 5:
            if esc not in _ESCAPES:
                raise JsonError(_BAD_ESCAPE)
            return _ESCAPES[esc]
        r = int(esc[1:5], 16)
        if not 0xD800 <= r <= 0xDFFF:
            return chr(r)
        if len(esc) == 5 or not 0xDC00 <= (r2 := int(esc[7:11], 16)) <= 0xDFFF or r >= 0xDC00:
            raise JsonError(_BAD_ESCAPE)
        return chr(0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00))

    return _ESCAPE_RE.sub(repl, raw)


def value_text(raw: str) -> str:
    """readValue for strings: an escape jsonparser cannot decode gives an empty value, not an error."""
    try:
        return clean_value(unescape(raw))
    except JsonError:
        return ""


class JsonScan:
    """A port of the parts of buger/jsonparser Loki uses: ObjectEach, ArrayEach and value typing."""

    def __init__(self, data: str) -> None:
        self.data = data

    def next_token(self, i: int, end: int) -> int:
        data = self.data
        while i < end:
            if data[i] not in _WS:
                return i
            i += 1
        return -1

    def string_end(self, i: int, end: int) -> int:
        """Index just past the closing quote of a string whose content starts at `i`, or -1."""
        data = self.data
        while True:
            j = data.find('"', i, end)
            if j < 0:
                return -1
            k = j - 1
            while k >= i and data[k] == "\\":
                k -= 1
            if (j - 1 - k) % 2 == 0:
                return j + 1
            i = j + 1

    def block_end(self, i: int, end: int, open_: str, close: str) -> int:
        data = self.data
        level = 0
        while i < end:
            c = data[i]
            if c == '"':
                se = self.string_end(i + 1, end)
                if se < 0:
                    return -1
                i = se - 1
            elif c == open_:
                level += 1
            elif c == close:
                level -= 1
                if level == 0:
                    return i + 1
            i += 1
        return -1

    def get_value(self, i: int, end: int) -> tuple[int, int, int]:
        """(type, start, end) of the value at `i` (string bounds exclude the quotes)."""
        data = self.data
        c = data[i]
        if c == '"':
            se = self.string_end(i + 1, end)
            if se < 0:
                raise JsonError(_MALFORMED_STRING)
            return STRING, i + 1, se - 1
        if c == "[":
            be = self.block_end(i, end, "[", "]")
            if be < 0:
                raise JsonError(_MALFORMED_ARRAY)
            return ARRAY, i, be
        if c == "{":
            be = self.block_end(i, end, "{", "}")
            if be < 0:
                raise JsonError(_MALFORMED_OBJECT)
            return OBJECT, i, be
        j = i
        while j < end and data[j] not in _TOKEN_END:
            j += 1
        token = data[i:j]
        if c in "tf":
            if token not in ("true", "false"):
                raise JsonError(_UNKNOWN_TYPE)
            return BOOL, i, j
        if c in "un":
            if token != "null":
                raise JsonError(_UNKNOWN_TYPE)
            return NULL, i, j
        if c in "-0123456789":
            return NUMBER, i, j
        raise JsonError(_UNKNOWN_TYPE)

    def value_after(self, i: int, end: int) -> tuple[int, int, int]:
        j = self.next_token(i, end)
        if j < 0:
            raise JsonError(_MALFORMED_JSON)
        return self.get_value(j, end)

    def members(self, i: int, end: int) -> Any:
        """ObjectEach: yields (key, type, start, end) until the closing brace; raises as jsonparser returns."""
        data = self.data
        j = self.next_token(i, end)
        if j < 0 or data[j] != "{":
            raise JsonError(_MALFORMED_OBJECT)
        j = self.next_token(j + 1, end)
        if j < 0:
            raise JsonError(_MALFORMED_JSON)
        while j < end:
            c = data[j]
            if c == "}":
                return
            if c != '"':
                raise JsonError(_MALFORMED_OBJECT)
            se = self.string_end(j + 1, end)
            if se < 0:
                raise JsonError(_MALFORMED_JSON)
            key = data[j + 1 : se - 1]
            if "\\" in key:
                key = unescape(key)
            j = self.next_token(se, end)
            if j < 0 or data[j] != ":":
                raise JsonError(_MALFORMED_JSON)
            kind, vs, ve = self.value_after(j + 1, end)
            yield key, kind, vs, ve
            j = self.next_token(ve + (1 if kind == STRING else 0), end)
            if j < 0:
                raise JsonError(_MALFORMED_ARRAY)
            if data[j] == "}":
                return
            if data[j] != ",":
                raise JsonError(_MALFORMED_OBJECT)
            j = self.next_token(j + 1, end)
            if j < 0:
                raise JsonError(_MALFORMED_ARRAY)
        raise JsonError(_MALFORMED_OBJECT)

    def elements(self, i: int, end: int) -> Any:
        """ArrayEach, as far as path lookups need it: yields (type, start, end)."""
        data = self.data
        j = self.next_token(i, end)
        if j < 0 or data[j] != "[":
            raise JsonError(_MALFORMED_ARRAY)
        j = self.next_token(j + 1, end)
        if j < 0:
            raise JsonError(_MALFORMED_JSON)
        if data[j] == "]":
            return
        while j < end:
            kind, vs, ve = self.get_value(j, end)
            yield kind, vs, ve
            j = self.next_token(ve + (1 if kind == STRING else 0), end)
            if j < 0:
                raise JsonError(_MALFORMED_ARRAY)
            if data[j] == "]":
                return
            if data[j] != ",":
                raise JsonError(_MALFORMED_ARRAY)
            j = self.next_token(j + 1, end)
            if j < 0:
                raise JsonError(_MALFORMED_ARRAY)

    def object_each(self, i: int, end: int, prefix: str, out: dict[str, str]) -> None:
        """JSONParser.parseObject: labels are set as the scan goes, so they survive a later error."""
        data = self.data
        for key, kind, vs, ve in self.members(i, end):
            if kind == OBJECT:
                self.object_each(vs, ve, _name(prefix, key), out)
            elif kind in (STRING, NUMBER, BOOL):
                name = _name(prefix, key)
                if name:
                    raw = data[vs:ve]
                    out[name] = value_text(raw) if kind == STRING else raw

    def lookup(self, path: list[str | int]) -> tuple[int, int, int] | None:
        """The value at a json expression path (first matching key), or None."""
        kind, vs, ve = OBJECT, 0, len(self.data)
        first = True
        for step in path:
            found = None
            if isinstance(step, int):
                if not (first or kind == ARRAY):
                    return None
                for idx, el in enumerate(self.elements(vs, ve)):
                    if idx == step:
                        found = el
                        break
            else:
                if not (first or kind == OBJECT):
                    return None
                for key, k, s, e in self.members(vs, ve):
                    if key == step:
                        found = (k, s, e)
                        break
            if found is None:
                return None
            kind, vs, ve = found
            first = False
        return kind, vs, ve


# --- json with expressions -------------------------------------------------------------------------


_EXTRACTED = "_extracted"
_JSON_SCALARS = (STRING, NUMBER, BOOL)
"""The value kinds Loki's JSON parser makes labels of (arrays and null are skipped)."""


def _prefixed_name(parts: list[str]) -> str:
    """Loki's buildSanitizedPrefixFromBuffer: the sanitized non-blank keys joined by `_`."""
    name = ""
    for part in parts:
        name = _name(name, part)
    return name


def json_paths(line: str, taken: Container[str] = ()) -> dict[str, list[str]]:
    """Loki's JSON parser with `captureJSONPath` (pkg/logql/log/parser.go): field name -> the keys it came from.

    A name in `taken` (the stream's labels) is the field `<name>_extracted`, its path unchanged. As Loki, a
    top-level key's path is the key as written; nested paths lose an `_extracted` ending on every key. Empty
    when the line is not a JSON object (Loki then reads it as logfmt, whose fields have no path). Lines are
    scanned as Loki's jsonparser scans them, so the lines it accepts and `| json` accepts get paths too.
    """
    scan = JsonScan(line)
    paths: dict[str, list[str]] = {}

    def walk(start: int, end: int, prefix: list[str]) -> None:
        for key, kind, vs, ve in scan.members(start, end):
            if kind == OBJECT:
                walk(vs, ve, [*prefix, key])
            elif kind in _JSON_SCALARS and not prefix:
                name = sanitize_key(key)
                if name:
                    paths[name + _EXTRACTED if name in taken else name] = [key]
            elif kind in _JSON_SCALARS:
                name = _prefixed_name([*prefix, key])
                if name in taken:
                    name = _prefixed_name([*prefix, key + _EXTRACTED])
                paths[name] = [k.removesuffix(_EXTRACTED) for k in (*prefix, key)]

    try:
        walk(0, len(line), [])
    except JsonError:
        return {}
    return paths


def _jsonexpr_tokens(expr: str) -> list[tuple[str, str | int]]:
    """jsonexpr's scanner: `[`, `]`, `.`, fields, integer indexes and `"keys"` (which also end at `]`)."""
    tokens: list[tuple[str, str | int]] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in " \t\n":
            i += 1
        elif "0" <= c <= "9":
            j = i
            while j < n and "0" <= expr[j] <= "9":
                j += 1
            if j < n and expr[j] == ".":
                raise LogQLError(f"cannot parse expression [{expr}]: cannot use float as array index")
            if j >= n or expr[j] not in " \t\n]":
                raise LogQLError(f"cannot parse expression [{expr}]: non-integer value")
            tokens.append(("index", int(expr[i:j])))
            i = j
        elif c in "[].":
            tokens.append((c, c))
            i += 1
        elif c == "_" or (c.isascii() and c.isalpha()):
            j = i + 1
            while j < n and (expr[j] == "_" or (expr[j].isascii() and expr[j].isalnum())):
                j += 1
            tokens.append(("field", expr[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and expr[j] not in '"]':
                j += 1
            tokens.append(("key", expr[i + 1 : j]))
            i = j + 1
        else:
            raise LogQLError(f"cannot parse expression [{expr}]: unexpected char {c}")
    return tokens


def parse_json_path(expr: str) -> list[str | int]:
    """Loki's jsonexpr: `a.b`, `a["b"]`, `list[0]` and any nesting of them; a path starts with a field or `[`."""
    tokens = _jsonexpr_tokens(expr)
    path: list[str | int] = []
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "field" and i == 0:
            path.append(value)
            i += 1
        elif kind == "." and i > 0 and i + 1 < len(tokens) and tokens[i + 1][0] == "field":
            path.append(tokens[i + 1][1])
            i += 2
        elif kind == "[" and i + 2 < len(tokens) and tokens[i + 1][0] in ("key", "index") and tokens[i + 2][0] == "]":
            path.append(tokens[i + 1][1])
            i += 3
        else:
            raise LogQLError(f"cannot parse expression [{expr}]: syntax error")
    if not path:
        raise LogQLError(f"cannot parse expression [{expr}]: syntax error")
    return path


_MISSING = object()


def _walk(doc: Any, path: list[str | int]) -> Any:
    for step in path:
        if isinstance(step, int):
            if type(doc) is not list or step >= len(doc):
                return _MISSING
            doc = doc[step]
        else:
            if type(doc) is not dict or step not in doc:
                return _MISSING
            doc = doc[step]
    return doc


class JsonFields:
    """`| json a="x.y", b="list[0]"`: each label gets the value at its path, or "" when absent.

    Objects and arrays are returned as their JSON text, null as "".
    """

    def __init__(self, params: tuple[tuple[str, str], ...]) -> None:
        self.ids: list[str] = []
        self.paths: list[list[str | int] | None] = []
        for ident, expr in params:
            if not valid_label_name(ident):
                raise LogQLError(f"invalid extracted label name '{ident}'")
            self.ids.append(ident)
            self.paths.append(parse_json_path(expr) if expr else None)

    def extract(self, line: str) -> list[tuple[str, str]]:
        """(id, value) for each path found; the caller gives the missing ids an empty value."""
        doc = quick_decode(line)
        out: list[tuple[str, str]] = []
        scan: JsonScan | None = None
        for ident, path in zip(self.ids, self.paths, strict=True):
            if path is None:
                out.append((ident, line))
                continue
            if doc is not None:
                value = _walk(doc, path)
                if value is _MISSING:
                    continue
                t = type(value)
                if t is float or (t is int and not value):
                    doc = _exact_decode(line)
                    value = _MISSING if doc is None else _walk(doc, path)
                    t = type(value)
                if t is int:
                    out.append((ident, str(value)))
                    continue
                if t is str:
                    out.append((ident, clean_value(value)))
                    continue
                if t is bool:
                    out.append((ident, "true" if value else "false"))
                    continue
                if value is None:
                    out.append((ident, ""))
                    continue
            scan = scan or JsonScan(line)
            try:
                found = scan.lookup(path)
            except JsonError:
                found = None
            if found is None:
                continue
            kind, vs, ve = found
            raw = line[vs:ve]
            if kind == NULL:
                out.append((ident, ""))
            elif kind == OBJECT:
                out.append((ident, raw))
            else:
                out.append((ident, value_text(raw)))
        return out
