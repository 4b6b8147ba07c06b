"""PromQL built for RED metrics and exemplars: exact text, and hostile service names stay inside their literals."""

from __future__ import annotations

import pytest

from observ.correlate.config import RedMetrics
from observ.correlate.promql import exemplar_selectors, red_queries, selector, service_matcher

RED = RedMetrics()


def test_red_queries_for_one_service() -> None:
    q = red_queries(RED, ["cart"])
    req = 'sum by (service) (rate(http_requests_total{service="cart"}[300s]))'
    err = 'sum by (service) (rate(http_requests_total{service="cart",code=~"5.."}[300s]))'
    buckets = 'sum by (service, le) (rate(http_request_duration_seconds_bucket{service="cart"}[300s]))'
    assert q == {
        "request_rate": req,
        "error_ratio": f"({err} or {req} * 0) / {req}",
        "latency_p50_s": f"histogram_quantile(0.5, {buckets})",
        "latency_p95_s": f"histogram_quantile(0.95, {buckets})",
        "latency_p99_s": f"histogram_quantile(0.99, {buckets})",
    }


def test_several_services_are_one_escaped_alternation() -> None:
    assert service_matcher(RED, ["cart", "pay.v2", "a|b"]) == ("service", "=~", r"cart|pay\.v2|a\|b")
    assert 'service=~"cart|pay\\\\.v2"' in red_queries(RED, ["cart", "pay.v2"])["request_rate"]


@pytest.mark.parametrize(
    ("service", "literal"),
    [
        ('x"} or vector(1) #', r'"x\"} or vector(1) #"'),
        ("back\\slash", r'"back\\slash"'),
        ("new\nline", r'"new\nline"'),
    ],
)
def test_hostile_service_names_stay_quoted(service: str, literal: str) -> None:
    assert selector("m", [("service", "=", service)]) == "m{service=" + literal + "}"


def test_configured_names_are_used() -> None:
    red = RedMetrics(
        requests="http_server_requests_seconds_count",
        duration_buckets="http_server_requests_seconds_bucket",
        service_label="service_name",
        code_label="status",
        error_codes="5..|429",
        range_s=60,
    )
    errors, durations = exemplar_selectors(red, "cart")
    assert errors == 'http_server_requests_seconds_count{service_name="cart",status=~"5..|429"}'
    assert durations == 'http_server_requests_seconds_bucket{service_name="cart"}'
    assert "[60s]" in red_queries(red, ["cart"])["request_rate"]


def test_no_service_is_refused() -> None:
    with pytest.raises(ValueError, match="no service"):
        red_queries(RED, [])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("requests", "http-requests", "not a Prometheus metric name"),
        ("service_label", "service.name", "not a Prometheus label name"),
        ("error_codes", "5..(", "is not a regex"),
        ("range_s", 0, "greater than or equal to 1"),
        ("unknown", 1, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused_with_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedMetrics.model_validate({field: value})
