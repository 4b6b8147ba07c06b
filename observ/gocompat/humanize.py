"""go-humanize's ParseBytes, as Loki reads byte sizes in label values (`bytes()`, `| size > 1KB`, unwrap), and its
unit table, which LogQL's size literals share."""

from __future__ import annotations

from observ.gocompat.strconv import parse_float

__all__ = ["BYTE_SIZES", "parse_bytes"]

BYTE_SIZES = {"": 1, "b": 1}
"""Bytes per unit, lower case: SI (`kb`, `k`) and IEC (`kib`, `ki`) up to exa."""
for _i, _p in enumerate("kmgtpe", start=1):
    BYTE_SIZES |= {_p: 1000**_i, f"{_p}b": 1000**_i, f"{_p}i": 1024**_i, f"{_p}ib": 1024**_i}


def parse_bytes(s: str) -> int:
    """go-humanize ParseBytes: leading number (digits, `.` and `,`), then an SI or IEC unit, case-insensitive."""
    end = 0
    while end < len(s) and (s[end].isdecimal() or s[end] in ".,"):
        end += 1
    value = parse_float(s[:end].replace(",", ""))
    unit = s[end:].strip().lower()
    if unit not in BYTE_SIZES:
        raise ValueError(f"unhandled size name: {unit}")
    value *= BYTE_SIZES[unit]
    if value >= 2.0**64:
        raise ValueError(f"too large: {s}")
    return int(value)
