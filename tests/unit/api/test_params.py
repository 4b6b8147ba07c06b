"""Loki's parameter rules (pkg/loghttp/params.go), with `now` passed in."""

from __future__ import annotations

import pytest

from observ.api.loki import params as p

NS = 10**9
NOW = 1_700_000_000 * NS


def form(**kw: str | list[str]) -> dict[str, list[str]]:
    return {k.replace("_", "[]") if k == "match_" else k: v if isinstance(v, list) else [v] for k, v in kw.items()}


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1700000000", 1_700_000_000 * NS),  # ≤ 1e10: seconds
        ("4000000000", 4_000_000_000 * NS),  # Grafana's health check time
        ("10000000000", p.TS_MAX),  # exactly 1e10 is still seconds (year 2286: clamped)
        ("10000000001", 10_000_000_001),  # past 1e10: nanoseconds
        ("1700000000123456789", 1_700_000_000_123_456_789),  # longer: nanoseconds
        ("1700000000.5", 1_700_000_000_500_000_000),
        ("1700000000.1234", 1_700_000_000_123_000_000),  # Loki rounds the fraction to ms
        ("1700000000123456789.0", int(1700000000123456789.0)),  # float beyond 1e10: ns (float64 precision, as Go)
        ("2023-11-14T22:13:20Z", 1_700_000_000 * NS),
        ("2023-11-14T22:13:20.25Z", 1_700_000_000_250_000_000),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000 * NS),
        ("-5", -5 * NS),
    ],
)
def test_timestamps(text: str, ns: int) -> None:
    assert p.parse_timestamp(text, 0) == ns


def test_empty_timestamp_takes_default() -> None:
    assert p.parse_timestamp("", 42) == 42


@pytest.mark.parametrize("text", ["abc", "1_000", "12:00", "2023-13-01T00:00:00Z", "1e5", "NaN.0", "inf.", " 1"])
def test_bad_timestamps(text: str) -> None:
    with pytest.raises(p.ParamError):
        p.parse_timestamp(text, 0)


def test_timestamps_are_clamped_so_arithmetic_cannot_overflow() -> None:
    assert p.parse_timestamp("9223372036854775807", 0) == p.TS_MAX
    assert p.parse_timestamp("-9223372036854775808", 0) == p.TS_MIN
    assert p.parse_timestamp("4611686017.5", 0) == 4_611_686_017_500_000_000


def test_bounds_defaults_and_since() -> None:
    assert p.parse_bounds({}, NOW) == (NOW - 3600 * NS, NOW)
    assert p.parse_bounds(form(since="5m"), NOW) == (NOW - 300 * NS, NOW)
    end = NOW - 7200 * NS
    assert p.parse_bounds(form(since="1h", end=str(end)), NOW) == (end - 3600 * NS, end)
    # An end in the future: start is `since` before now, not before end.
    assert p.parse_bounds(form(end=str(NOW + 10 * 3600 * NS)), NOW)[0] == NOW - 3600 * NS
    assert p.parse_bounds(form(start="1", since="5m"), NOW)[0] == NS


def test_bounds_errors_name_the_parameter() -> None:
    with pytest.raises(p.ParamError, match="could not parse 'start' parameter"):
        p.parse_bounds(form(start="yesterday"), NOW)
    with pytest.raises(p.ParamError, match="could not parse 'since' parameter: not a valid duration string"):
        p.parse_bounds(form(since="1hour"), NOW)


def test_range_query_defaults() -> None:
    q = p.range_query(form(query='{a="b"}'), NOW)
    assert (q.limit, q.direction, q.step_ns, q.interval_ns) == (100, "backward", 14 * NS, 0)  # 3600/250 -> 14 s
    assert (q.start_ns, q.end_ns) == (NOW - 3600 * NS, NOW)


@pytest.mark.parametrize(
    ("step", "ns"), [("30", 30 * NS), ("1.5", 1_500_000_000), ("1m", 60 * NS), ("1h30m", 5400 * NS)]
)
def test_step_seconds_or_duration(step: str, ns: int) -> None:
    assert p.range_query(form(step=step), NOW).step_ns == ns


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"step": "0"}, "zero or negative query resolution step widths are not accepted"),
        ({"step": "-1"}, "zero or negative query resolution step widths are not accepted"),
        ({"step": "fast"}, 'cannot parse "fast" to a valid duration'),
        ({"step": "0.001", "since": "1h"}, "exceeded maximum resolution of 11,000 points"),
        ({"limit": "0"}, "limit must be a positive value"),
        ({"limit": "ten"}, 'strconv.Atoi: parsing "ten": invalid syntax'),
        ({"direction": "sideways"}, "invalid direction 'sideways'"),
        ({"start": "20", "end": "10"}, "end timestamp must not be before or equal to start time"),
        ({"interval": "-1"}, "interval must be >= 0"),
    ],
)
def test_range_query_errors(kw: dict[str, str], message: str) -> None:
    with pytest.raises(p.ParamError, match=message.replace("(", r"\(")):
        p.range_query(form(**kw), NOW)


def test_direction_is_case_insensitive() -> None:
    assert p.range_query(form(direction="FORWARD"), NOW).direction == "forward"


def test_instant_query() -> None:
    q = p.instant_query(form(query="vector(1)+vector(1)", time="4000000000", direction="backward"), NOW)
    assert (q.time_ns, q.limit) == (4_000_000_000 * NS, 100)
    assert p.instant_query({}, NOW).time_ns == NOW


def test_series_matchers_are_merged_sorted_and_empty_selector_means_all() -> None:
    q = p.series_query({"match[]": ['{b="1"}', '{a="1"}'], "match": ['{b="1"}']}, NOW)
    assert q.matches == ['{a="1"}', '{b="1"}']
    assert p.series_query({"match[]": ["{ }"]}, NOW).matches == []


def test_label_query_empty_query_is_none() -> None:
    assert p.label_query(form(query=""), NOW).query is None
    assert p.label_query(form(query='{a="b"}'), NOW).query == '{a="b"}'


def test_tail_query() -> None:
    q = p.tail_query(form(query='{a="b"}', delay_for="2", limit="10"), NOW)
    assert (q.delay_for_s, q.limit, q.start_ns) == (2, 10, NOW - 3600 * NS)
    for bad in ("6", "-1"):
        with pytest.raises(p.ParamError, match="delay_for can't be greater than 5"):
            p.tail_query(form(delay_for=bad), NOW)


def test_detected_fields_limits() -> None:
    q = p.detected_fields_query(form(query='{a="b"}'), NOW)
    assert (q.line_limit, q.limit) == (100, 1000)  # Loki 3: defaultQueryLimit lines, 1000 fields
    assert p.detected_fields_query(form(field_limit="7"), NOW).limit == 7
    assert p.detected_fields_query(form(limit="5", field_limit="7"), NOW).limit == 5


def test_prom_duration() -> None:
    assert p.parse_prom_duration("1d2h") == (26 * 3600) * NS
    assert p.parse_prom_duration("0") == 0
    for bad in ("", "1.5h", "h", "2h1d"):
        with pytest.raises(p.ParamError):
            p.parse_prom_duration(bad)
