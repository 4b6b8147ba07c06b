"""Loki's query parameters (`pkg/loghttp/params.go`, `query.go`, `tail.go`): form values -> plain dataclasses.

`now_ns` is passed in, never read here, so every default is testable. Error texts are Loki's,
because Grafana shows them verbatim.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from observ.logql.errors import LogQLError
from observ.logql.limits import MAX_POINTS, TOO_MANY_POINTS
from observ.logql.syntax import ast
from observ.logql.syntax.parser import parse_cached

Form = Mapping[str, Sequence[str]]
"""Query-string and url-encoded body values by name, as Go's `r.Form`."""

NS = 1_000_000_000
TS_MIN, TS_MAX = -(2**62), 2**62
"""Timestamps are clamped here: int64 nanoseconds with headroom, so `end - start` and `+ step` never overflow."""
DEFAULT_LIMIT = 100
DEFAULT_SINCE_NS = 3600 * NS
DEFAULT_DETECTED_LIMIT = 1000
MAX_TAIL_DELAY_S = 5

_INT64 = (-(2**63), 2**63 - 1)
_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?i:inf|infinity|nan)")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})"
)  # fmt: skip
_PROM_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)  # fmt: skip
_PROM_UNITS_NS = (365 * 86400 * NS, 7 * 86400 * NS, 86400 * NS, 3600 * NS, 60 * NS, NS, 1_000_000)


class ParamError(ValueError):
    """A malformed parameter: HTTP 400 with `str(error)` as the body."""


@dataclass(frozen=True, slots=True)
class RangeQuery:
    query: str
    start_ns: int
    end_ns: int
    step_ns: int
    interval_ns: int
    limit: int
    direction: str


@dataclass(frozen=True, slots=True)
class InstantQuery:
    query: str
    time_ns: int
    limit: int
    direction: str


@dataclass(frozen=True, slots=True)
class LabelQuery:
    start_ns: int
    end_ns: int
    query: str | None


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    matches: list[str]
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class TailQuery:
    query: str
    limit: int
    start_ns: int
    delay_for_s: int


@dataclass(frozen=True, slots=True)
class DetectedFieldsQuery:
    query: str
    start_ns: int
    end_ns: int
    line_limit: int
    limit: int


def get(form: Form, name: str) -> str:
    """First value, "" when absent: Go's `r.Form.Get`."""
    values = form.get(name)
    return values[0] if values else ""


def _clamp(ns: int) -> int:
    return min(max(ns, TS_MIN), TS_MAX)


def _go_int(value: str, fn: str = "ParseInt") -> int:
    if not _GO_INT.fullmatch(value):
        raise ParamError(f'strconv.{fn}: parsing "{value}": invalid syntax')
    n = int(value)
    if not _INT64[0] <= n <= _INT64[1]:
        raise ParamError(f'strconv.{fn}: parsing "{value}": value out of range')
    return n


def _go_float(value: str) -> float:
    if not _GO_FLOAT.fullmatch(value):
        raise ParamError(f'strconv.ParseFloat: parsing "{value}": invalid syntax')
    f = float(value)
    if math.isinf(f) and "inf" not in value.lower():
        raise ParamError(f'strconv.ParseFloat: parsing "{value}": value out of range')
    return f


def _rfc3339(value: str) -> int | None:
    """Go's time.Parse(time.RFC3339Nano, value) in ns, or None when the text is not of that form."""
    m = _RFC3339.fullmatch(value)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60):
        return None
    if second > 59:
        return None
    frac = (m.group(7) or "")[:9].ljust(9, "0")
    zone = m.group(8)
    offset = 0 if zone == "Z" else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    secs = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return secs * NS + int(frac)


def parse_timestamp(value: str, default_ns: int) -> int:
    """RFC3339Nano, float seconds (or ns past 1e10), integer seconds (≤ 1e10) or nanoseconds."""
    if value == "":
        return default_ns
    rfc = _rfc3339(value)
    if rfc is not None:
        return _clamp(rfc)
    if "." in value:
        t = _go_float(value)
        if math.isnan(t) or math.isinf(t):
            raise ParamError("floating point timestamp is NaN or Inf")
        frac, high = math.modf(t)
        if not _INT64[0] <= high <= _INT64[1]:
            raise ParamError("floating point timestamp exceeds integer range")
        if high <= 1e10:
            return _clamp(int(high) * NS + int(round(frac * 1000) / 1000 * NS))
        return _clamp(int(high))
    n = _go_int(value)
    return _clamp(n * NS if n <= 10**10 else n)


def parse_prom_duration(value: str) -> int:
    """Prometheus' model.ParseDuration (`1h30m`, `7d`, `0`), in ns."""
    if value == "":
        raise ParamError("empty duration string")
    if value == "0":
        return 0
    m = _PROM_DURATION.fullmatch(value)
    if not m or not any(m.groups()):
        raise ParamError(f'not a valid duration string: "{value}"')
    return sum(int(g) * unit for g, unit in zip(m.groups(), _PROM_UNITS_NS, strict=True) if g)


def parse_seconds_or_duration(value: str) -> int:
    """`30`, `1.5` (seconds) or `30s`, `1m` (Prometheus duration), in ns."""
    try:
        seconds = _go_float(value)
    except ParamError:
        try:
            return parse_prom_duration(value)
        except ParamError:
            raise ParamError(f'cannot parse "{value}" to a valid duration') from None
    ns = seconds * NS
    if math.isnan(ns):
        return 0
    if not _INT64[0] <= ns <= _INT64[1]:
        raise ParamError(f'cannot parse "{value}" to a valid duration. It overflows int64')
    return int(ns)


def parse_limit(form: Form, name: str = "limit", default: int = DEFAULT_LIMIT) -> int:
    value = get(form, name)
    n = default if value == "" else _go_int(value, "Atoi")
    if n <= 0:
        raise ParamError("limit must be a positive value")
    return n


def parse_direction(form: Form) -> str:
    value = get(form, "direction")
    if value == "":
        return "backward"
    if value.upper() not in ("FORWARD", "BACKWARD"):
        raise ParamError(f"invalid direction '{value}'")
    return value.lower()


def parse_bounds(form: Form, now_ns: int) -> tuple[int, int]:
    """start/end/since: end defaults to now; start to min(end, now) - since (1h)."""
    since = DEFAULT_SINCE_NS
    if (text := get(form, "since")) != "":
        try:
            since = parse_prom_duration(text)
        except ParamError as e:
            raise ParamError(f"could not parse 'since' parameter: {e}") from None
    try:
        end = parse_timestamp(get(form, "end"), now_ns)
    except ParamError as e:
        raise ParamError(f"could not parse 'end' parameter: {e}") from None
    try:
        start = parse_timestamp(get(form, "start"), _clamp(min(end, now_ns) - since))
    except ParamError as e:
        raise ParamError(f"could not parse 'start' parameter: {e}") from None
    return start, end


def _query(form: Form) -> str:
    return get(form, "query")


def range_query(form: Form, now_ns: int) -> RangeQuery:
    start, end = parse_bounds(form, now_ns)
    if end < start:
        raise ParamError("end timestamp must not be before or equal to start time")
    limit = parse_limit(form)
    direction = parse_direction(form)
    step_text = get(form, "step")
    step = max((end - start) // NS // 250, 1) * NS if step_text == "" else parse_seconds_or_duration(step_text)
    if step <= 0:
        raise ParamError("zero or negative query resolution step widths are not accepted. Try a positive integer")
    if (end - start) // step > MAX_POINTS:
        raise ParamError(TOO_MANY_POINTS)
    interval_text = get(form, "interval")
    interval = 0 if interval_text == "" else parse_seconds_or_duration(interval_text)
    if interval < 0:
        raise ParamError("interval must be >= 0")
    query = _query(form)
    if _is_metric(query):
        start, end = align_to_step(start, end, step)
    return RangeQuery(query, start, end, step, interval, limit, direction)


def _is_metric(query: str) -> bool:
    try:
        return not isinstance(parse_cached(query), ast.LogExpr)
    except LogQLError:
        return False  # the engine answers the parse error


def align_to_step(start_ns: int, end_ns: int, step_ns: int) -> tuple[int, int]:
    """What Loki's query frontend does to a metric range query (queryrange metricQuerySplitter.alignStartEnd).

    Start is rounded down and end up to a multiple of the step (Go's `%`, so before 1970 towards zero): every
    step lands on the same instants whatever the request's bounds.
    """
    if rem := _go_mod(end_ns, step_ns):
        end_ns += step_ns - rem
    return start_ns - _go_mod(start_ns, step_ns), end_ns


def _go_mod(a: int, b: int) -> int:
    return a % b if a >= 0 else -(-a % b)


def instant_query(form: Form, now_ns: int) -> InstantQuery:
    limit = parse_limit(form)
    time_ns = parse_timestamp(get(form, "time"), now_ns)
    return InstantQuery(_query(form), time_ns, limit, parse_direction(form))


def label_query(form: Form, now_ns: int) -> LabelQuery:
    start, end = parse_bounds(form, now_ns)
    return LabelQuery(start, end, _query(form) or None)


def series_query(form: Form, now_ns: int) -> SeriesQuery:
    """`match[]` and `match`, deduplicated and sorted; a lone `{}` means every stream."""
    start, end = parse_bounds(form, now_ns)
    matches = sorted(set(form.get("match", ())) | set(form.get("match[]", ())))
    if len(matches) == 1 and matches[0].replace(" ", "") == "{}":
        matches = []
    return SeriesQuery(matches, start, end)


def tail_query(form: Form, now_ns: int) -> TailQuery:
    limit = parse_limit(form)
    start, _ = parse_bounds(form, now_ns)
    text = get(form, "delay_for")
    delay = 0 if text == "" else _go_int(text, "Atoi")
    if not 0 <= delay <= MAX_TAIL_DELAY_S:
        raise ParamError(f"delay_for can't be greater than {MAX_TAIL_DELAY_S}")
    return TailQuery(_query(form), limit, start, delay)


def detected_fields_query(form: Form, now_ns: int) -> DetectedFieldsQuery:
    start, end = parse_bounds(form, now_ns)
    if end < start:
        raise ParamError("end timestamp must not be before or equal to start time")
    line_limit = parse_limit(form, "line_limit", DEFAULT_LIMIT)  # Loki's `lineLimit`: defaultQueryLimit, 100
    limit_name = "limit" if get(form, "limit") != "" else "field_limit"
    limit = parse_limit(form, limit_name, DEFAULT_DETECTED_LIMIT)
    return DetectedFieldsQuery(_query(form), start, end, line_limit, limit)
