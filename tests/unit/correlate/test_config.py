"""PrometheusConfig: laptop defaults, and bad values refused with the field named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from observ.correlate.prometheus import PrometheusConfig, RetryConfig


def test_defaults_point_at_a_local_prometheus_and_answer_within_seconds() -> None:
    c = PrometheusConfig()
    assert c.url == "http://127.0.0.1:9090"
    assert c.connect_timeout_s <= c.read_timeout_s <= c.deadline_s <= 10
    assert c.retry.attempts == 3
    assert c.breaker.failure_threshold == 5


def test_loads_from_a_mapping_like_the_service_config() -> None:
    c = PrometheusConfig.model_validate(
        {"url": "https://prom.example:9443/prefix/", "retry": {"attempts": 1}, "breaker": {"cooldown_s": 30}}
    )
    assert c.url == "https://prom.example:9443/prefix"
    assert (c.retry.attempts, c.breaker.cooldown_s) == (1, 30)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"url": "127.0.0.1:9090"}, "expected http(s)://host"),
        ({"url": "ftp://prom"}, "expected http(s)://host"),
        ({"url": "http://"}, "expected http(s)://host"),
        ({"url": "http://[::1"}, "not a URL"),
        ({"url": "http://prom:9090/?x=1"}, "expected http(s)://host"),
        ({"headers": {"Bad Name": "x"}}, "header name 'Bad Name' is not an HTTP token"),
        ({"headers": {"X-Scope-OrgID": "a\r\nX-Evil: 1"}}, "header X-Scope-OrgID has a line break or NUL"),
        ({"read_timeout_s": 0}, "read_timeout_s"),
        ({"deadline_s": -1}, "deadline_s"),
        ({"max_response_bytes": 10}, "max_response_bytes"),
        ({"retry": {"attempts": 0}}, "retry.attempts"),
        ({"retry": {"attempts": 11}}, "retry.attempts"),
        ({"retry": {"backoff_initial_s": 2, "backoff_max_s": 1}}, "backoff_max_s (1.0) is below backoff_initial_s"),
        ({"breaker": {"window": 3, "min_calls": 4}}, "min_calls (4) cannot exceed window (3)"),
        ({"timeout": 5}, "timeout"),
        ({"retry": {"tries": 5}}, "retry.tries"),
    ],
)
def test_bad_values_are_refused_naming_the_field(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as e:
        PrometheusConfig.model_validate(config)
    assert message in str(e.value)


def test_retry_config_alone() -> None:
    assert RetryConfig(attempts=1).attempts == 1
