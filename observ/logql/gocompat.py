"""Go library behaviour LogQL leans on, redone in Python: Go regexps (on RE2), strconv.ParseFloat,
time.ParseDuration, go-humanize's ParseBytes and Go's quoting and float printing.

Loki reports these functions' error texts verbatim in `__error_details__`, so the messages follow Go's wording.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

import re2

from observ.logql.errors import LimitError, LogQLError

# --- RE2 ------------------------------------------------------------------------------------------

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_GO_CODES = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large",
}
"""RE2's (C++) error codes in Go's regexp/syntax wording; the others are spelled alike."""


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> Any:
    """Compile a Go regexp with RE2 (linear time, as Go's engine): Go's syntax and Go's error messages.

    Go is RE2's syntax minus `\\C` (any byte), which Go refuses.
    """
    _refuse_any_byte(pattern)
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as e:
        raise LogQLError(_go_error(e, pattern)) from None


def _go_error(e: Exception, pattern: str) -> str:
    raw = e.args[0] if e.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    code, _, fragment = text.partition(": ")
    if fragment.startswith("(?<") and code == "invalid perl operator":
        # Go 1.22+ reads `(?<` as a named group (`(?<!x)` included) and shows it up to its `>`
        rest = pattern[pattern.find(fragment) :]
        end = rest.find(">")
        code, fragment = "invalid named capture group", rest if end < 0 else rest[: end + 1]
    return f"error parsing regexp: {_GO_CODES.get(code, code)}: `{fragment}`"


def _refuse_any_byte(pattern: str) -> None:
    i = pattern.find("\\")
    while 0 <= i < len(pattern) - 1:
        c = pattern[i + 1]
        if c == "C":
            raise LogQLError("error parsing regexp: invalid escape sequence: `\\C`")
        if c == "Q":
            end = pattern.find("\\E", i + 2)
            if end < 0:
                return
            i = end
        i = pattern.find("\\", i + 2)


_EXPAND_NAME = re.compile(r"[A-Za-z0-9_]+")


def go_expand(template: str, m: Any) -> str:
    """Go's Regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`; unknown references expand to nothing."""
    if "$" not in template:
        return template
    out: list[str] = []
    i = 0
    while True:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            return "".join(out)
        out.append(template[i:j])
        if template.startswith("$$", j):
            out.append("$")
            i = j + 2
            continue
        if template.startswith("${", j):
            end = template.find("}", j + 2)
            name = template[j + 2 : end] if end > 0 else ""
            nxt = end + 1
            if not name or _EXPAND_NAME.fullmatch(name) is None:
                out.append("$")
                i = j + 1
                continue
        else:
            nm = _EXPAND_NAME.match(template, j + 1)
            if nm is None:
                out.append("$")
                i = j + 1
                continue
            name, nxt = nm.group(0), nm.end()
        out.append(_group(m, name))
        i = nxt


def _group(m: Any, name: str) -> str:
    if name.isdigit():
        idx = int(name)
        return (m.group(idx) or "") if idx <= (m.re.groups) else ""
    return (m.group(name) or "") if name in m.re.groupindex else ""


def go_find_all(rx: Any, s: str, check: Callable[[], None] = lambda: None) -> list[Any]:
    """Go's FindAll: an empty match right after the previous match is skipped (Python keeps it).

    `check` (the query's deadline) runs every 1024 matches: a long line can hold a great many.
    """
    out: list[Any] = []
    prev_end = -1
    for n, m in enumerate(rx.finditer(s)):
        if not n & 1023:
            check()
        if m.start() == m.end() == prev_end:
            continue
        out.append(m)
        prev_end = m.end()
    return out


def go_replace_all(
    rx: Any, s: str, repl: str, literal: bool, max_size: int | None = None, check: Callable[[], None] = lambda: None
) -> str:
    """ReplaceAllString / ReplaceAllLiteralString; LimitError as soon as the result would pass `max_size`."""
    out: list[str] = []
    last = size = 0
    for m in go_find_all(rx, s, check):
        piece = repl if literal else go_expand(repl, m)
        size += m.start() - last + len(piece)
        if max_size is not None and size > max_size:
            raise LimitError(
                f"template output of more than {max_size} bytes exceeds the max line size ({max_size} bytes)"
            )
        out.append(s[last : m.start()])
        out.append(piece)
        last = m.end()
    out.append(s[last:])
    return "".join(out)


# --- strconv / time / humanize ---------------------------------------------------------------------

_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9][0-9_]*)?\Z")
_HEX_FLOAT = re.compile(r"([+-]?)0[xX]((?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+)\Z")
_SPECIAL_FLOAT = re.compile(r"[+-]?(?:inf|infinity)\Z|nan\Z", re.IGNORECASE)


def go_quote(s: str) -> str:
    """strconv.Quote: double quotes, Go escapes, printable Unicode kept."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def parse_float(s: str) -> float:
    """strconv.ParseFloat(s, 64): no surrounding spaces, `_` only between digits, hex floats need a `p` exponent."""
    if s and s.isascii() and "0" <= s[-1] <= "9" and s[0] in _PLAIN_START and "x" not in s and "X" not in s:
        # Python's float() agrees with Go on such spellings (underscores included); only overflow differs
        try:
            value = float(s)
        except ValueError:
            pass
        else:
            if not math.isinf(value):
                return value
    return _parse_float_go(s)


_PLAIN_START = frozenset("0123456789+-.")


def _parse_float_go(s: str) -> float:
    invalid = ValueError(f"strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax")
    if _DEC_FLOAT.match(s):
        try:
            value = float(s)  # Python's underscore rule (PEP 515) is Go's underscoreOK
        except ValueError:
            raise invalid from None
    elif _SPECIAL_FLOAT.match(s):
        return float(s)
    elif (h := _HEX_FLOAT.match(s)) and "__" not in s and not s.endswith("_"):
        value = float.fromhex(h.group(1) + "0x" + h.group(2).replace("_", ""))
    else:
        raise invalid
    if math.isinf(value):
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(s)}: value out of range")
    return value


_DURATION_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
                   "h": 3600 * 10**9}  # fmt: skip
_MAX_DURATION = 1 << 63


_DURATION = re.compile(r"([+-]?)((?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+)\Z")
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(s: str) -> int:
    """time.ParseDuration in nanoseconds (no d/w/y units: those are Prometheus', not Go's)."""
    m = _DURATION.match(s)
    if m is None:
        return _parse_duration_go(s)
    total = 0
    for whole, frac, unit_name in _DURATION_PART.findall(m.group(2)):
        unit = _DURATION_UNITS[unit_name]
        total += int(whole or 0) * unit
        if frac and len(frac) < 19:
            total += int(float(int(frac)) * (float(unit) / 10 ** len(frac)))
        elif frac:
            return _parse_duration_go(s)  # long fractions: Go's digit-by-digit accumulation decides
    if total > _MAX_DURATION - (m.group(1) != "-"):
        return _parse_duration_go(s)
    return -total if m.group(1) == "-" else total


def _parse_duration_go(s: str) -> int:
    orig = s
    invalid = ValueError(f"time: invalid duration {go_quote(orig)}")
    neg = s.startswith("-")
    if s.startswith(("-", "+")):
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        j = 0
        while j < len(s) and "0" <= s[j] <= "9":
            j += 1
        pre, v, s = j > 0, int(s[:j] or 0), s[j:]
        frac, scale, post = 0, 1, False
        if s[:1] == ".":
            s = s[1:]
            j = 0
            while j < len(s) and "0" <= s[j] <= "9":
                j += 1
            post, digits, s = j > 0, s[:j], s[j:]
            for d in digits:
                if frac > (_MAX_DURATION - 1) // 10:
                    break  # Go stops accumulating digits that no longer fit
                frac, scale = frac * 10 + int(d), scale * 10
        if not pre and not post:
            raise invalid
        j = 0
        while j < len(s) and not (s[j] == "." or "0" <= s[j] <= "9"):
            j += 1
        if j == 0:
            raise ValueError(f"time: missing unit in duration {go_quote(orig)}")
        unit_name, s = s[:j], s[j:]
        unit = _DURATION_UNITS.get(unit_name)
        if unit is None:
            raise ValueError(f"time: unknown unit {go_quote(unit_name)} in duration {go_quote(orig)}")
        if v > _MAX_DURATION // unit:
            raise invalid
        v *= unit
        if frac > 0:
            v += int(float(frac) * (float(unit) / scale))
        total += v
        if v > _MAX_DURATION or total > _MAX_DURATION:
            raise invalid
    if not neg and total > _MAX_DURATION - 1:
        raise invalid
    return -total if neg else total


_BYTE_SIZES = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    _BYTE_SIZES |= {_p: 1000**_i, f"{_p}b": 1000**_i, f"{_p}i": 1024**_i, f"{_p}ib": 1024**_i}


def parse_bytes(s: str) -> int:
    """go-humanize ParseBytes: leading number (digits, `.` and `,`), then an SI or IEC unit, case-insensitive."""
    end = 0
    while end < len(s) and (s[end].isdecimal() or s[end] in ".,"):
        end += 1
    value = parse_float(s[:end].replace(",", ""))
    unit = s[end:].strip().lower()
    if unit not in _BYTE_SIZES:
        raise ValueError(f"unhandled size name: {unit}")
    value *= _BYTE_SIZES[unit]
    if value >= 2.0**64:
        raise ValueError(f"too large: {s}")
    return int(value)


def format_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64), which is how Go's %v prints a float64: `1e+06`, `123456`, `0.0001`."""
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if math.isnan(f):
        return "NaN"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    d = Decimal(repr(abs(f)))
    digits = "".join(map(str, d.as_tuple().digits)).rstrip("0") or "0"
    exp = d.adjusted()
    sign = "-" if f < 0 else ""
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if len(digits) <= exp + 1:
        return sign + digits + "0" * (exp + 1 - len(digits))
    return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"
