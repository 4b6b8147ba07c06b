"""The dashboards name the series the SLO generator records; this keeps both sides in step."""

from __future__ import annotations

import pytest

from observ.dashboards import queries
from tests.unit.dashboards.conftest import example

rules = pytest.importorskip("observ.slo.rules")
windows = pytest.importorskip("observ.slo.windows")


def test_recording_rule_names_match_the_generator() -> None:
    assert queries.SLI_ERROR == rules.RATIO
    assert queries.OBJECTIVE == rules.OBJECTIVE
    assert queries.CURRENT_BURN_RATE == rules.CURRENT_BURN
    assert queries.BUDGET_REMAINING == rules.PERIOD_REMAINING
    assert queries.RULE_WINDOWS == windows.SHORT_WINDOWS


def test_every_recorded_series_is_known_to_the_dashboards() -> None:
    for service in example().services:
        for slo in service.slos:
            recorded = {r["record"] for r in rules.sli_rules(service, slo) + rules.period_rules(service, slo)}
            assert recorded <= queries.RECORDED_METRICS


def test_burn_factors_match_the_alert_tiers() -> None:
    for slo in (s for svc in example().services for s in svc.slos):
        assert queries.burn_factors(slo) == pytest.approx([t.factor(slo.period_days) for t in windows.TIERS])
