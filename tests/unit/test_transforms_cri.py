from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.log_adapter.transforms import cri
from collectors.log_adapter.transforms.cri import looks_like_cri, parse_cri, parse_rfc3339

T0 = calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0)) * 1_000_000_000


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (b"2024-01-02T03:04:05.123456789Z", T0 + 123456789),
        (b"2024-01-02T03:04:05.000000000Z", T0),
        (b"2024-01-02T03:04:05.12Z", T0 + 120_000_000),  # Go's RFC3339Nano trims zeros
        (b"2024-01-02T03:04:05Z", T0),
        (b"2024-01-02T03:04:05z", T0),
        (b"2024-01-02t03:04:05Z", T0),
        (b"2024-01-02T03:04:05.1234567891234Z", T0 + 123456789),  # beyond ns: cut
        (b"2024-01-02T05:04:05.5+02:00", T0 + 500_000_000),
        (b"2024-01-02T05:04:05+0200", T0),
        (b"2024-01-01T22:34:05-04:30", T0),
        (b"2024-01-02T03:04:05.000000001-00:00", T0 + 1),
        (b"2024-02-29T00:00:00Z", calendar.timegm((2024, 2, 29, 0, 0, 0, 0, 0, 0)) * 1_000_000_000),
    ],
)
def test_rfc3339_valid(ts: bytes, expected: int) -> None:
    assert parse_rfc3339(ts) == expected
    assert parse_rfc3339(ts) == expected  # second time from the per-second cache


@pytest.mark.parametrize(
    "ts",
    [
        b"",
        b"2024-01-02",
        b"2024-01-02T03:04:05",  # no zone: ambiguous
        b"2024-01-02T03:04:05.Z",
        b"2024-01-02T03:04:05.12x4Z",
        b"2024-01-02T03:04:05.123456789+",
        b"2024-01-02T03:04:05+2:00",
        b"2024-01-02T03:04:05+24:00",
        b"2024-13-02T03:04:05Z",
        b"2023-02-29T03:04:05Z",
        b"2024-01-02T24:04:05Z",
        b"2024-01-02X03:04:05Z",
        b"2024/01/02T03:04:05Z",
        b"20a4-01-02T03:04:05Z",
        b"2024-01-02T03:04:05.12345678aZ",
        b"2024-01-02T03:04:05.1234567892024-01-02T03:04:06.000000000Z",
    ],
)
def test_rfc3339_invalid(ts: bytes) -> None:
    assert parse_rfc3339(ts) is None


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(0, 999_999_999),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
    st.integers(1, 9),
)
def test_rfc3339_matches_datetime(dt: datetime, ns: int, offset_min: int, width: int) -> None:
    dt = dt.replace(microsecond=0)
    frac = f"{ns:09d}"[:width]
    zone = timezone(timedelta(minutes=offset_min))
    sign = "+" if offset_min >= 0 else "-"
    hh, mm = divmod(abs(offset_min), 60)
    text = f"{dt:%Y-%m-%dT%H:%M:%S}.{frac}{sign}{hh:02d}:{mm:02d}".encode()
    expected = int(dt.replace(tzinfo=zone).timestamp()) * 1_000_000_000 + int(frac.ljust(9, "0"))
    assert parse_rfc3339(text) == expected


def test_second_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cri, "_SECONDS_MAX", 4)
    cri._SECONDS.clear()
    for s in range(10):
        assert parse_rfc3339(b"2024-01-02T03:04:%02dZ" % s) == T0 - 5 * 10**9 + s * 10**9
        assert len(cri._SECONDS) <= 4


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"2024-01-02T03:04:05.123456789Z stdout F hello world", (T0 + 123456789, "stdout", False, b"hello world")),
        (b"2024-01-02T03:04:05.123456789Z stderr P part one ", (T0 + 123456789, "stderr", True, b"part one ")),
        (b"2024-01-02T03:04:05Z stdout F ", (T0, "stdout", False, b"")),
        (b"2024-01-02T03:04:05Z stdout F", (T0, "stdout", False, b"")),
        (b"2024-01-02T03:04:05Z stdout F  leading space", (T0, "stdout", False, b" leading space")),
        (b'2024-01-02T03:04:05Z stdout F:x json {"a": 1}', (T0, "stdout", False, b'json {"a": 1}')),
        (b"2024-01-02T03:04:05Z stdout P:x y", (T0, "stdout", True, b"y")),
        (b"2024-01-02T05:04:05+02:00 stdout F tz", (T0, "stdout", False, b"tz")),
        (b"2024-01-02T03:04:05Z stdout F \xff\xfe", (T0, "stdout", False, b"\xff\xfe")),
    ],
)
def test_parse_cri(line: bytes, expected: tuple[int, str, bool, bytes]) -> None:
    assert parse_cri(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"hello world",
        b"2024-01-02T03:04:05Z",
        b"2024-01-02T03:04:05Z stdout",
        b"2024-01-02T03:04:05Z stdin F x",
        b"2024-01-02T03:04:05Z stdout X x",
        b"2024-01-02T03:04:05Z stdout FP x",
        b"2024-01-02T03:04:05Z stdout f x",
        b"2024-01-02T03:04:0 stdout F x",
        b"2024-01-02T03:04:05.12 stdout F x",
        b'{"log":"x\\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}',
    ],
)
def test_not_cri(line: bytes) -> None:
    assert parse_cri(line) is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"2024-01-02T03:04:05.1234", True),
        (b"2024-01-02T03:04:05.123456789Z std", True),
        (b"2024-01-02T03:04:05", True),
        (b"2024-01-02T03:04", False),
        (b"hello", False),
        (b"2024-01-02 03:04:05 INFO plain", False),
    ],
)
def test_looks_like_cri(line: bytes, expected: bool) -> None:
    assert looks_like_cri(line) is expected


def test_streams_are_interned() -> None:
    a = parse_cri(b"2024-01-02T03:04:05Z stdout F a")
    b = parse_cri(b"2024-01-02T03:04:06Z stdout F b")
    assert a is not None and b is not None
    assert a[1] is b[1]


def test_utc_reference() -> None:
    expected = int(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()) * 10**9
    assert parse_rfc3339(b"2024-01-02T03:04:05Z") == expected
