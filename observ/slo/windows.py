"""Burn-rate tiers of the multi-window, multi-burn-rate alerts (Google SRE workbook), scaled to the SLO period.

The workbook's 14.4 / 6 / 3 / 1 are for 30 days; a fixed table would page too early or too late for 28d and 7d
SLOs, so each factor is derived: factor = share of the budget a tier may spend * period / long window.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

SHORT_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
"""Every window that gets an `slo:sli_error:ratio_rate<w>` recording rule, besides the full period."""
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def window_seconds(window: str) -> int:
    """Seconds in a Prometheus duration of one unit (`5m`, `6h`, `30d`)."""
    return int(window[:-1]) * _SECONDS[window[-1]]


@dataclass(frozen=True)
class Tier:
    """One burn-rate condition: both windows' error ratios above factor * budget."""

    name: str
    severity: str  # "page" or "ticket": which of the two alert rules it belongs to
    budget_fraction: float
    long_window: str
    short_window: str

    def factor(self, period_days: int) -> float:
        """Burn rate that spends `budget_fraction` of the period's budget within the long window."""
        return round(self.budget_fraction * period_days * 86400 / window_seconds(self.long_window), 9)

    def threshold(self, period_days: int, budget: float) -> float:
        """Error ratio both windows must exceed."""
        return round(self.factor(period_days) * budget, 12)


TIERS = (
    Tier("page_fast", "page", 0.02, "1h", "5m"),
    Tier("page_slow", "page", 0.05, "6h", "30m"),
    Tier("ticket_fast", "ticket", 0.10, "1d", "2h"),
    Tier("ticket_slow", "ticket", 0.10, "3d", "6h"),
)


def tiers(severity: str) -> tuple[Tier, ...]:
    return tuple(t for t in TIERS if t.severity == severity)


def promql_number(value: float) -> str:
    """A float the way Go's strconv.FormatFloat(v, 'g', -1, 64) prints it: `0.25`, `1`, `1e+06`.

    Histogram `le` labels are written this way by the Go client and Prometheus 2.x, so a bucket
    matcher must use exactly this text; thresholds in rules use it too, to read like the hand-written figure.
    """
    if value == 0:
        return "0"
    d = Decimal(repr(float(value))).normalize()
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    x = len(digits) + exp - 1
    if -4 <= x < 6:
        return format(d, "f")
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"


def le_spellings(bound: float) -> list[str]:
    """Every text a bucket bound reaches Prometheus as: Go client / Prometheus 2 (`1`), and the Python client,
    OpenMetrics and Prometheus 3's normalised form (`1.0`). A matcher on one spelling alone never matches a
    histogram exposed with the other, and the SLI silently disappears.
    """
    go = promql_number(bound)
    text = repr(float(bound))
    dot = text.find(".")
    if bound > 0 and "e" not in text and dot > 6:  # prometheus_client's floatToGoString: 1.0e+06
        text = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.") + f"e+0{dot - 1}"
    return sorted({go, text})
