"""What the client tries again and what it does not, how long it waits, and when it gives up."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from observ.correlate.breaker import BreakerConfig
from observ.correlate.prometheus import (
    BadAnswer,
    PrometheusClient,
    PrometheusConfig,
    PrometheusUnavailable,
    QueryRefused,
    RetryConfig,
)
from observ.correlate.prometheus.retry import is_retryable
from tests.unit.correlate.helpers import VECTOR_UP, FakeClock, error, success

Handler = Callable[[httpx.Request], httpx.Response]

# The breaker stays out of the way here: these tests count attempts.
LENIENT = BreakerConfig(failure_threshold=100, failure_ratio=1.0, window=100, min_calls=100)


def client(handler: Handler, clock: FakeClock, **config: object) -> tuple[PrometheusClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    cfg = PrometheusConfig(url="http://prom.test", breaker=LENIENT, **config)  # type: ignore[arg-type]
    return PrometheusClient(cfg, clock=clock, sleep=clock.sleep, transport=httpx.MockTransport(record)), seen


def refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_overload_statuses_are_retried_until_an_answer_comes(status: int) -> None:
    answers = iter([httpx.Response(status, text="busy"), httpx.Response(status, text="busy"), success(VECTOR_UP)])
    c, seen = client(lambda r: next(answers), FakeClock())
    assert c.query("up").data.result[0].metric == {"__name__": "up", "job": "a"}  # type: ignore[union-attr]
    assert len(seen) == 3


def test_connection_errors_are_retried_and_the_last_one_says_how_often() -> None:
    c, seen = client(refuse_connection, FakeClock())
    with pytest.raises(PrometheusUnavailable) as e:
        c.query("up")
    assert len(seen) == 3
    assert str(e.value) == "prometheus unreachable at http://prom.test: connection refused (after 3 attempts)"
    assert e.value.outcome == "unavailable"


def test_read_timeouts_are_retried() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    c, seen = client(slow, FakeClock(), read_timeout_s=2.5)
    with pytest.raises(PrometheusUnavailable, match=r"too slow at http://prom.test: no answer within 2.5 s \(after 3"):
        c.query("up")
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("response", "error_type", "message"),
    [
        (error(400, "bad_data", 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis'), "bad_data",
         'prometheus refused the query (HTTP 400 bad_data): invalid parameter "query": 1:5: parse error'),
        (error(422, "execution", "query processing would load too many samples into memory"), "execution",
         "prometheus refused the query (HTTP 422 execution): query processing would load too many samples"),
        (httpx.Response(401, text="Unauthorized"), "", "prometheus refused the query (HTTP 401): 'Unauthorized'"),
        (httpx.Response(404, text="404 page not found"), "",
         "prometheus refused the query (HTTP 404): '404 page not found'"),
    ],
)  # fmt: skip
def test_refused_queries_are_not_retried(response: httpx.Response, error_type: str, message: str) -> None:
    c, seen = client(lambda r: response, FakeClock())
    with pytest.raises(QueryRefused) as e:
        c.query("sum(up")
    assert len(seen) == 1
    assert str(e.value).startswith(message)
    assert (e.value.status_code, e.value.error_type) == (response.status_code, error_type)
    assert not is_retryable(e.value)


def test_a_status_error_inside_a_200_is_a_refused_query() -> None:
    c, seen = client(lambda r: error(200, "bad_data", "odd but possible"), FakeClock())
    with pytest.raises(QueryRefused, match="HTTP 200 bad_data"):
        c.query("up")
    assert len(seen) == 1


def test_prometheus_own_query_timeout_is_not_retried() -> None:
    """503 errorType=timeout: the query is too costly for Prometheus; another try would cost the same."""
    c, seen = client(lambda r: error(503, "timeout", "query timed out in expression evaluation"), FakeClock())
    with pytest.raises(PrometheusUnavailable) as e:
        c.query("up")
    assert len(seen) == 1
    assert str(e.value) == "prometheus too slow at http://prom.test: timeout: query timed out in expression evaluation"
    assert e.value.outcome == "timeout"


def test_internal_errors_and_garbled_answers_are_not_retried() -> None:
    c, seen = client(lambda r: error(500, "internal", "storage broken"), FakeClock())
    with pytest.raises(PrometheusUnavailable, match=r"failed at http://prom\.test: HTTP 500: internal: storage broken"):
        c.query("up")
    assert len(seen) == 1

    c, seen = client(lambda r: httpx.Response(200, text="<html>captive portal</html>"), FakeClock())
    with pytest.raises(BadAnswer, match="not JSON"):
        c.query("up")
    assert len(seen) == 1


def test_waits_are_jittered_and_capped() -> None:
    clock = FakeClock()
    c, _ = client(refuse_connection, clock, retry=RetryConfig(attempts=8, backoff_initial_s=0.1, backoff_max_s=0.5))
    with pytest.raises(PrometheusUnavailable, match="after 8 attempts"):
        c.query("up")
    assert len(clock.sleeps) == 7
    caps = [min(0.5, 0.1 * 2**n) for n in range(7)]
    assert all(0 <= s <= cap for s, cap in zip(clock.sleeps, caps, strict=True)), clock.sleeps
    assert len(set(clock.sleeps)) > 1, "full jitter draws different waits"


def test_the_deadline_ends_retries_before_the_attempts_run_out() -> None:
    clock = FakeClock()

    def four_seconds_then_timeout(request: httpx.Request) -> httpx.Response:
        clock.now += 4
        raise httpx.ReadTimeout("timed out", request=request)

    c, seen = client(four_seconds_then_timeout, clock, deadline_s=7, retry=RetryConfig(attempts=10))
    with pytest.raises(PrometheusUnavailable, match="after 2 attempts"):
        c.query("up")
    assert len(seen) == 2


def test_each_attempt_gets_at_most_the_time_left_before_the_deadline() -> None:
    clock = FakeClock()
    timeouts: list[dict[str, float]] = []

    def slow(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        clock.now += 3
        raise httpx.ReadTimeout("timed out", request=request)

    c, _ = client(slow, clock, connect_timeout_s=1, read_timeout_s=5, deadline_s=8, retry=RetryConfig(attempts=3))
    with pytest.raises(PrometheusUnavailable):
        c.query("up")
    assert timeouts[0] == {"connect": 1, "read": 5, "write": 5, "pool": 1}
    assert 1.5 < timeouts[1]["read"] < 5
    assert timeouts[1]["connect"] == 1


def test_retries_off_means_one_attempt() -> None:
    c, seen = client(refuse_connection, FakeClock(), retry=RetryConfig(attempts=1))
    with pytest.raises(PrometheusUnavailable) as e:
        c.query("up")
    assert len(seen) == 1
    assert "after" not in str(e.value)


def test_the_health_probe_is_tried_once() -> None:
    c, seen = client(lambda r: httpx.Response(503, text="Service Unavailable"), FakeClock())
    with pytest.raises(PrometheusUnavailable, match="HTTP 503: 'Service Unavailable'"):
        c.ready()
    assert [r.url.path for r in seen] == ["/-/ready"]
