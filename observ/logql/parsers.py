"""Label extraction from log lines, as Loki's parsers do it: json (flattened with `_`), logfmt, regexp,
pattern and unpack.

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
from observ.logql.gocompat import compile_regex

_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_NAME_CACHE_MAX = 20_000


def valid_label_name(name: str) -> bool:
    return _LABEL_NAME.match(name) is not None


def _join(prefix: str, key: str) -> str:
    """Loki's appendSanitized: trim, `_` for anything outside [A-Za-z0-9_], `_` before a leading digit."""
    key = key.strip()
    if not key:
        return prefix
    if not prefix and "0" <= key[0] <= "9":
        prefix = "_"
    return prefix + _NOT_NAME_CHAR.sub("_", key)


def sanitize_key(key: str) -> str:
    """The label name a parser gives a key (`1a.b` -> `_1a_b`); "" when nothing is left."""
    return _join("", key)


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
    name = _join(prefix + "_" if prefix else "", key) if key.strip() else prefix
    if _names_size < _NAME_CACHE_MAX:
        names[key] = name
        _names_size += 1
    return name


def _name(prefix: str, key: str) -> str:
    names = _names(prefix)
    return names.get(key) or _name_miss(names, prefix, key)


# --- JSON ------------------------------------------------------------------------------------------


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


def _quick_decode(line: str) -> Any:
    """orjson's document: right for strings, bools and integers (not `-0`); floats lose their spelling."""
    if "\\u" in line and _SURROGATE_ESCAPE.search(line):
        return None
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _exact_decode(line)


def _clean(value: str) -> str:
    # Loki replaces U+FFFD with a space: Prometheus refuses label values holding it.
    return value.replace("\ufffd", " ") if "\ufffd" in value else value


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
    doc = _quick_decode(line)
    if type(doc) is dict and _flatten(doc, "", out, line, stream, meta, [None]):
        return None
    doc = _exact_decode(line)
    if type(doc) is dict:
        _flatten(doc, "", out, line, stream, meta, [None])
        return None
    found: dict[str, str] = {}
    try:
        _JsonScan(line).object_each(0, len(line), "", found)
    except _JsonError as e:
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


class _JsonError(Exception):
    pass


_MALFORMED_OBJECT = "Value looks like object, but can't find closing '}' symbol"
_MALFORMED_ARRAY = "Value is array, but can't find closing ']' symbol"
_MALFORMED_JSON = "Malformed JSON error"
_MALFORMED_STRING = "Value is string, but can't find closing '\"' symbol"
_UNKNOWN_TYPE = "Unknown value type"
_BAD_ESCAPE = "Encountered an invalid escape sequence in a string"
_WS = " \n\r\t"
_TOKEN_END = set(" \n\r\t,}]")
_STRING, _NUMBER, _BOOL, _NULL, _OBJECT, _ARRAY = range(6)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE_RE = re.compile(r"\\(u[dD][89abAB][0-9a-fA-F]{2}\\u[0-9a-fA-F]{4}|u[0-9a-fA-F]{4}|.?)", re.DOTALL)
"""A high surrogate is taken together with the escape after it, so a pair decodes as one code point."""


def _unescape(raw: str) -> str:
    """jsonparser.Unescape: JSON escapes only; a lone surrogate or unknown escape is an error."""
    if "\\" not in raw:
        return raw

    def repl(m: re.Match[str]) -> str:
        esc = m.group(1)
        if len(esc) < 5:
            if esc not in _ESCAPES:
                raise _JsonError(_BAD_ESCAPE)
            return _ESCAPES[esc]
        r = int(esc[1:5], 16)
        if not 0xD800 <= r <= 0xDFFF:
            return chr(r)
        if len(esc) == 5 or not 0xDC00 <= (r2 := int(esc[7:11], 16)) <= 0xDFFF or r >= 0xDC00:
            raise _JsonError(_BAD_ESCAPE)
        return chr(0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00))

    return _ESCAPE_RE.sub(repl, raw)


def _value_text(raw: str) -> str:
    """readValue for strings: an escape jsonparser cannot decode gives an empty value, not an error."""
    try:
        return _clean(_unescape(raw))
    except _JsonError:
        return ""


class _JsonScan:
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
                raise _JsonError(_MALFORMED_STRING)
            return _STRING, i + 1, se - 1
        if c == "[":
            be = self.block_end(i, end, "[", "]")
            if be < 0:
                raise _JsonError(_MALFORMED_ARRAY)
            return _ARRAY, i, be
        if c == "{":
            be = self.block_end(i, end, "{", "}")
            if be < 0:
                raise _JsonError(_MALFORMED_OBJECT)
            return _OBJECT, i, be
        j = i
        while j < end and data[j] not in _TOKEN_END:
            j += 1
        token = data[i:j]
        if c in "tf":
            if token not in ("true", "false"):
                raise _JsonError(_UNKNOWN_TYPE)
            return _BOOL, i, j
        if c in "un":
            if token != "null":
                raise _JsonError(_UNKNOWN_TYPE)
            return _NULL, i, j
        if c in "-0123456789":
            return _NUMBER, i, j
        raise _JsonError(_UNKNOWN_TYPE)

    def value_after(self, i: int, end: int) -> tuple[int, int, int]:
        j = self.next_token(i, end)
        if j < 0:
            raise _JsonError(_MALFORMED_JSON)
        return self.get_value(j, end)

    def members(self, i: int, end: int) -> Any:
        """ObjectEach: yields (key, type, start, end) until the closing brace; raises as jsonparser returns."""
        data = self.data
        j = self.next_token(i, end)
        if j < 0 or data[j] != "{":
            raise _JsonError(_MALFORMED_OBJECT)
        j = self.next_token(j + 1, end)
        if j < 0:
            raise _JsonError(_MALFORMED_JSON)
        while j < end:
            c = data[j]
            if c == "}":
                return
            if c != '"':
                raise _JsonError(_MALFORMED_OBJECT)
            se = self.string_end(j + 1, end)
            if se < 0:
                raise _JsonError(_MALFORMED_JSON)
            key = data[j + 1 : se - 1]
            if "\\" in key:
                key = _unescape(key)
            j = self.next_token(se, end)
            if j < 0 or data[j] != ":":
                raise _JsonError(_MALFORMED_JSON)
            kind, vs, ve = self.value_after(j + 1, end)
            yield key, kind, vs, ve
            j = self.next_token(ve + (1 if kind == _STRING else 0), end)
            if j < 0:
                raise _JsonError(_MALFORMED_ARRAY)
            if data[j] == "}":
                return
            if data[j] != ",":
                raise _JsonError(_MALFORMED_OBJECT)
            j = self.next_token(j + 1, end)
            if j < 0:
                raise _JsonError(_MALFORMED_ARRAY)
        raise _JsonError(_MALFORMED_OBJECT)

    def elements(self, i: int, end: int) -> Any:
        """ArrayEach, as far as path lookups need it: yields (type, start, end)."""
        data = self.data
        j = self.next_token(i, end)
        if j < 0 or data[j] != "[":
            raise _JsonError(_MALFORMED_ARRAY)
        j = self.next_token(j + 1, end)
        if j < 0:
            raise _JsonError(_MALFORMED_JSON)
        if data[j] == "]":
            return
        while j < end:
            kind, vs, ve = self.get_value(j, end)
            yield kind, vs, ve
            j = self.next_token(ve + (1 if kind == _STRING else 0), end)
            if j < 0:
                raise _JsonError(_MALFORMED_ARRAY)
            if data[j] == "]":
                return
            if data[j] != ",":
                raise _JsonError(_MALFORMED_ARRAY)
            j = self.next_token(j + 1, end)
            if j < 0:
                raise _JsonError(_MALFORMED_ARRAY)

    def object_each(self, i: int, end: int, prefix: str, out: dict[str, str]) -> None:
        """JSONParser.parseObject: labels are set as the scan goes, so they survive a later error."""
        data = self.data
        for key, kind, vs, ve in self.members(i, end):
            if kind == _OBJECT:
                self.object_each(vs, ve, _name(prefix, key), out)
            elif kind in (_STRING, _NUMBER, _BOOL):
                name = _name(prefix, key)
                if name:
                    raw = data[vs:ve]
                    out[name] = _value_text(raw) if kind == _STRING else raw

    def lookup(self, path: list[str | int]) -> tuple[int, int, int] | None:
        """The value at a json expression path (first matching key), or None."""
        kind, vs, ve = _OBJECT, 0, len(self.data)
        first = True
        for step in path:
            found = None
            if isinstance(step, int):
                if not (first or kind == _ARRAY):
                    return None
                for idx, el in enumerate(self.elements(vs, ve)):
                    if idx == step:
                        found = el
                        break
            else:
                if not (first or kind == _OBJECT):
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
_JSON_SCALARS = (_STRING, _NUMBER, _BOOL)
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
    scan = _JsonScan(line)
    paths: dict[str, list[str]] = {}

    def walk(start: int, end: int, prefix: list[str]) -> None:
        for key, kind, vs, ve in scan.members(start, end):
            if kind == _OBJECT:
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
    except _JsonError:
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
        doc = _quick_decode(line)
        out: list[tuple[str, str]] = []
        scan: _JsonScan | None = None
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
                    out.append((ident, _clean(value)))
                    continue
                if t is bool:
                    out.append((ident, "true" if value else "false"))
                    continue
                if value is None:
                    out.append((ident, ""))
                    continue
            scan = scan or _JsonScan(line)
            try:
                found = scan.lookup(path)
            except _JsonError:
                found = None
            if found is None:
                continue
            kind, vs, ve = found
            raw = line[vs:ve]
            if kind == _NULL:
                out.append((ident, ""))
            elif kind == _OBJECT:
                out.append((ident, raw))
            else:
                out.append((ident, _value_text(raw)))
        return out


# --- unpack ----------------------------------------------------------------------------------------

_NOT_OBJECT = "expecting json object(6), but it is not"


def unpack(line: str) -> tuple[str | None, list[tuple[str, str]], str | None]:
    """Promtail's `pack` format: (`_entry` or None, the other string fields, error text).

    Only string fields count; the fields are labels only when `_entry` is present.
    """
    if line[:1] != "{":
        return None, [], _NOT_OBJECT
    doc = _quick_decode(line)
    entry: str | None = None
    fields: list[tuple[str, str]] = []
    if type(doc) is dict:
        for key, value in doc.items():
            if type(value) is str:
                if key == "_entry":
                    entry = value
                else:
                    fields.append((key, _clean(value)))
        return entry, fields, None
    scan = _JsonScan(line)
    try:
        for key, kind, vs, ve in scan.members(0, len(line)):
            if kind != _STRING:
                continue
            if key == "_entry":
                entry = _unescape(line[vs:ve])
            else:
                fields.append((key, _value_text(line[vs:ve])))
    except _JsonError as e:
        return None, [], str(e)
    return entry, fields, None


# --- logfmt ----------------------------------------------------------------------------------------

_LF_KEY = r'[^\x00-\x20="\ufffd]++'
_LF_QUOTED = r'"((?:[^"\\]++|\\.)*+)"'
_LF_BARE = r'[^\x00-\x20="]*+'
_LF_TOKEN = re.compile(
    rf"[\x00-\x20]*+(?:({_LF_KEY})(?:={_LF_QUOTED}|(?:=({_LF_BARE}))?(?=[\x00-\x20]|\Z))|(.))", re.DOTALL
)
"""One well-formed pair per match (key="quoted", key=bare or a bare key); anything else lands in the last group."""
_LF_UNQUOTE = {'"': '"', "\\": "\\", "/": "/", "'": "'", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _lf_unquote(s: str) -> str | None:
    """go-logfmt's unquoteBytes (JSON escapes plus `\\'`); None when the quoted value is invalid."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 1
            if i >= n:
                return None
            e = s[i]
            if e in _LF_UNQUOTE:
                out.append(_LF_UNQUOTE[e])
                i += 1
                continue
            if e != "u" or (r := _hex4(s, i + 1)) < 0:
                return None
            i += 5
            if 0xD800 <= r <= 0xDFFF:
                r2 = _hex4(s, i + 1) if s[i : i + 2] == "\\u" else -1
                if 0xD800 <= r < 0xDC00 and 0xDC00 <= r2 <= 0xDFFF:
                    out.append(chr(0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00)))
                    i += 6
                    continue
                r = 0xFFFD
            out.append(chr(r))
        elif c == '"' or c < " ":
            return None
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _hex4(s: str, i: int) -> int:
    digits = s[i : i + 4]
    if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        return -1
    return int(digits, 16)


def logfmt_pairs(line: str, strict: bool = False) -> tuple[list[tuple[str, str]], str | None]:
    """The (key, value) pairs Loki's logfmt decoder yields, in order, and its last error.

    Without `strict` a malformed pair is skipped and scanning goes on; with it, scanning stops there.
    """
    pairs: list[tuple[str, str]] = []
    for key, quoted, bare, bad in _LF_TOKEN.findall(line):
        if bad:
            return _LogfmtDecoder(line, strict).run()
        if "\\" in quoted:
            value = _lf_unquote(quoted)
            if value is None:
                return _LogfmtDecoder(line, strict).run()
            pairs.append((key, value))
        else:
            pairs.append((key, quoted or bare))
    return pairs, None


class _LogfmtDecoder:
    """A port of Loki's logfmt.Decoder for lines the fast pattern does not cover (those with errors)."""

    def __init__(self, line: str, strict: bool) -> None:
        self.line, self.strict, self.pos = line, strict, 0
        self.err: str | None = None

    def run(self) -> tuple[list[tuple[str, str]], str | None]:
        pairs: list[tuple[str, str]] = []
        while self.pos < len(self.line):
            pair = self.scan()
            if pair is None:
                if self.strict:
                    break
                continue
            pairs.append(pair)
        return pairs, self.err

    def _error(self, msg: str) -> None:
        self.err = f"logfmt syntax error at pos {len(self.line[: self.pos].encode()) + 1} : {msg}"

    def _unexpected(self, c: str) -> None:
        self._error(f"unexpected '{c}'")

    def _skip_value(self) -> None:
        line, pos = self.line, self.pos
        while pos < len(line) and line[pos] > " ":
            pos += 1
        self.pos = pos

    def scan(self) -> tuple[str, str] | None:
        line, n = self.line, len(self.line)
        pos = self.pos
        while pos < n and line[pos] <= " ":
            pos += 1
        if pos >= n:
            self.pos = n
            return None
        start = pos
        while pos < n:
            c = line[pos]
            if c == "=":
                self.pos = pos
                key = line[start:pos]
                if not key:
                    self._unexpected(c)
                    self._skip_value()
                    return None
                if "\ufffd" in key:
                    self._error("invalid key")
                    self._skip_value()
                    return None
                return self._value(key)
            if c == '"':
                self.pos = pos
                self._unexpected(c)
                self._skip_value()
                return None
            if c <= " ":
                self.pos = pos
                return self._bare(line[start:pos])
            pos += 1
        self.pos = n
        return self._bare(line[start:])

    def _bare(self, key: str) -> tuple[str, str] | None:
        if "\ufffd" in key:
            self._error("invalid key")
            return None
        return key, ""

    def _value(self, key: str) -> tuple[str, str] | None:
        line, n = self.line, len(self.line)
        pos = self.pos + 1
        if pos >= n or line[pos] <= " ":
            self.pos = pos
            return key, ""
        if line[pos] == '"':
            return self._quoted(key, pos)
        start = pos
        while pos < n:
            c = line[pos]
            if c in '="':
                self.pos = pos
                self._unexpected(c)
                self._skip_value()
                return None
            if c <= " ":
                break
            pos += 1
        self.pos = pos
        return key, line[start:pos]

    def _quoted(self, key: str, start: int) -> tuple[str, str] | None:
        line, n = self.line, len(self.line)
        pos, esc, has_esc = start + 1, False, False
        while pos < n:
            c = line[pos]
            if esc:
                esc = False
            elif c == "\\":
                esc = has_esc = True
            elif c == '"':
                self.pos = pos + 1
                if not has_esc:
                    return key, line[start + 1 : pos]
                value = _lf_unquote(line[start + 1 : pos])
                if value is None:
                    self._error("invalid quoted value")
                    return None
                return key, value
            pos += 1
        self.pos = n
        self._error("unterminated quoted value")
        return None


def parse_logfmt(line: str, strict: bool = False, keep_empty: bool = False) -> dict[str, str]:
    """Labels of a logfmt line (sanitised names, last value wins); ValueError on a strict-mode error."""
    pairs, err = logfmt_pairs(line, strict)
    if strict and err is not None:
        raise ValueError(err)
    out: dict[str, str] = {}
    for key, value in pairs:
        name = sanitize_key(key)
        if name and (value or keep_empty):
            out[name] = _clean(value)
    return out


# --- regexp and pattern ----------------------------------------------------------------------------


class RegexpExtractor:
    """`| regexp "<re>"`: named groups become labels; a group that did not take part gives ""."""

    def __init__(self, pattern: str) -> None:
        self.regex = compile_regex(pattern)
        names = list(self.regex.groupindex)
        if not names:
            raise LogQLError("at least one named capture must be supplied")
        for name in names:
            if not valid_label_name(name):
                raise LogQLError(f"invalid extracted label name '{name}'")
        self.names = tuple(sorted(names, key=self.regex.groupindex.__getitem__))
        self._slots = [(name, self.regex.groupindex[name] - 1) for name in self.names]

    def extract(self, line: str) -> list[tuple[str, str]]:
        m = self.regex.search(line)
        if m is None:
            return []
        groups = m.groups()
        return [(name, groups[idx] or "") for name, idx in self._slots]


_CAPTURE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


class PatternMatcher:
    """Loki's pattern expressions: literals and `<name>` / `<_>` captures.

    As a parser (`| pattern`) a leading literal anchors the match at the line start and a capture that
    misses its following literal takes the rest of the line; as a line filter (`|>`) the whole line must match.
    """

    def __init__(self, pattern: str, line_filter: bool = False) -> None:
        self.expr: list[tuple[bool, str]] = []  # (is_capture, name-or-literal)
        pos = 0
        for m in _CAPTURE.finditer(pattern):
            if m.start() > pos:
                self.expr.append((False, pattern[pos : m.start()]))
            self.expr.append((True, m.group(1)))
            pos = m.end()
        if pos < len(pattern):
            self.expr.append((False, pattern[pos:]))
        for (cap1, a), (cap2, b) in zip(self.expr, self.expr[1:], strict=False):
            if cap1 and cap2:
                raise LogQLError(f"found consecutive capture '<{a}><{b}>': invalid expression")
        self.names = [name for cap, name in self.expr if cap and name != "_"]
        if line_filter:
            if self.names:
                raise LogQLError(f"named captures are not allowed: found '<{self.names[0]}>'")
            return
        if not self.expr:
            raise LogQLError("syntax error: unexpected $end, expecting IDENTIFIER or LITERAL")
        if not self.names:
            raise LogQLError("at least one capture is required")
        if len(set(self.names)) != len(self.names):
            dup = next(n for n in self.names if self.names.count(n) > 1)
            raise LogQLError(f"duplicate capture name ({dup}): invalid expression")

    def matches(self, line: str) -> list[str]:
        """Values of the named captures, in order; fewer than the names when the line stops matching."""
        expr = self.expr
        if not line or not expr:
            return []
        pos, i, caps = 0, 0, []
        if not expr[0][0]:
            lit = expr[0][1]
            if not line.startswith(lit):
                return []
            pos, i = len(lit), 1
        if i == len(expr):
            return []
        while i < len(expr):
            named = expr[i][1] != "_"
            if i == len(expr) - 1:
                if named:
                    caps.append(line[pos:])
                return caps
            lit = expr[i + 1][1]
            i += 2
            j = line.find(lit, pos)
            if j < 0:
                if named:
                    caps.append(line[pos:])
                return caps
            if named:
                caps.append(line[pos:j])
            pos = j + len(lit)
        return caps

    def test(self, line: str) -> bool:
        """The `|>` test: literals in order, every capture non-empty, nothing left after a final literal."""
        expr = self.expr
        if not line or not expr:
            return not line and not expr
        off = 0
        for i, (cap, lit) in enumerate(expr):
            if cap:
                continue
            j = line.find(lit, off)
            if j < 0 or (i != 0 and j == off):
                return False
            off = j + len(lit)
        return expr[-1][0] == (off != len(line))
