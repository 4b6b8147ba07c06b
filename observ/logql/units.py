"""Durations and byte sizes as LogQL writes them (Go's time.ParseDuration, Prometheus' d/w/y, go-humanize)."""

from __future__ import annotations

import re

_GO_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
             "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9, "y": 365 * 86400 * 10**9}  # fmt: skip
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w|y)")
_BYTES = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$")
_BYTE_UNITS = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    _BYTE_UNITS |= {_p: 1000**_i, f"{_p}b": 1000**_i, f"{_p}i": 1024**_i, f"{_p}ib": 1024**_i}


def parse_duration_ns(text: str) -> int:
    """`1h30m`, `250ms`, `1.5s`, `-2m`, `7d`: Go durations plus Prometheus' d, w and y units."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    body = s.lstrip("+-")
    if body == "0":
        return 0
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(body):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    if not body or pos != len(body):
        raise ValueError(f"invalid duration {text!r}")
    return sign * round(total)


def parse_duration_seconds(text: str) -> float:
    return parse_duration_ns(text) / 1e9


def parse_bytes(text: str) -> float:
    """`20MB`, `1.5 KiB`, `42` (go-humanize's ParseBytes: SI and IEC units, case-insensitive)."""
    m = _BYTES.match(text)
    unit = m.group(2).lower() if m else None
    if not m or unit not in _BYTE_UNITS:
        raise ValueError(f"invalid bytes value {text!r}")
    return float(m.group(1).replace(",", "")) * _BYTE_UNITS[unit]


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
        size = _GO_UNITS[unit] // 10**6
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
