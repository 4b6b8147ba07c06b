"""`| logfmt`: go-logfmt's decoder as Loki runs it (`--strict`, `--keep-empty`), and the pairs of a line."""

from __future__ import annotations

import re

from observ.logql.log.names import clean_value, sanitize_key

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
            out[name] = clean_value(value)
    return out
