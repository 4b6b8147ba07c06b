"""RED metrics and exemplar trace IDs read through the Prometheus client (mock transport, fake clock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from observ.correlate.breaker import BreakerConfig
from observ.correlate.config import RedMetrics
from observ.correlate.missing import Missing
from observ.correlate.models import Metrics
from observ.correlate.prometheus import PrometheusClient, PrometheusConfig
from observ.correlate.red import exemplar_traces, red_metrics
from tests.unit.correlate.helpers import FakeClock, Inline, error, form, success

RED = RedMetrics()
BREAKER = BreakerConfig(failure_threshold=3, cooldown_s=15)
INLINE = Inline()
T1 = "4bf92f3577b34da6a3ce929d0e0e4736"
T2 = "0af7651916cd43dd8448eb211c80319c"
T3 = "00000000000000000000000000000abc"


def client(handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]) -> PrometheusClient:
    clock = FakeClock()

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    cfg = PrometheusConfig(url="http://prom.test", breaker=BREAKER)
    return PrometheusClient(cfg, clock=clock, sleep=clock.sleep, transport=httpx.MockTransport(record))


def vector(*samples: tuple[str, str]) -> dict[str, object]:
    return {
        "resultType": "vector",
        "result": [{"metric": {"service": s}, "value": [1700000000, v]} for s, v in samples],
    }


def by_query(request: httpx.Request) -> httpx.Response:
    q = form(request)["query"][0]
    if q.startswith("histogram_quantile(0.5,"):
        return success(vector(("cart", "0.05"), ("pay", "NaN")))
    if q.startswith("histogram_quantile(0.95,"):
        return success(vector(("cart", "0.2")))
    if q.startswith("histogram_quantile(0.99,"):
        return success(vector(("cart", "+Inf")))
    if q.startswith("(sum"):
        return success(vector(("cart", "0.25"), ("pay", "0")))
    return success(vector(("cart", "4"), ("pay", "1.5"), ("other", "9")))


def test_each_service_gets_its_values_and_non_finite_ones_are_none() -> None:
    seen: list[httpx.Request] = []
    got = red_metrics(client(by_query, seen), RED, ["cart", "pay", "ghost"], at=1700000000.5, pool=INLINE)
    assert isinstance(got, Metrics) and got.at == 1700000000.5 and got.range_s == 300
    rows = {m.service: m.model_dump(exclude={"service"}) for m in got.services}
    assert rows == {
        "cart": {"request_rate": 4.0, "error_ratio": 0.25, "latency_p50_s": 0.05, "latency_p95_s": 0.2,
                 "latency_p99_s": None},
        "pay": {"request_rate": 1.5, "error_ratio": 0.0, "latency_p50_s": None, "latency_p95_s": None,
                "latency_p99_s": None},
        "ghost": {"request_rate": None, "error_ratio": None, "latency_p50_s": None, "latency_p95_s": None,
                  "latency_p99_s": None},
    }  # fmt: skip
    assert len(seen) == 5
    assert {form(r)["time"][0] for r in seen} == {"1700000000.500"}


def test_prometheus_down_is_one_missing_and_no_further_queries() -> None:
    seen: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    got = red_metrics(client(refuse, seen), RED, ["cart"], at=1.0, pool=INLINE)
    assert got == Missing(
        part="metrics", reason="prometheus unreachable at http://prom.test: connection refused (after 3 attempts)"
    )
    assert len(seen) == 3  # one query, retried; then the breaker refuses the other four unsent


def test_a_refused_query_is_missing_with_prometheus_words() -> None:
    got = red_metrics(client(lambda r: error(400, "bad_data", "parse error"), []), RED, ["cart"], at=1.0, pool=INLINE)
    assert isinstance(got, Missing) and got.part == "metrics"
    assert got.reason == "prometheus refused the query (HTTP 400 bad_data): parse error"


def test_an_answer_that_is_not_a_vector_is_missing() -> None:
    scalar = {"resultType": "scalar", "result": [1, "1"]}
    got = red_metrics(client(lambda r: success(scalar), []), RED, ["cart"], at=1.0, pool=INLINE)
    assert isinstance(got, Missing) and got.reason.startswith("prometheus answered a scalar to sum by (service)")


def exemplar_answer(request: httpx.Request) -> httpx.Response:
    q = form(request)["query"][0]
    if q.startswith("http_requests_total"):
        return success([{"seriesLabels": {"service": "cart", "code": "500"}, "exemplars": [
            {"labels": {"trace_id": T1}, "value": "1", "timestamp": 100.0},
            {"labels": {"trace_id": T2}, "value": "1", "timestamp": 200.0},
        ]}])  # fmt: skip
    return success([
        {"seriesLabels": {"service": "cart", "code": "200", "le": "1"}, "exemplars": [
            {"labels": {"trace_id": "ABC"}, "value": "0.7", "timestamp": 150.0},
            {"labels": {"trace_id": "not hex!"}, "value": "9", "timestamp": 150.0},
            {"labels": {"other": "x"}, "value": "9", "timestamp": 150.0},
            {"labels": {"trace_id": T1}, "value": "3", "timestamp": 100.0},
        ]},
        {"seriesLabels": {"service": "cart", "code": "503", "le": "+Inf"}, "exemplars": [
            {"labels": {"trace_id": "f" * 40}, "value": "2", "timestamp": 300.0},
        ]},
    ])  # fmt: skip


def test_exemplars_errors_newest_first_then_slowest_each_trace_once() -> None:
    seen: list[httpx.Request] = []
    got = exemplar_traces(client(exemplar_answer, seen), RED, "cart", 50.0, 400.0, limit=10, pool=INLINE)
    assert not isinstance(got, Missing)
    assert [(e.trace_id, e.reason, e.value) for e in got] == [(T2, "error", 1.0), (T1, "error", 1.0), (T3, "slow", 0.7)]
    assert got[0].series == {"service": "cart", "code": "500"}
    assert [form(r)["query"][0] for r in seen] == [
        'http_requests_total{service="cart",code=~"5.."}', 'http_request_duration_seconds_bucket{service="cart"}'
    ]  # fmt: skip
    assert (form(seen[0])["start"][0], form(seen[0])["end"][0]) == ("50.000", "400.000")


def test_exemplars_limit() -> None:
    got = exemplar_traces(client(exemplar_answer, []), RED, "cart", 0.0, 1.0, limit=1, pool=INLINE)
    assert not isinstance(got, Missing) and [e.trace_id for e in got] == [T2]


@pytest.mark.parametrize("status", [502, 503])
def test_exemplars_unavailable_are_missing_exemplars(status: int) -> None:
    got = exemplar_traces(client(lambda r: httpx.Response(status), []), RED, "cart", 0.0, 1.0, limit=5, pool=INLINE)
    assert isinstance(got, Missing) and got.part == "exemplars" and f"HTTP {status}" in got.reason


def test_the_queries_of_one_answer_run_side_by_side() -> None:
    """Five queries meet at a barrier of five: sent one after another, the first would wait there alone."""
    barrier = threading.Barrier(5, timeout=30)

    def meet(request: httpx.Request) -> httpx.Response:
        barrier.wait()
        return success(vector(("cart", "1")))

    with ThreadPoolExecutor(5) as pool:
        got = red_metrics(client(meet, []), RED, ["cart"], at=1.0, pool=pool)
    assert isinstance(got, Metrics) and got.services[0].request_rate == 1.0
