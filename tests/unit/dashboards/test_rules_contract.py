"""The dashboards name the series the SLO generator records; this keeps both sides in step."""

from __future__ import annotations

import pytest

from observ.dashboards import queries
from observ.slo import rules
from tests.unit.dashboards.conftest import example


def test_every_recorded_series_is_known_to_the_dashboards() -> None:
    for service in example().services:
        for slo in service.slos:
            recorded = {r["record"] for r in rules.sli_rules(service, slo) + rules.period_rules(service, slo)}
            assert recorded <= queries.RECORDED_METRICS


def test_burn_factors_match_the_alert_tiers() -> None:
    checkout = example().services[0]
    assert queries.burn_factors(checkout.slos[0]) == pytest.approx([14.4, 6, 3, 1])
    assert queries.burn_factors(checkout.slos[1]) == pytest.approx([13.44, 5.6, 2.8, 28 / 30])
    assert queries.BURN_WINDOWS == ("5m", "1h", "6h", "1d", "3d")
