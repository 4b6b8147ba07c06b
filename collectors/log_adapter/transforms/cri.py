"""CRI log lines (`<RFC3339Nano> <stdout|stderr> <F|P> <content>`) and RFC 3339 timestamps.

Runs once per physical line, so it avoids regexes: a split and a few comparisons,
with the calendar arithmetic cached per second (lines of one second share it).
"""

from __future__ import annotations

import calendar

NS = 1_000_000_000

STREAMS = {b"stdout": "stdout", b"stderr": "stderr"}
"""Interned names, so every entry of a stream shares one string object."""

_SECONDS: dict[bytes, int] = {}
_SECONDS_MAX = 8192


def _seconds(prefix: bytes) -> int | None:
    """Epoch seconds of `YYYY-MM-DDTHH:MM:SS` read as UTC; None if it is not one."""
    if (
        len(prefix) != 19
        or prefix[4] != 45  # -
        or prefix[7] != 45
        or prefix[10] not in b"Tt "
        or prefix[13] != 58  # :
        or prefix[16] != 58
    ):
        return None
    digits = prefix[0:4] + prefix[5:7] + prefix[8:10] + prefix[11:13] + prefix[14:16] + prefix[17:19]
    if not digits.isdigit():
        return None
    year, month, day = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
    hour, minute, second = int(digits[8:10]), int(digits[10:12]), int(digits[12:14])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def parse_rfc3339(ts: bytes) -> int | None:
    """Nanoseconds since the epoch, or None.

    Accepts `YYYY-MM-DDTHH:MM:SS[.f{1,}](Z|±HH:MM|±HHMM)`; Go's RFC3339Nano (used by
    containerd, CRI-O and Docker) drops trailing zeros of the fraction, so its width varies.
    """
    prefix = ts[:19]
    sec = _SECONDS.get(prefix)
    if sec is None:
        sec = _seconds(prefix)
        if sec is None:
            return None
        if len(_SECONDS) >= _SECONDS_MAX:
            _SECONDS.clear()
        _SECONDS[prefix] = sec
    n = len(ts)
    if n == 30 and ts[19] == 46 and ts[29] == 90:  # the common `.fffffffffZ`
        frac = ts[20:29]
        if frac.isdigit():
            return sec * NS + int(frac)
        return None
    i = 19
    frac_ns = 0
    if i < n and ts[i] == 46:  # .
        j = i + 1
        while j < n and 48 <= ts[j] <= 57:
            j += 1
        if j == i + 1:
            return None
        frac_ns = int(ts[i + 1 : min(j, i + 10)].ljust(9, b"0"))
        i = j
    zone = ts[i:]
    if zone in (b"Z", b"z"):
        return sec * NS + frac_ns
    if len(zone) == 6 and zone[3] == 58:
        zone = zone[:3] + zone[4:]
    if len(zone) != 5 or zone[0] not in b"+-" or not zone[1:].isdigit():
        return None
    hours, minutes = int(zone[1:3]), int(zone[3:5])
    if hours > 23 or minutes > 59:
        return None
    offset = hours * 3600 + minutes * 60
    return (sec - offset if zone[0] == 43 else sec + offset) * NS + frac_ns


def parse_cri(line: bytes) -> tuple[int, str, bool, bytes] | None:
    """(ts_ns, stream, partial, content) of a CRI line, or None when it is not one.

    The tag may carry more `:`-separated fields after F/P (the CRI spec reserves them).
    An empty message may come without the space before it.
    """
    parts = line.split(b" ", 3)
    if len(parts) == 4:
        ts, stream, tag, content = parts
    elif len(parts) == 3:
        ts, stream, tag = parts
        content = b""
    else:
        return None
    name = STREAMS.get(stream)
    if name is None:
        return None
    if tag == b"F":
        partial = False
    elif tag == b"P":
        partial = True
    elif tag[:2] in (b"F:", b"P:"):
        partial = tag[0] == 80
    else:
        return None
    sec = _SECONDS.get(ts[:19])
    if sec is not None and len(ts) == 30 and ts[29] == 90 and ts[19] == 46:
        frac = ts[20:29]
        if frac.isdigit():
            return sec * NS + int(frac), name, partial, content  # parse_rfc3339's fast path, inlined
    t = parse_rfc3339(ts)
    if t is None:
        return None
    return t, name, partial, content


def looks_like_cri(line: bytes) -> bool:
    """Starts like a CRI line (a timestamp) though it may be cut short: a half-written line."""
    return len(line) >= 19 and line[10] in b"Tt" and _seconds(line[:19]) is not None
