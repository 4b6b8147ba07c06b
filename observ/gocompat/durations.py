"""Durations as Go and Prometheus spell them: time.ParseDuration and Duration.String (Go), and the d/w/y units
of Prometheus' model.Duration, which LogQL, TraceQL and the config accept."""

from __future__ import annotations

import re

from observ.gocompat.strconv import go_quote

__all__ = ["format_duration", "go_duration_string", "parse_duration", "parse_duration_ns", "parse_duration_seconds"]

_PROM_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
               "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9, "y": 365 * 86400 * 10**9}  # fmt: skip
_PROM_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w|y)")


def parse_duration_ns(text: str) -> int:
    """`1h30m`, `250ms`, `1.5s`, `-2m`, `7d`: Go durations plus Prometheus' d, w and y units."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    body = s.lstrip("+-")
    if body == "0":
        return 0
    pos, total = 0, 0.0
    for m in _PROM_PART.finditer(body):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _PROM_UNITS[m.group(2)]
        pos = m.end()
    if not body or pos != len(body):
        raise ValueError(f"invalid duration {text!r}")
    return sign * round(total)


def parse_duration_seconds(text: str) -> float:
    return parse_duration_ns(text) / 1e9


def format_duration(ns: int) -> str:
    """Prometheus' model.Duration spelling (`5m`, `1h30m`, `90d`, `2w`), as Loki prints ranges and limits.

    Years and weeks are used only when they divide the duration exactly: `90d` reads better than `12w6d`.
    Below millisecond resolution, which model.Duration lacks, Go's spelling keeps the value exact.
    """
    if ns % 10**6:
        return go_duration_string(ns)
    ms = abs(ns) // 10**6
    if ms == 0:
        return "0s"
    out = []
    for unit, exact in (("y", True), ("w", True), ("d", False), ("h", False), ("m", False), ("s", False)):
        size = _PROM_UNITS[unit] // 10**6
        if exact and ms % size:
            continue
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    if ms:
        out.append(f"{ms}ms")
    return ("-" if ns < 0 else "") + "".join(out)


def go_duration_string(ns: int) -> str:
    """Go's time.Duration.String (`800h0m0s`, `1.5s`, `250ms`): Loki prints query lengths this way."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if u >= size:
                return sign + _trim(u / size) + unit
    h, rest = divmod(u, 3600 * 10**9)
    m, rest = divmod(rest, 60 * 10**9)
    secs = _trim(rest / 1e9)
    if h:
        return f"{sign}{h}h{m}m{secs}s"
    if m:
        return f"{sign}{m}m{secs}s"
    return f"{sign}{secs}s"


def _trim(x: float) -> str:
    return f"{x:.9f}".rstrip("0").rstrip(".")


# --- Go's time.ParseDuration ------------------------------------------------------------------------

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
