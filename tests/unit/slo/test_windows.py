"""Burn factors and thresholds against figures computed by hand from the SRE workbook's formula."""

from __future__ import annotations

import pytest

from observ.slo.windows import SHORT_WINDOWS, TIERS, le_spellings, promql_number, tiers, window_seconds


def test_30d_999_factors_thresholds_and_window_pairs() -> None:
    # budget 0.001; factor = fraction * 720h / long window: 0.02*720/1, 0.05*720/6, 0.1*720/24, 0.1*720/72
    got = [(t.severity, t.long_window, t.short_window, t.factor(30), t.threshold(30, 0.001)) for t in TIERS]
    assert got == [
        ("page", "1h", "5m", 14.4, 0.0144),
        ("page", "6h", "30m", 6.0, 0.006),
        ("ticket", "1d", "2h", 3.0, 0.003),
        ("ticket", "3d", "6h", 1.0, 0.001),
    ]


def test_28d_and_7d_factors_are_derived_not_copied() -> None:
    # 28d = 672h: 0.02*672 = 13.44, 0.05*672/6 = 5.6, 0.1*672/24 = 2.8, 0.1*672/72 = 0.9333...
    assert [t.factor(28) for t in TIERS] == [13.44, 5.6, 2.8, 0.933333333]
    # 7d = 168h: 3.36, 1.4, 0.7, 0.2333...
    assert [t.factor(7) for t in TIERS] == [3.36, 1.4, 0.7, 0.233333333]


def test_short_window_is_a_twelfth_of_the_long_one() -> None:
    for t in TIERS:
        assert window_seconds(t.long_window) == 12 * window_seconds(t.short_window)
    assert [t.name for t in tiers("page")] == ["page_fast", "page_slow"]
    assert SHORT_WINDOWS == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.25, "0.25"), (1.0, "1"), (2.5, "2.5"), (10.0, "10"), (0.0001, "0.0001"), (1e-05, "1e-05"), (1e6, "1e+06")],
)
def test_numbers_print_like_go(value: float, text: str) -> None:
    assert promql_number(value) == text


@pytest.mark.parametrize("bound", [0.25, 1.0, 10.0, 2.5, 1e6, 0.005, 1234567.5])
def test_le_spellings_cover_the_go_and_python_clients(bound: float) -> None:
    from prometheus_client.utils import floatToGoString

    assert promql_number(bound) in le_spellings(bound)
    assert floatToGoString(bound) in le_spellings(bound)


def test_whole_number_bounds_have_two_spellings() -> None:
    assert le_spellings(1.0) == ["1", "1.0"]
    assert le_spellings(0.25) == ["0.25"]
