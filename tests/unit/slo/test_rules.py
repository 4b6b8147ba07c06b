"""Generated PromQL for each SLI kind, grouping, guards and alert wiring."""

from __future__ import annotations

from typing import Any

import pytest

from observ.slo.crd import prometheus_rule
from observ.slo.model import SLO, Service
from observ.slo.rules import error_ratio, parse_simple_rate, service_groups, slo_groups


def _service(slo: dict[str, Any], **svc: Any) -> Service:
    return Service.model_validate({"name": "checkout", "slos": [slo], **svc})


def _events(**kw: Any) -> dict[str, Any]:
    return {
        "name": "avail",
        "objective": 99.9,
        "sli": {
            "kind": "events",
            "error_query": 'sum(rate(http_requests_total{job="api", code=~"5.."}[{{window}}]))',
            "total_query": 'sum(rate(http_requests_total{job="api"}[{{window}}]))',
        },
        **kw,
    }


def _rules(service: Service) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for group in service_groups(service):
        for rule in group["rules"]:  # type: ignore[attr-defined]
            key = rule.get("record") or rule["alert"]
            out[(key, str(rule.get("labels", {}).get("severity", "")))] = rule
    return out


def test_events_ratio_guards_nan_and_missing_error_series() -> None:
    svc = _service(_events())
    expr = error_ratio(svc, svc.slos[0], "5m")
    total = 'sum(rate(http_requests_total{job="api"}[5m]))'
    errors = 'sum(rate(http_requests_total{job="api", code=~"5.."}[5m]))'
    assert expr == f"(({errors}) or (0 * ({total}))) / (({total}) > 0)"


def test_period_ratio_is_count_based_over_the_whole_window() -> None:
    svc = _service(_events())
    assert "[30d]" in error_ratio(svc, svc.slos[0], "30d", period=True)
    assert "avg_over_time" not in error_ratio(svc, svc.slos[0], "30d", period=True)
    lat = _service(
        {
            "name": "lat",
            "objective": 99,
            "sli": {"kind": "latency", "metric": "h", "threshold": 1, "buckets": [0.5, 1]},
        }
    )
    assert error_ratio(lat, lat.slos[0], "30d", period=True) == (
        r'(sum(increase(h_count[30d])) - sum(increase(h_bucket{le=~"1|1\\.0"}[30d]))) '
        "/ (sum(increase(h_count[30d])) > 0)"
    )


def test_latency_uses_the_le_label_as_prometheus_prints_it() -> None:
    svc = _service(
        {
            "name": "lat",
            "objective": 99,
            "sli": {
                "kind": "latency",
                "metric": "http_request_duration_seconds",
                "threshold": 0.25,
                "buckets": [0.1, 0.25, 1],
                "selector": 'job="api"',
            },
        }
    )
    total = 'sum(rate(http_request_duration_seconds_count{job="api"}[1h]))'
    good = 'sum(rate(http_request_duration_seconds_bucket{job="api", le="0.25"}[1h]))'
    assert error_ratio(svc, svc.slos[0], "1h") == f"({total} - {good}) / ({total} > 0)"


def test_group_by_aggregates_every_query_and_reaches_the_alerts() -> None:
    svc = _service(_events(group_by=["route", "region"]))
    for w in ("5m", "3d"):
        expr = error_ratio(svc, svc.slos[0], w)
        assert expr.count("sum by (route, region) (") == 3
        assert "sum(" not in expr


def test_logs_sli_counts_observ_line_counters_of_the_service() -> None:
    svc = _service({"name": "logs", "objective": 99.5, "sli": {"kind": "logs"}})
    errors = 'sum(rate(observ_ingested_lines_total{service="checkout", level=~"error|fatal|critical"}[5m]))'
    total = 'sum(rate(observ_ingested_lines_total{service="checkout"}[5m]))'
    assert error_ratio(svc, svc.slos[0], "5m") == f"(({errors}) or (0 * ({total}))) / (({total}) > 0)"


def test_availability_is_the_share_of_down_samples() -> None:
    svc = _service(
        {"name": "up", "objective": 99, "sli": {"kind": "availability", "metric": "up", "selector": 'a="b"'}}
    )
    assert error_ratio(svc, svc.slos[0], "1h") == '1 - (avg(avg_over_time(up{a="b"}[1h])))'


def test_arbitrary_events_queries_are_kept_with_the_window_substituted() -> None:
    q = "sum(rate(a_total[{{window}}])) - sum(rate(b_total[{{window}}]))"
    assert parse_simple_rate(q) is None
    assert parse_simple_rate('sum(rate(x_total{a="b"}[{{window}}]))') is not None
    svc = _service(_events(sli={"kind": "events", "error_query": q, "total_query": "sum(rate(a_total[{{window}}]))"}))
    assert "sum(rate(a_total[2h])) - sum(rate(b_total[2h]))" in error_ratio(svc, svc.slos[0], "2h")


def test_999_30d_alerts_use_hand_computed_thresholds_and_window_pairs() -> None:
    svc = _service(_events(), labels={"tier": "1"})
    rules = _rules(svc)
    sel = '{slo_service="checkout", slo_name="avail"}'
    page = rules[("CheckoutAvailBurnRate", "page")]
    assert page["expr"] == (
        f"(slo:sli_error:ratio_rate1h{sel} > 0.0144 and slo:sli_error:ratio_rate5m{sel} > 0.0144) or "
        f"(slo:sli_error:ratio_rate6h{sel} > 0.006 and slo:sli_error:ratio_rate30m{sel} > 0.006)"
    )
    ticket = rules[("CheckoutAvailBurnRate", "ticket")]
    assert ticket["expr"] == (
        f"(slo:sli_error:ratio_rate1d{sel} > 0.003 and slo:sli_error:ratio_rate2h{sel} > 0.003) or "
        f"(slo:sli_error:ratio_rate3d{sel} > 0.001 and slo:sli_error:ratio_rate6h{sel} > 0.001)"
    )
    assert "14.4x the budget (error ratio 0.0144) over 1h and 5m" in page["annotations"]["description"]
    assert rules[("slo:error_budget:ratio", "")]["expr"] == "vector(0.001)"
    assert rules[("slo:objective:ratio", "")]["expr"] == "vector(0.999)"
    assert rules[("slo:current_burn_rate:ratio", "")]["expr"] == f"slo:sli_error:ratio_rate5m{sel} / 0.001"
    assert rules[("slo:period_error_budget_remaining:ratio", "")]["expr"] == (
        f"1 - slo:sli_error:ratio_rate30d{sel} / 0.001"
    )
    for rule in rules.values():
        if "record" in rule:
            assert rule["labels"]["slo_service"] == "checkout"
            assert rule["labels"]["slo_name"] == "avail"
            assert rule["labels"]["tier"] == "1"


def test_28d_thresholds_and_alert_routing() -> None:
    slo = _events(
        window="28d",
        alerting={
            "name": "Pay",
            "page_labels": {"severity": "critical"},
            "runbook_url": "https://r",
            "dashboard_url": "https://d",
            "absent_for": "20m",
        },
    )
    rules = _rules(_service(slo))
    page = rules[("PayBurnRate", "critical")]
    assert "> 0.01344 and" in page["expr"] and "> 0.0056 and" in page["expr"]
    assert page["annotations"]["runbook_url"] == "https://r"
    assert page["annotations"]["dashboard_url"] == "https://d"
    absent = rules[("PaySLIAbsent", "ticket")]
    assert absent["expr"] == 'absent(http_requests_total{job="api"})'
    assert absent["for"] == "20m"
    info = rules[("slo_info", "")]
    assert info["labels"] | {} == {"slo_service": "checkout", "slo_name": "avail", "objective": "99.9", "window": "28d"}


def test_period_group_is_evaluated_at_a_relaxed_interval() -> None:
    svc = _service(_events())
    groups = slo_groups(svc, svc.slos[0])
    assert [g["name"] for g in groups] == [
        "slo-checkout-avail-sli",
        "slo-checkout-avail-period",
        "slo-checkout-avail-alerts",
    ]
    assert groups[1]["interval"] == "5m"
    assert "interval" not in groups[0]


def test_prometheus_rule_wraps_the_same_groups_with_a_dns_name() -> None:
    svc = Service.model_validate({"name": "ingest_api", "slos": [_events()]})
    cr = prometheus_rule(svc)
    assert (cr["apiVersion"], cr["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert cr["metadata"]["name"] == "slo-ingest-api"  # type: ignore[index]
    assert cr["spec"] == {"groups": service_groups(svc)}


def test_slo_model_budget_feeds_thresholds() -> None:
    assert SLO.model_validate(_events(objective=99.95)).budget == 0.0005


def test_group_by_label_that_is_also_a_fixed_label_is_refused() -> None:
    svc = _service(_events(group_by=["region"]), labels={"region": "eu"})
    with pytest.raises(ValueError, match="'avail': group_by label\\(s\\) region are also fixed labels"):
        service_groups(svc)
