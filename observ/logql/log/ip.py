"""`ip("…")` line and label filters, as Loki's pkg/logql/log/ip.go runs them.

A pattern is one address, a CIDR prefix or an `a-b` range, parsed by Go's net/netip rules (ParseAddr,
ParsePrefix) and go4.org/netipx's ParseIPRange, tried in that order. A text matches when one of the
IP-looking substrings Loki's hint scan picks out of it is an address the pattern contains: the line for
`|= ip()` / `!= ip()`, the label value for `| name = ip()` / `| name != ip()`.

Loki builds these filters when it builds the pipeline, not while parsing, so a bad pattern or a `|~ ip()`
parses (format_query takes it) and fails the query as a stage error (`stage_error`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

from observ.gocompat.strconv import go_quote
from observ.logql.errors import LogQLError, ParseError
from observ.logql.syntax import ast
from observ.logql.syntax.format import format_filter_value, format_label_filter

INVALID_OPERATION = "ip: invalid operation"
INVALID_PATTERN = "ip: invalid pattern"

_IP_LINE_OPS = (ast.LineFilterOp.CONTAINS, ast.LineFilterOp.NOT_CONTAINS)
_NEGATED = (ast.LineFilterOp.NOT_CONTAINS, ast.LineFilterOp.NOT_MATCH, ast.LineFilterOp.NOT_PATTERN)


class Addr(NamedTuple):
    """A netip.Addr: `bits` is its BitLen (32, or 128 for IPv6 and IPv4-mapped IPv6).

    Tuple order is Addr.Compare's: family, then value, then zone.
    """

    bits: int
    value: int
    zone: str = ""


# --- Go's net/netip parsers ------------------------------------------------------------------------


def _ipv4_fields(s: str) -> list[int] | None:
    """parseIPv4Fields: four decimal octets, no empty field, no leading zero, none above 255."""
    fields: list[int] = []
    val = digits = 0
    last = len(s) - 1
    for i, c in enumerate(s):
        if "0" <= c <= "9":
            if digits == 1 and val == 0:
                return None
            val = val * 10 + ord(c) - 48
            digits += 1
            if val > 255:
                return None
        elif c == "." and 0 < i < last and s[i - 1] != "." and len(fields) < 3:
            fields.append(val)
            val = digits = 0
        else:
            return None
    if len(fields) < 3:
        return None
    fields.append(val)
    return fields


def _hex_digit(c: str) -> int:
    if "0" <= c <= "9":
        return ord(c) - 48
    if "a" <= c <= "f":
        return ord(c) - 87
    if "A" <= c <= "F":
        return ord(c) - 55
    return -1


def _parse_ipv6(text: str) -> Addr | None:
    """parseIPv6: groups of at most 4 hex digits, one `::`, a trailing dotted IPv4, a non-empty `%zone`."""
    s, zone = text, ""
    cut = s.find("%")
    if cut >= 0:
        s, zone = s[:cut], s[cut + 1 :]
        if not zone:
            return None
    ip = [0] * 16
    ellipsis = -1
    if s.startswith("::"):
        ellipsis = 0
        s = s[2:]
        if not s:
            return Addr(128, 0, zone)
    i = 0
    while i < 16:
        off = acc = 0
        while off < len(s):
            d = _hex_digit(s[off])
            if d < 0:
                break
            if off > 3:
                return None
            acc = (acc << 4) + d
            off += 1
        if off == 0:
            return None
        if off < len(s) and s[off] == ".":
            if (ellipsis < 0 and i != 12) or i + 4 > 16:
                return None
            fields = _ipv4_fields(s)
            if fields is None:
                return None
            ip[i : i + 4] = fields
            s = ""
            i += 4
            break
        ip[i], ip[i + 1] = acc >> 8, acc & 0xFF
        i += 2
        s = s[off:]
        if not s:
            break
        if s[0] != ":" or len(s) == 1:
            return None
        s = s[1:]
        if s[0] == ":":
            if ellipsis >= 0:
                return None
            ellipsis = i
            s = s[1:]
            if not s:
                break
    if s:
        return None
    if i < 16:
        if ellipsis < 0:
            return None
        n = 16 - i
        ip[ellipsis + n : 16] = ip[ellipsis:i]
        ip[ellipsis : ellipsis + n] = [0] * n
    elif ellipsis >= 0:
        return None
    return Addr(128, int.from_bytes(bytes(ip), "big"), zone)


def parse_addr(s: str) -> Addr | None:
    """netip.ParseAddr: the first `.`, `:` or `%` decides the family (a `%` first is an error)."""
    for c in s:
        if c == ".":
            fields = _ipv4_fields(s)
            return None if fields is None else Addr(32, int.from_bytes(bytes(fields), "big"))
        if c == ":":
            return _parse_ipv6(s)
        if c == "%":
            return None
    return None


def _parse_prefix(s: str) -> tuple[Addr, int] | None:
    """netip.ParsePrefix: address `/` bits (decimal, no sign or leading zero, within the family), no zone."""
    cut = s.rfind("/")
    if cut < 0:
        return None
    addr = parse_addr(s[:cut])
    if addr is None or addr.zone:
        return None
    bits = s[cut + 1 :]
    if not bits or not all("0" <= c <= "9" for c in bits) or (len(bits) > 1 and bits[0] == "0"):
        return None
    if int(bits) > addr.bits:
        return None
    return addr, int(bits)


def _parse_range(s: str) -> tuple[Addr, Addr] | None:
    """netipx.ParseIPRange: `from-to` split at the first `-`, zones dropped, one family, from <= to."""
    cut = s.find("-")
    if cut < 0:
        return None
    low, high = parse_addr(s[:cut]), parse_addr(s[cut + 1 :])
    if low is None or high is None:
        return None
    low, high = low._replace(zone=""), high._replace(zone="")
    if low.bits != high.bits or high < low:
        return None
    return low, high


AddrTest = Callable[[Addr], bool]


def _matcher(pattern: str) -> tuple[AddrTest, int]:
    """Loki's getMatcher (a single address, else a prefix, else a range) and the family (bits) it can contain."""
    single = parse_addr(pattern)
    if single is not None:
        return single.__eq__, single.bits
    prefix = _parse_prefix(pattern)
    if prefix is not None:
        net, bits = prefix
        return lambda a: a.bits == net.bits and not a.zone and (a.value ^ net.value) >> (a.bits - bits) == 0, net.bits
    span = _parse_range(pattern)
    if span is not None:
        low, high = span
        return lambda a: not a.zone and low <= a <= high, low.bits
    raise LogQLError(f"{INVALID_PATTERN}: {go_quote(pattern)}")


# --- the scan --------------------------------------------------------------------------------------

# Loki's ipv4Hint (a digit, a dot within the next three bytes, four bytes left; group 1) and ipv6Hint (`::` and a
# hex digit, or one to four hex digits and a colon): the leftmost position where either holds, IPv4 first.
_HINT = re.compile(r"([0-9](?=[\s\S]{3})(?=\.|[\s\S]\.|[\s\S]{2}\.))|::[0-9a-fA-F]|[0-9a-fA-F]{1,4}:")
_IPV4_RUN = re.compile(r"[0-9.]*")
_IPV6_RUN = re.compile(r"[0-9a-fA-F:.]*")


class IpFilter:
    """ipFilter: `search(text)` says whether an IP-looking substring of `text` is an address of the pattern.

    The scan is Loki's: at each hint it takes the longest run of IPv4 (or IPv6) characters, parses it with
    ParseAddr, and on failure resumes one character past the run. Hints and runs are ASCII, so scanning
    characters finds what Loki's scan of the UTF-8 bytes finds. A run of the other family is still skipped
    whole, but not parsed: an IPv4 run never parses as IPv6, and an IPv6 hint's run (a `:` before any `.`)
    never as IPv4.
    """

    __slots__ = ("_contains", "_v4", "pattern")

    def __init__(self, pattern: str) -> None:
        """Raises LogQLError `ip: invalid pattern: "…"` as Loki's newIPFilter."""
        self.pattern = pattern
        self._contains, bits = _matcher(pattern)
        self._v4 = bits == 32

    def search(self, text: str) -> bool:
        contains, want_v4 = self._contains, self._v4
        if ("." if want_v4 else ":") not in text:  # every IPv4 address has a dot, every IPv6 one a colon
            return False
        hint = _HINT.search
        i = 0
        while (m := hint(text, i)) is not None:
            i = m.start()
            v4 = m.lastindex == 1
            run_match = (_IPV4_RUN if v4 else _IPV6_RUN).match(text, i)  # `*`: matches, if only the empty run
            run = run_match.end() if run_match else i
            if v4 is want_v4:
                addr = parse_addr(text[i:run])
                if addr is not None and contains(addr):
                    return True
            i = run + 1
        return False


def line_filter(pattern: str, op: ast.LineFilterOp) -> Callable[[str], bool]:
    """NewIPLineFilter: only `|=` and `!=` take ip(); the test says whether the line holds a matching address
    (the caller negates it for `!=`)."""
    if op not in _IP_LINE_OPS:
        raise LogQLError(INVALID_OPERATION)
    return IpFilter(pattern).search


def label_filter(f: ast.IpLabelFilter) -> Callable[[str | None, bool], bool]:
    """IPLabelFilter.filterTy as a test of (label value or None, entry has an error).

    An entry that already has an error passes (only string matchers may drop it); a missing label fails;
    a bad pattern fails every other entry (Loki refuses it only where the filter is a stage of its own,
    see `stage_error`).
    """
    try:
        search: Callable[[str], bool] | None = IpFilter(f.pattern).search
    except LogQLError:
        search = None
    equal = f.op is ast.MatchOp.EQ

    def test(value: str | None, has_error: bool) -> bool:
        if has_error:
            return True
        if value is None or search is None:
            return False
        return search(value) is equal

    return test


# --- Loki's stage errors ---------------------------------------------------------------------------


def _line_filters_text(run: Sequence[ast.LineFilter]) -> str:
    """LineFilterExpr.String of consecutive line filters: a negated `or` chain prints as separate filters."""
    parts = []
    for f in run:
        joiner = f" {f.op.value} " if f.op in _NEGATED else " or "
        parts.append(f"{f.op.value} " + joiner.join(format_filter_value(v) for v in f.values))
    return " ".join(parts)


def _line_filters_error(run: Sequence[ast.LineFilter]) -> LogQLError | None:
    """LineFilterExpr.Filter walks the combined filters last to first; a positive `or` chain left to right,
    a negated one (nested filters in Loki's tree) right to left."""
    for f in reversed(run):
        values = reversed(f.values) if f.op in _NEGATED else f.values
        for v in values:
            if isinstance(v, ast.IpPattern):
                try:
                    line_filter(v.pattern, f.op)
                except LogQLError as e:
                    return e
    return None


def _label_filter_error(f: ast.IpLabelFilter) -> LogQLError | None:
    try:
        IpFilter(f.pattern)
    except LogQLError as e:
        return e
    return None


def stage_error(pipeline: Sequence[ast.Stage]) -> ParseError | None:
    """The first ip() error Loki's MultiStageExpr.Pipeline meets, worded as its NewStageError.

    Loki moves line filters ahead of the parsers before them (reorderStages: up to the next label filter,
    line_format or unpack) and builds each run of them as one stage; a label filter is refused only when it
    is a bare `| name = ip("…")` stage (inside `and`/`or` or after unwrap a bad pattern just never matches).
    """
    run: list[ast.LineFilter] = []
    stages: list[ast.LabelFilter | list[ast.LineFilter]] = []

    def flush() -> None:
        if run:
            stages.append(list(run))
            run.clear()

    for stage in pipeline:
        if isinstance(stage, ast.LineFilter):
            run.append(stage)
        elif isinstance(stage, ast.LabelFilter):
            flush()
            stages.append(stage)
        elif isinstance(stage, ast.LineFormat | ast.UnpackParser):
            flush()
    flush()
    for item in stages:
        if isinstance(item, list):
            err, text = _line_filters_error(item), _line_filters_text(item)
        elif isinstance(item.expr, ast.IpLabelFilter):
            err, text = _label_filter_error(item.expr), f"| {format_label_filter(item.expr)}"
        else:
            continue
        if err is not None:
            return ParseError(f"stage '{text}' : {err}")
    return None
