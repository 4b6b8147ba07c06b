"""SLO recording rules evaluated by a real Prometheus over a synthetic target whose error fractions are exact."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from prometheus_server import PrometheusServer, Sample, value
from prometheus_target import SyntheticTarget

ERROR_FRACTION = 0.02

HAND_RULES = """\
groups:
- name: hand
  rules:
  - record: slo:sli_error:ratio_rate5m
    expr: sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))
    labels: {slo_service: api, slo_name: requests}
"""


@pytest.fixture(scope="module")
def target() -> Iterator[SyntheticTarget]:
    with SyntheticTarget() as t:
        t.counter("http_requests_total", {"code": "200"}, 1000 * (1 - ERROR_FRACTION))
        t.counter("http_requests_total", {"code": "500"}, 1000 * ERROR_FRACTION)
        yield t


@pytest.fixture(scope="module")
def prometheus(
    prometheus_factory: Callable[..., PrometheusServer],
    target: SyntheticTarget,
    tmp_path_factory: pytest.TempPathFactory,
) -> PrometheusServer:
    rules = tmp_path_factory.mktemp("rules") / "hand.rules.yml"
    rules.write_text(HAND_RULES)
    return prometheus_factory([rules], targets=[target.address])


def settled(expected: float) -> Callable[[list[Sample]], bool]:
    return lambda result: len(result) == 1 and value(result[0]) == pytest.approx(expected, rel=1e-9)


def test_all_rules_load_healthy(prometheus: PrometheusServer) -> None:
    rules = prometheus.wait_for_rules()
    assert rules
    assert [(r["name"], r.get("lastError", "")) for r in rules if r["health"] != "ok"] == []


def test_error_ratio_is_the_synthetic_fraction(prometheus: PrometheusServer) -> None:
    expr = 'slo:sli_error:ratio_rate5m{slo_service="api", slo_name="requests"}'
    result = prometheus.wait_for(expr, settled(ERROR_FRACTION))
    assert [value(s) for s in result] == [pytest.approx(ERROR_FRACTION, rel=1e-9)]
