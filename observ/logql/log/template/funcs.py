"""The values and functions of Loki's templates: Go's fmt printing, time.Time and its layouts, and the
function map of `line_format` / `label_format` (Go builtins, Loki's own, and the sprig subset Loki exposes).

Values are plain Python: str, int (Go int/int64), float (float64), bool, None (nil), dict (map), list (slice)
and GoTime. Functions raise TemplateError with Go's wording; the engine turns it into `TemplateFormatErr`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, DivisionByZero, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from observ.gocompat.durations import parse_duration
from observ.gocompat.humanize import parse_bytes
from observ.gocompat.strconv import format_float, go_quote, parse_float
from observ.logql.errors import LimitError
from observ.logql.goregexp import compile_regex, go_find_all, go_replace_all


class TemplateError(Exception):
    """A template failed on one line; Loki keeps the line and sets `__error__="TemplateFormatErr"`."""


MAX_LINE_SIZE = 256 * 1024
"""Longest text a template may make (a line, a label, any value on the way): Loki's default max_line_size.
Sizes are checked before the allocation, so `repeat 100000000` costs nothing; past it the query is refused."""


def check_size(size: int) -> None:
    if size > MAX_LINE_SIZE:
        raise LimitError(f"template output of {size} bytes exceeds the max line size ({MAX_LINE_SIZE} bytes)")


# --- Go values -------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GoTime:
    """time.Time: nanoseconds since the epoch and a location (Loki's servers run in UTC, so Local is UTC)."""

    __slots__ = ("ns", "tz")

    def __init__(self, ns: int, tz: tzinfo = UTC) -> None:
        self.ns, self.tz = ns, tz

    def datetime(self) -> datetime:
        dt = _EPOCH + timedelta(microseconds=self.ns // 1000)
        try:
            return dt.astimezone(self.tz)
        except OverflowError:
            return dt

    def nanosecond(self) -> int:
        return self.ns % 1_000_000_000

    def unix(self) -> int:
        return self.ns // 1_000_000_000

    def __str__(self) -> str:
        return go_format_time(self, "2006-01-02 15:04:05.999999999 -0700 MST")


ZERO_TIME = GoTime(-62135596800 * 1_000_000_000)


def type_name(v: Any) -> str:
    if v is None:
        return "<nil>"
    return _TYPE_NAMES.get(type(v), type(v).__name__)


_TYPE_NAMES = {str: "string", int: "int", float: "float64", bool: "bool", dict: "map[string]interface {}",
               list: "[]interface {}", GoTime: "time.Time"}  # fmt: skip


def sprint_value(v: Any) -> str:
    """fmt's %v."""
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return format_float(v)
    if v is None:
        return "<nil>"
    if t is dict:
        return "map[" + " ".join(f"{k}:{sprint_value(v[k])}" for k in sorted(v)) + "]"
    if t is list:
        return "[" + " ".join(sprint_value(x) for x in v) + "]"
    return str(v)


def truth(v: Any) -> bool:
    """text/template's truth: false, 0, nil and empty strings, maps and slices are false."""
    if v is None:
        return False
    if isinstance(v, str | int | float | bool | dict | list):
        return bool(v)
    return True


def go_sprint(args: list[Any]) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out: list[str] = []
    for i, a in enumerate(args):
        if i > 0 and type(a) is not str and type(args[i - 1]) is not str:
            out.append(" ")
        out.append(sprint_value(a))
    return "".join(out)


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.?)", re.DOTALL)


def go_sprintf(fmt: str, args: list[Any]) -> str:
    """fmt.Sprintf for the verbs templates use; mismatches print as Go does (`%!d(string=x)`)."""
    out: list[str] = []
    pos, argi = 0, 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if _too_large(width) or _too_large(prec):
            # Go's parsenum gives up on a crazy long number and takes the rest of the format with it
            out.append("%!(NOVERB)")
            pos = len(fmt)
            break
        if verb == "%":
            out.append("%")
            continue
        if verb == "":
            out.append("%!(NOVERB)")
            continue
        if width == "*" or prec == "*":
            star = [width == "*", prec == "*"]
            vals: list[str | None] = []
            for is_star in star:
                if not is_star:
                    vals.append(None)
                    continue
                if argi < len(args) and type(args[argi]) is int and abs(args[argi]) <= _GO_MAX_NUM:
                    vals.append(str(args[argi]))
                else:
                    vals.append(None)
                    out.append("%!(BADWIDTH)" if is_star is star[0] else "%!(BADPREC)")
                argi += 1
            width = vals[0] if width == "*" else width
            prec = vals[1] if prec == "*" else prec
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        out.append(_format_one(arg, verb, flags, int(width) if width else None, prec))
    out.append(fmt[pos:])
    if argi < len(args):
        extra = ", ".join(f"{type_name(a)}={sprint_value(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


_GO_MAX_NUM = 10**6
"""fmt's tooLarge: widths and precisions past a million are refused (parsed digit by digit)."""


def _too_large(digits: str | None) -> bool:
    if not digits or digits == "*":
        return False
    num = 0
    for d in digits:
        if num > _GO_MAX_NUM:
            return True
        num = num * 10 + ord(d) - 48
    return False


def _bad_verb(verb: str, arg: Any) -> str:
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(arg)}={sprint_value(arg)})"


def _pad(s: str, flags: str, width: int | None, zero_ok: bool = False) -> str:
    if width is None or len(s) >= width:
        return s
    check_size(width)
    if "-" in flags:
        return s + " " * (width - len(s))
    if "0" in flags and zero_ok:
        sign = s[0] if s[:1] in "+- " and s[:1] else ""
        return sign + "0" * (width - len(s)) + s[len(sign) :]
    return " " * (width - len(s)) + s


def _format_one(arg: Any, verb: str, flags: str, width: int | None, prec: str | None) -> str:
    t = type(arg)
    p = int(prec) if prec else (0 if prec == "" else None)
    if verb == "v":
        if t is float and p is None:
            return _pad(format_float(arg), flags, width, True)
        if t is str and "#" in flags:
            return _pad(go_quote(arg), flags, width)
        return _pad(sprint_value(arg), flags, width, t in (int, float))
    if verb == "s":
        if t is str or t is GoTime:
            s = str(arg)
            return _pad(s[:p] if p is not None else s, flags, width)
        return _bad_verb(verb, arg)
    if verb == "q":
        if t is str:
            return _pad(go_quote(arg), flags, width)
        if t is int:
            return _pad("'" + chr(arg) + "'", flags, width)
        return _bad_verb(verb, arg)
    if verb == "t":
        return _pad("true" if arg else "false", flags, width) if t is bool else _bad_verb(verb, arg)
    if verb in "dboOxXcU" and t is int:
        return _format_int(arg, verb, flags, width, p)
    if verb in "xX" and t is str:
        s = arg.encode().hex()
        return _pad(s.upper() if verb == "X" else s, flags, width)
    if verb in "eEfFgG" and t is float:
        return _format_float(arg, verb, flags, width, p)
    return _bad_verb(verb, arg)


def _format_int(v: int, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    if verb == "c":
        return _pad(chr(v), flags, width)
    if verb == "U":
        return _pad(f"U+{v:04X}", flags, width)
    base = {"d": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}[verb]
    digits = format(abs(v), base)
    if prec is not None:
        digits = digits.rjust(prec, "0")
    if "#" in flags and verb in "xX":
        digits = ("0x" if verb == "x" else "0X") + digits
    if verb == "O" or ("#" in flags and verb == "o"):
        digits = "0o" + digits if verb == "O" else "0" + digits
    sign = "-" if v < 0 else "+" if "+" in flags else " " if " " in flags else ""
    return _pad(sign + digits, flags, width, prec is None)


def _format_float(v: float, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    if math.isinf(v) or math.isnan(v):
        s = "NaN" if math.isnan(v) else ("+Inf" if v > 0 and "+" in flags else "Inf" if v > 0 else "-Inf")
        return _pad(s, flags.replace("0", ""), width)
    if verb in "gG" and prec is None:
        s = format_float(v)
        s = s.upper() if verb == "G" else s
    else:
        spec = ("+" if "+" in flags else " " if " " in flags else "") + ("#" if "#" in flags else "")
        s = format(v, f"{spec}.{6 if prec is None else prec}{verb}")
        return _pad(s, flags, width, True)
    if "+" in flags and v >= 0:
        s = "+" + s
    elif " " in flags and v >= 0:
        s = " " + s
    return _pad(s, flags, width, True)


# --- time layouts ----------------------------------------------------------------------------------

_LONG_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December"]  # fmt: skip
_LONG_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_TZ_STDS = ["-070000", "-07:00:00", "-0700", "-07:00", "-07"]


@lru_cache(maxsize=256)
def _layout(layout: str) -> tuple[tuple[str, str | int], ...]:
    """Go's nextStdChunk over the whole layout: ("lit", text) and (std, arg) chunks."""
    chunks: list[tuple[str, str | int]] = []
    lit: list[str] = []
    i, n = 0, len(layout)

    def std(name: str, length: int, arg: str | int = "") -> None:
        nonlocal i
        if lit:
            chunks.append(("lit", "".join(lit)))
            lit.clear()
        chunks.append((name, arg))
        i += length

    def lower_at(j: int) -> bool:
        return j < n and "a" <= layout[j] <= "z"

    while i < n:
        c, rest = layout[i], layout[i:]
        if c == "J" and rest.startswith("January"):
            std("January", 7)
        elif c == "J" and rest.startswith("Jan") and not lower_at(i + 3):
            std("Jan", 3)
        elif c == "M" and rest.startswith("Monday"):
            std("Monday", 6)
        elif c == "M" and rest.startswith("Mon") and not lower_at(i + 3):
            std("Mon", 3)
        elif c == "M" and rest.startswith("MST"):
            std("MST", 3)
        elif c == "0" and len(rest) >= 2 and "1" <= rest[1] <= "6":
            std(rest[:2], 2)
        elif c == "0" and rest.startswith("002"):
            std("002", 3)
        elif c == "1":
            std("15", 2) if rest.startswith("15") else std("1", 1)
        elif c == "2":
            std("2006", 4) if rest.startswith("2006") else std("2", 1)
        elif c == "_" and rest.startswith("_2006"):
            lit.append("_")
            i += 1
        elif c == "_" and rest.startswith("_2"):
            std("_2", 2)
        elif c == "_" and rest.startswith("__2"):
            std("__2", 3)
        elif c in "345":
            std(c, 1)
        elif c == "P" and rest.startswith("PM"):
            std("PM", 2)
        elif c == "p" and rest.startswith("pm"):
            std("pm", 2)
        elif c in "-Z" and (tz := next((s for s in _TZ_STDS if rest.startswith(c + s[1:])), None)):
            std(c + tz[1:], len(tz))
        elif c in ".," and len(rest) > 1 and rest[1] in "09":
            j = i + 1
            while j < n and layout[j] == rest[1]:
                j += 1
            if j < n and layout[j].isdigit():
                lit.append(c)
                i += 1
            else:
                std("frac0" if rest[1] == "0" else "frac9", j - i, c + str(j - i - 1))
        else:
            lit.append(c)
            i += 1
    if lit:
        chunks.append(("lit", "".join(lit)))
    return tuple(chunks)


def _offset_text(offset: int, std: str) -> str:
    if std[0] == "Z" and offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    hours, minutes, seconds = offset // 3600, offset // 60 % 60, offset % 60
    colon = ":" if ":" in std else ""
    out = f"{sign}{hours:02d}"
    if std[1:] != "07":
        out += f"{colon}{minutes:02d}"
    if std[1:] in ("070000", "07:00:00"):
        out += f"{colon}{seconds:02d}"
    return out


def go_format_time(t: GoTime, layout: str) -> str:
    """time.Time.Format with a Go reference layout (`2006-01-02T15:04:05Z07:00`)."""
    dt = t.datetime()
    utc_offset = dt.utcoffset()
    offset = int(utc_offset.total_seconds()) if utc_offset is not None else 0
    out: list[str] = []
    for std, arg in _layout(layout):
        if std == "lit":
            out.append(str(arg))
        elif std in ("2006", "06"):
            out.append(f"{dt.year:04d}" if std == "2006" else f"{dt.year % 100:02d}")
        elif std in ("January", "Jan"):
            name = _LONG_MONTHS[dt.month - 1]
            out.append(name if std == "January" else name[:3])
        elif std in ("1", "01"):
            out.append(str(dt.month) if std == "1" else f"{dt.month:02d}")
        elif std in ("Monday", "Mon"):
            name = _LONG_DAYS[dt.weekday()]
            out.append(name if std == "Monday" else name[:3])
        elif std in ("2", "_2", "02"):
            out.append({"2": str(dt.day), "_2": f"{dt.day:2d}", "02": f"{dt.day:02d}"}[std])
        elif std in ("__2", "002"):
            yday = dt.timetuple().tm_yday
            out.append(f"{yday:3d}" if std == "__2" else f"{yday:03d}")
        elif std == "15":
            out.append(f"{dt.hour:02d}")
        elif std in ("3", "03"):
            h = dt.hour % 12 or 12
            out.append(str(h) if std == "3" else f"{h:02d}")
        elif std in ("4", "04", "5", "05"):
            v = dt.minute if std in ("4", "04") else dt.second
            out.append(str(v) if len(std) == 1 else f"{v:02d}")
        elif std in ("PM", "pm"):
            s = "PM" if dt.hour >= 12 else "AM"
            out.append(s if std == "PM" else s.lower())
        elif std == "MST":
            name = dt.tzname() or ""
            out.append(name if name and not name.startswith(("UTC+", "UTC-")) else _offset_text(offset, "-0700"))
        elif std[0] in "-Z":
            out.append(_offset_text(offset, std))
        else:
            sep, digits = str(arg)[0], int(str(arg)[1:])
            frac = f"{t.nanosecond():09d}"[:digits]
            if std == "frac9":
                frac = frac.rstrip("0")
                out.append(sep + frac if frac else "")
            else:
                out.append(sep + frac)
    return "".join(out)


_PARSE_NUM = {"2006": r"[+-]?\d{4}", "06": r"\d{2}", "1": r"\d{1,2}", "01": r"\d{2}", "2": r"\d{1,2}",
              "_2": r" ?\d{1,2}", "02": r"\d{2}", "__2": r"[ \d]{1,3}", "002": r"\d{3}", "15": r"\d{1,2}",
              "3": r"\d{1,2}", "03": r"\d{2}", "4": r"\d{1,2}", "04": r"\d{2}", "5": r"\d{1,2}",
              "05": r"\d{2}"}  # fmt: skip


def go_parse_time(layout: str, value: str, loc: tzinfo = UTC) -> GoTime:
    """time.ParseInLocation for the common layouts; ValueError when the value does not fit."""
    parts: list[str] = []
    fields: list[str] = []
    for std, arg in _layout(layout):
        if std == "lit":
            parts.append(re.escape(str(arg)))
            continue
        fields.append(std)
        if std in _PARSE_NUM:
            pat = _PARSE_NUM[std]
            if std in ("5", "05"):
                pat += r"(?:[.,]\d+)?"
        elif std in ("January", "Jan"):
            pat = "|".join(m if std == "January" else m[:3] for m in _LONG_MONTHS)
        elif std in ("Monday", "Mon"):
            pat = "|".join(d if std == "Monday" else d[:3] for d in _LONG_DAYS)
        elif std in ("PM", "pm"):
            pat = "AM|PM" if std == "PM" else "am|pm"
        elif std == "MST":
            pat = r"[A-Z]{3,5}|[+-]\d{4}"
        elif std[0] in "-Z":
            pat = (r"Z|" if std[0] == "Z" else "") + r"[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?"
        else:
            n = int(str(arg)[1:])
            pat = rf"[.,]\d{{{n}}}" if std == "frac0" else r"(?:[.,]\d+)?"
        parts.append(f"({pat})")
    m = re.fullmatch("".join(parts), value)
    if m is None:
        raise ValueError(f"parsing time {go_quote(value)} as {go_quote(layout)}: cannot parse")
    year, month, day, hour, minute, second, nanos, pm, offset = 1, 1, 1, 0, 0, 0, 0, None, None
    yday = None
    for std, text in zip(fields, m.groups(), strict=True):
        if std == "2006":
            year = int(text)
        elif std == "06":
            year = int(text) + (1900 if int(text) >= 69 else 2000)
        elif std in ("1", "01"):
            month = int(text)
        elif std in ("January", "Jan"):
            month = next(i for i, name in enumerate(_LONG_MONTHS, 1) if name.startswith(text))
        elif std in ("2", "_2", "02"):
            day = int(text)
        elif std in ("__2", "002"):
            yday = int(text)
        elif std in ("15", "3", "03"):
            hour = int(text)
        elif std in ("4", "04"):
            minute = int(text)
        elif std in ("5", "05"):
            whole, _, frac = text.replace(",", ".").partition(".")
            second = int(whole)
            nanos = int((frac + "000000000")[:9]) if frac else nanos
        elif std in ("PM", "pm"):
            pm = text.upper() == "PM"
        elif std[0] in "-Z" and text != "Z":
            digits = text[1:].replace(":", "")
            secs = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60 + int(digits[4:6] or 0)
            offset = -secs if text[0] == "-" else secs
        elif std[0] in "-Z":
            offset = 0
        elif std.startswith("frac") and text:
            nanos = int((text[1:] + "000000000")[:9])
    if pm is not None:
        hour = hour % 12 + (12 if pm else 0)
    tz = loc if offset is None else (UTC if offset == 0 and loc is UTC else timezone(timedelta(seconds=offset)))
    dt = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    if yday is not None:
        dt = datetime(year, 1, 1, hour, minute, second, tzinfo=tz) + timedelta(days=yday - 1)
    ns = int((dt - _EPOCH) // timedelta(microseconds=1)) * 1000 + nanos
    return GoTime(ns, tz)


# --- functions -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Func:
    """A template function: Python callable and Go parameter kinds.

    Kinds: s string, i int, f float64, t time.Time, a interface{} (any value). `variadic` is the kind
    of the trailing `...` parameter. `lazy` marks and/or, which get unevaluated arguments. `checked`
    functions may loop long (one regex match after another): they get the query's deadline check as `check=`.
    """

    fn: Callable[..., Any]
    params: str = ""
    variadic: str | None = None
    lazy: bool = False
    checked: bool = False


def _cast_int(v: Any) -> int:
    """spf13/cast ToInt64: strings through ParseInt(s, 0) after dropping a zero decimal part; else 0."""
    t = type(v)
    if t is int:
        return v
    if t is bool:
        return int(v)
    if t is float:
        return int(v) if math.isfinite(v) else 0
    if t is str:
        s = v
        stripped = s.rstrip("0")
        if stripped.endswith(".") and stripped != s:
            s = stripped[:-1]
        return _parse_int_base0(s)
    return 0


def _parse_int_base0(s: str) -> int:
    """strconv.ParseInt(s, 0, 64), 0 on any error (as cast does): 0x/0o/0b prefixes, a leading 0 means octal."""
    body = s[1:] if s[:1] in "+-" else s
    try:
        if len(body) > 1 and body[0] == "0" and body[1] not in "xXoObB":
            if body.endswith("_") or "__" in body or not body.replace("_", "").isdigit():
                return 0
            value = int(body.replace("_", ""), 8)
        else:
            value = int(body, 0)  # Python's literal rules, underscores included, are Go's here
    except ValueError:
        return 0
    value = -value if s.startswith("-") else value
    return value if -(2**63) <= value < 2**63 else 0


def _cast_float(v: Any) -> float:
    t = type(v)
    if t is float:
        return v
    if t in (int, bool):
        return float(v)
    if t is str:
        try:
            return parse_float(v)
        except ValueError:
            return 0.0
    return 0.0


def _trunc_div(a: int, b: int) -> int:
    if b == 0:
        raise TemplateError("runtime error: integer divide by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _decimal_op(first: Any, rest: list[Any], op: Callable[[Decimal, Decimal], Decimal]) -> float:
    acc = Decimal(repr(_cast_float(first)))
    try:
        for x in rest:
            acc = op(acc, Decimal(repr(_cast_float(x))))
    except (DivisionByZero, InvalidOperation):
        raise TemplateError("decimal division by 0") from None
    return float(acc)


def _round(a: Any, p: int, *r_opt: float) -> float:
    round_on = r_opt[0] if r_opt else 0.5
    val = _cast_float(a)
    pow_ = math.pow(10, p)
    digit = pow_ * val
    div = math.modf(digit)[0]
    if val > 0:
        rounded = math.ceil(digit) if div >= round_on else math.floor(digit)
    else:
        rounded = math.floor(digit) if div >= round_on else math.ceil(digit)
    return rounded / pow_


def _whole(fn: Callable[[float], int], x: float) -> float:
    return float(fn(x)) if math.isfinite(x) else x


def _empty(v: Any) -> bool:
    """sprig's `empty`: nil, zero numbers, false and empty strings, maps and slices."""
    if v is None:
        return True
    if isinstance(v, str | int | float | bool | dict | list):
        return not v
    return False


def _default(d: Any, *given: Any) -> Any:
    return d if not given or _empty(given[0]) else given[0]


def _is_separator(c: str) -> bool:
    if c <= "\x7f":
        return not (c.isalnum() or c == "_")
    if c.isalpha() or c.isdigit():
        return False
    return c.isspace()


def _title(s: str) -> str:
    """strings.Title: upper-case the first letter of every word."""
    out: list[str] = []
    prev = " "
    for c in s:
        out.append(c.upper() if _is_separator(prev) else c)
        prev = c
    return "".join(out)


def _trunc(c: int, s: str) -> str:
    if c < 0 and len(s) + c > 0:
        return s[len(s) + c :]
    if c >= 0 and len(s) > c:
        return s[:c]
    return s


def _substr(start: int, end: int, s: str) -> str:
    n = len(s)
    end, start = min(end, n), min(start, n)
    if start < 0:
        return "" if end < 0 else s[:end]
    if end < 0:
        return s[start:]
    return "" if start > end else s[start:end]


def _align(count: int, src: str, left: bool) -> str:
    check_size(count)
    n = len(src)
    if count < 0 or count == n:
        return src
    if count > n:
        return src + " " * (count - n) if left else " " * (count - n) + src
    return src[:count] if left else src[n - count :]


def _repeat(count: int, s: str) -> str:
    if count < 0:
        raise TemplateError("strings: negative Repeat count")
    check_size(count * len(s))
    return s * count


def _replace(s: str, old: str, new: str, n: int = -1) -> str:
    hits = s.count(old) if n < 0 else min(n, s.count(old))
    check_size(len(s) + hits * (len(new) - len(old)))
    return s.replace(old, new, n)


def _indent(n: int, s: str, lead: str = "") -> str:
    check_size(len(lead) + len(s) + max(n, 0) * (s.count("\n") + 1))
    return lead + " " * n + s.replace("\n", "\n" + " " * n)


def _regex(pattern: str) -> Any:
    try:
        return compile_regex(pattern)
    except ValueError as e:
        raise TemplateError(str(e)) from None


def _regex_replace_all(regex: str, s: str, repl: str, check: Callable[[], None]) -> str:
    return go_replace_all(_regex(regex), s, repl, literal=False, max_size=MAX_LINE_SIZE, check=check)


def _regex_replace_all_literal(regex: str, s: str, repl: str, check: Callable[[], None]) -> str:
    return go_replace_all(_regex(regex), s, repl, literal=True, max_size=MAX_LINE_SIZE, check=check)


def _count(regex: str, s: str, check: Callable[[], None]) -> int:
    return len(go_find_all(_regex(regex), s, check))


def _urldecode(s: str) -> str:
    for m in re.finditer(r"%(.{0,2})", s, re.DOTALL):
        if not re.fullmatch(r"[0-9a-fA-F]{2}", m.group(1)):
            raise TemplateError(f"invalid URL escape {go_quote(m.group(0)[:3])}")
    return urllib.parse.unquote_plus(s, errors="replace")


def _b64dec(s: str) -> str:
    try:
        return base64.b64decode(s.encode(), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        bad = next((i for i, c in enumerate(s) if not (c.isascii() and (c.isalnum() or c in "+/="))), len(s))
        return f"illegal base64 data at input byte {bad}"


def _bytes(s: str) -> float:
    try:
        return float(parse_bytes(s))
    except ValueError as e:
        raise TemplateError(str(e)) from None


def _duration(s: str) -> float:
    try:
        return parse_duration(s) / 1e9
    except ValueError as e:
        raise TemplateError(str(e)) from None


def _from_json(s: str) -> Any:
    try:
        doc = json.loads(s)
    except (ValueError, RecursionError):
        return None
    return _floats(doc)


def _floats(v: Any) -> Any:
    """encoding/json into interface{}: every number is a float64."""
    t = type(v)
    if t is int:
        return float(v)
    if t is dict:
        return {k: _floats(x) for k, x in v.items()}
    if t is list:
        return [_floats(x) for x in v]
    return v


def _now() -> GoTime:
    return GoTime(time.time_ns())


def _date(fmt: str, date: Any) -> str:
    if type(date) is GoTime:
        t = date
    elif type(date) is int:
        t = GoTime(date * 1_000_000_000)
    else:
        t = _now()
    return go_format_time(GoTime(t.ns), fmt)


def _zone(name: str) -> tzinfo:
    if name in ("", "UTC", "Local"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _to_date(fmt: str, s: str) -> GoTime:
    try:
        return go_parse_time(fmt, s)
    except ValueError:
        return ZERO_TIME


def _to_date_in_zone(fmt: str, zone: str, s: str) -> GoTime:
    try:
        return go_parse_time(fmt, s, _zone(zone))
    except ValueError:
        return ZERO_TIME


def _unix_to_time(epoch: str) -> GoTime:
    try:
        i = int(epoch) if re.fullmatch(r"[+-]?\d+", epoch) else None
    except ValueError:
        i = None
    if i is None:
        raise TemplateError(
            f"unable to parse time '{epoch}': strconv.ParseInt: parsing {go_quote(epoch)}: invalid syntax"
        )
    scale = {5: 86400 * 10**9, 10: 10**9, 13: 10**6, 16: 10**3, 19: 1}.get(len(epoch))
    if scale is None:
        raise TemplateError(f"unable to parse time '{epoch}': %!w(<nil>)")
    return GoTime(i * scale)


def _minmax(pick: Callable[..., Any], cast: Callable[[Any], Any]) -> Callable[..., Any]:
    return lambda a, *rest: pick([cast(a), *(cast(x) for x in rest)])


_TRIM_SPACE = " \t\n\v\f\r\x85\xa0"


def _html(*args: Any) -> str:
    s = go_sprint(list(args))
    return (
        s.replace("&", "&amp;")
        .replace("'", "&#39;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("\x00", "\ufffd")
    )


def _js(*args: Any) -> str:
    out: list[str] = []
    for c in go_sprint(list(args)):
        if c in "\\'\"":
            out.append("\\" + c)
        elif c in "<>&=`" or c < " ":
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


FUNCTIONS: dict[str, Func] = {
    # Loki's own map (the capitalised names are kept for compatibility)
    "ToLower": Func(str.lower, "s"),
    "ToUpper": Func(str.upper, "s"),
    "Replace": Func(lambda s, old, new, n: _replace(s, old, new, n if n >= 0 else -1), "sssi"),
    "Trim": Func(lambda s, cut: s.strip(cut) if cut else s, "ss"),
    "TrimLeft": Func(lambda s, cut: s.lstrip(cut) if cut else s, "ss"),
    "TrimRight": Func(lambda s, cut: s.rstrip(cut) if cut else s, "ss"),
    "TrimPrefix": Func(str.removeprefix, "ss"),
    "TrimSuffix": Func(str.removesuffix, "ss"),
    "TrimSpace": Func(lambda s: s.strip(_TRIM_SPACE), "s"),
    "regexReplaceAll": Func(_regex_replace_all, "sss", checked=True),
    "regexReplaceAllLiteral": Func(_regex_replace_all_literal, "sss", checked=True),
    "count": Func(_count, "ss", checked=True),
    "urldecode": Func(_urldecode, "s"),
    "urlencode": Func(lambda s: urllib.parse.quote_plus(s, safe=""), "s"),
    "bytes": Func(_bytes, "s"),
    "duration": Func(_duration, "s"),
    "duration_seconds": Func(_duration, "s"),
    "unixEpochMillis": Func(lambda t: str(t.ns // 1_000_000), "t"),
    "unixEpochNanos": Func(lambda t: str(t.ns), "t"),
    "toDateInZone": Func(_to_date_in_zone, "sss"),
    "unixToTime": Func(_unix_to_time, "s"),
    "alignLeft": Func(lambda count, src: _align(count, src, left=True), "is"),
    "alignRight": Func(lambda count, src: _align(count, src, left=False), "is"),
    # sprig, as far as Loki exposes it
    "b64enc": Func(lambda s: base64.b64encode(s.encode()).decode(), "s"),
    "b64dec": Func(_b64dec, "s"),
    "lower": Func(str.lower, "s"),
    "upper": Func(str.upper, "s"),
    "title": Func(_title, "s"),
    "trunc": Func(_trunc, "is"),
    "substr": Func(_substr, "iis"),
    "contains": Func(lambda sub, s: sub in s, "ss"),
    "hasPrefix": Func(lambda p, s: s.startswith(p), "ss"),
    "hasSuffix": Func(lambda p, s: s.endswith(p), "ss"),
    "indent": Func(lambda n, s: _indent(n, s), "is"),
    "nindent": Func(lambda n, s: _indent(n, s, "\n"), "is"),
    "replace": Func(lambda old, new, src: _replace(src, old, new), "sss"),
    "repeat": Func(_repeat, "is"),
    "trim": Func(lambda s: s.strip(_TRIM_SPACE), "s"),
    "trimAll": Func(lambda cut, s: s.strip(cut) if cut else s, "ss"),
    "trimSuffix": Func(lambda suffix, s: s.removesuffix(suffix), "ss"),
    "trimPrefix": Func(lambda prefix, s: s.removeprefix(prefix), "ss"),
    "int": Func(_cast_int, "a"),
    "float64": Func(_cast_float, "a"),
    "add": Func(lambda *xs: sum(_cast_int(x) for x in xs), "", "a"),
    "sub": Func(lambda a, b: _cast_int(a) - _cast_int(b), "aa"),
    "mul": Func(lambda a, *xs: math.prod([_cast_int(a), *(_cast_int(x) for x in xs)]), "a", "a"),
    "div": Func(lambda a, b: _trunc_div(_cast_int(a), _cast_int(b)), "aa"),
    "mod": Func(lambda a, b: _cast_int(a) - _cast_int(b) * _trunc_div(_cast_int(a), _cast_int(b)), "aa"),
    "addf": Func(lambda *xs: _decimal_op(0.0, list(xs), Decimal.__add__), "", "a"),
    "subf": Func(lambda a, *xs: _decimal_op(a, list(xs), Decimal.__sub__), "a", "a"),
    "mulf": Func(lambda a, *xs: _decimal_op(a, list(xs), Decimal.__mul__), "a", "a"),
    "divf": Func(lambda a, *xs: _decimal_op(a, list(xs), Decimal.__truediv__), "a", "a"),
    "max": Func(_minmax(max, _cast_int), "a", "a"),
    "min": Func(_minmax(min, _cast_int), "a", "a"),
    "maxf": Func(_minmax(max, _cast_float), "a", "a"),
    "minf": Func(_minmax(min, _cast_float), "a", "a"),
    "ceil": Func(lambda a: _whole(math.ceil, _cast_float(a)), "a"),
    "floor": Func(lambda a: _whole(math.floor, _cast_float(a)), "a"),
    "round": Func(_round, "ai", "f"),
    "fromJson": Func(_from_json, "s"),
    "date": Func(_date, "sa"),
    "toDate": Func(_to_date, "ss"),
    "now": Func(_now),
    "unixEpoch": Func(lambda t: str(t.unix()), "t"),
    "default": Func(_default, "a", "a"),
    # text/template builtins that need no access to the engine
    "print": Func(lambda *xs: go_sprint(list(xs)), "", "a"),
    "println": Func(lambda *xs: " ".join(sprint_value(x) for x in xs) + "\n", "", "a"),
    "printf": Func(lambda fmt, *xs: go_sprintf(fmt, list(xs)), "s", "a"),
    "html": Func(_html, "", "a"),
    "js": Func(_js, "", "a"),
    "urlquery": Func(lambda *xs: urllib.parse.quote_plus(go_sprint(list(xs)), safe=""), "", "a"),
}
