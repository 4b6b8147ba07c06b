"""Go library behaviour LogQL leans on, redone in Python: RE2 regexes, strconv.ParseFloat, time.ParseDuration,
go-humanize's ParseBytes and Go's quoting and float printing.

Loki reports these functions' error texts verbatim in `__error_details__`, so the messages follow Go's wording.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from functools import lru_cache

import regex

from observ.logql.errors import LogQLError

# --- RE2 -> Python re ------------------------------------------------------------------------------

_PERL_CLASSES = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}  # fmt: skip
_SIMPLE_ESCAPES = set("AbBftnrva") | set("\\.+*?()|[]{}^$")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_GROUP_FLAGS = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?([:)])")


def translate_regex(pattern: str) -> str:
    """Rewrite RE2 syntax Python spells differently (or not at all); refuse what RE2 itself refuses.

    Perl classes stay ASCII as in RE2, `$` means end of text unless `(?m)`, flag groups in the middle
    of a pattern become scoped groups, and lookarounds and backreferences are errors, as in Go.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    stack = [_Group()]
    while i < n:
        c = pattern[i]
        top = stack[-1]
        if c == "\\":
            esc, i = _escape(pattern, i, in_class=False)
            out.append(esc)
            continue
        if c == "[":
            cls, i = _char_class(pattern, i)
            out.append(cls)
            continue
        if c == "(" and pattern.startswith("(?", i):
            i = _open_special_group(pattern, i, out, stack)
            continue
        if c == "(":
            stack.append(_Group(multiline=top.multiline))
            out.append("(")
        elif c == ")":
            closed = stack.pop() if len(stack) > 1 else _Group()
            out.append(")" * len(closed.scoped) + ")")
        elif c == "|":
            # Go's `(?i)` lasts to the end of the group, across alternatives: close and reopen the scopes.
            out.append(")" * len(top.scoped) + "|" + "".join(f"(?{f}:" for f in top.scoped))
        elif c == "$":
            out.append("$" if top.multiline else "\\Z")
        elif c == "{" and (m := _REPEAT.match(pattern, i)) is not None:
            out.append(m.group(0))
            i = m.end()
            continue
        else:
            out.append("\\{" if c == "{" else c)
        i += 1
    out.append(")" * sum(len(g.scoped) for g in stack))
    return "".join(out)


class _Group:
    """An open group while translating: flag scopes opened inside it and whether `(?m)` is on."""

    __slots__ = ("multiline", "scoped")

    def __init__(self, multiline: bool = False) -> None:
        self.multiline = multiline
        self.scoped: list[str] = []


def _open_special_group(pattern: str, i: int, out: list[str], stack: list[_Group]) -> int:
    """`(?...`: named groups, non-capturing groups and flags; Perl-only constructs are refused like RE2 does."""
    top = stack[-1]
    named = pattern.startswith("(?P<", i) or (
        pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i)
    )
    if named:
        start = i + (4 if pattern[i + 2] == "P" else 3)
        end = pattern.find(">", start)
        if end < 0:
            raise LogQLError(f"error parsing regexp: invalid named capture: `{pattern[i:]}`")
        out.append(f"(?P<{pattern[start:end]}>")
        stack.append(_Group(multiline=top.multiline))
        return end + 1
    m = _GROUP_FLAGS.match(pattern, i)
    if m is None or "U" in m.group(0) or (m.group(1) == "" and m.group(2) is None and m.group(3) == ")"):
        raise LogQLError(f"error parsing regexp: invalid or unsupported Perl syntax: `{pattern[i : i + 3]}`")
    on, off, kind = m.group(1), m.group(2) or "", m.group(3)
    flags = on + (f"-{off}" if off else "")
    multiline = "m" in on or (top.multiline and "m" not in off)
    if kind == ":":
        out.append(f"(?{flags}:" if flags else "(?:")
        stack.append(_Group(multiline=multiline))
    elif flags:
        # `a(?i)b`: Python only takes global flags up front, so scope them to the end of the enclosing group.
        out.append(f"(?{flags}:")
        top.scoped.append(flags)
        top.multiline = multiline
    return m.end()


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    if i + 1 >= len(pattern):
        raise LogQLError(f"error parsing regexp: trailing backslash at end of expression: `{pattern}`")
    c = pattern[i + 1]
    if c == "Q":
        end = pattern.find("\\E", i + 2)
        lit = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
        return re.escape(lit), len(pattern) if end < 0 else end + 2
    if c in _PERL_CLASSES:
        return (_PERL_CLASSES[c] if in_class else f"[{_PERL_CLASSES[c]}]"), i + 2
    if c.lower() in _PERL_CLASSES:
        if in_class:
            raise LogQLError(f"error parsing regexp: negated Perl class inside a class is not supported: `{pattern}`")
        return f"[^{_PERL_CLASSES[c.lower()]}]", i + 2
    if c in "pP":
        # Unicode classes (`\pL`, `\p{Han}`, `\P{Greek}`): the `regex` engine knows RE2's names.
        m = re.compile(r"[pP](?:\{\^?[A-Za-z_]+\}|[A-Za-z])").match(pattern, i + 1)
        if m is None:
            raise LogQLError(f"error parsing regexp: invalid character class range: `{pattern[i : i + 3]}`")
        return "\\" + m.group(0), m.end()
    if c == "z":
        return "\\Z", i + 2
    if c == "C":
        return "[\\s\\S]", i + 2
    if c == "x" and pattern.startswith("{", i + 2):
        end = pattern.find("}", i + 3)
        if end < 0:
            raise LogQLError(f"error parsing regexp: invalid escape sequence: `\\x{{`: `{pattern}`")
        return f"\\U{int(pattern[i + 3 : end], 16):08x}", end + 1
    if c == "x":
        return pattern[i : i + 4], i + 4
    if c.isdigit():
        digits = re.match(r"[0-7]{1,3}", pattern[i + 1 :])
        if c in "89" or digits is None or (c != "0" and len(digits.group(0)) == 1):
            raise LogQLError(f"error parsing regexp: invalid escape sequence: `\\{c}`")
        return f"\\u{int(digits.group(0), 8):04x}", i + 1 + len(digits.group(0))
    if c.isalnum() and c not in _SIMPLE_ESCAPES:
        raise LogQLError(f"error parsing regexp: invalid escape sequence: `\\{c}`")
    return pattern[i : i + 2], i + 2


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    out = ["["]
    i += 1
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        c = pattern[i]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        first = False
        if c == "[" and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2 : end] if end > 0 else ""
            if name in _POSIX_CLASSES:
                out.append(_POSIX_CLASSES[name])
                i = end + 2
                continue
            if name.startswith("^") and name[1:] in _POSIX_CLASSES:
                raise LogQLError(f"error parsing regexp: negated POSIX class is not supported: `{pattern}`")
        if c == "\\":
            esc, i = _escape(pattern, i, in_class=True)
            out.append(esc)
            continue
        out.append("\\" + c if c in "[&~|" else c)
        i += 1
    raise LogQLError(f"error parsing regexp: missing closing ]: `{pattern[pattern.rfind('[') :]}`")


@lru_cache(maxsize=1024)
def compile_regex(pattern: str, anchored: bool = False) -> regex.Pattern[str]:
    """Compile an RE2 pattern; `anchored` for label matchers, which must match the whole value."""
    translated = translate_regex(pattern)
    if anchored:
        translated = f"(?:{translated})\\Z"
    try:
        return regex.compile(translated, regex.V0)
    except regex.error as e:
        reason = "missing closing )" if e.msg == "missing )" else e.msg
        raise LogQLError(f"error parsing regexp: {reason}: `{pattern}`") from None
    except (OverflowError, RecursionError) as e:
        raise LogQLError(f"error parsing regexp: {e}: `{pattern}`") from None


_EXPAND_NAME = re.compile(r"[A-Za-z0-9_]+")


def go_expand(template: str, m: re.Match[str]) -> str:
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


def _group(m: re.Match[str], name: str) -> str:
    if name.isdigit():
        idx = int(name)
        return (m.group(idx) or "") if idx <= (m.re.groups) else ""
    return (m.group(name) or "") if name in m.re.groupindex else ""


def go_find_all(rx: re.Pattern[str], s: str) -> list[re.Match[str]]:
    """Go's FindAll: an empty match right after the previous match is skipped (Python keeps it)."""
    out: list[re.Match[str]] = []
    prev_end = -1
    for m in rx.finditer(s):
        if m.start() == m.end() == prev_end:
            continue
        out.append(m)
        prev_end = m.end()
    return out


def go_replace_all(rx: re.Pattern[str], s: str, repl: str, literal: bool) -> str:
    out: list[str] = []
    last = 0
    for m in go_find_all(rx, s):
        out.append(s[last : m.start()])
        out.append(repl if literal else go_expand(repl, m))
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
