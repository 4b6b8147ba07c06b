"""The Prometheus client against a real Prometheus with exemplar storage on, scraping a prometheus-client target
that exposes exemplars (OpenMetrics, negotiated by Prometheus' Accept header); then against a stopped Prometheus
and a server that never answers: calls fail within their timeouts, the breaker opens and answers without
network I/O, and a restarted Prometheus closes it again.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_wsgi_server
from prometheus_server import LOOPBACK, PrometheusServer, free_port

from observ.correlate.breaker import BreakerConfig, BreakerState
from observ.correlate.missing import Missing
from observ.correlate.prometheus import (
    AsyncPrometheusClient,
    MatrixResult,
    PrometheusClient,
    PrometheusClientMetrics,
    PrometheusConfig,
    QueryRefused,
    RetryConfig,
    ScalarResult,
    StringResult,
    VectorResult,
    or_missing,
)

HISTOGRAM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
COUNTER_TRACE = "0af7651916cd43dd8448eb211c80319c"
TEMPERATURE = 21.5


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    """host:port of a prometheus-client registry with one gauge and two exemplar-carrying series."""
    registry = CollectorRegistry()
    Gauge("demo_temperature_celsius", "A constant.", registry=registry).set(TEMPERATURE)
    latency = Histogram("demo_request_duration_seconds", "Latency.", buckets=(0.1, 1.0), registry=registry)
    latency.observe(0.05, exemplar={"trace_id": HISTOGRAM_TRACE})
    Counter("demo_requests", "Requests.", registry=registry).inc(exemplar={"trace_id": COUNTER_TRACE})
    httpd, _ = start_wsgi_server(0, addr=LOOPBACK, registry=registry)
    try:
        yield f"{LOOPBACK}:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def prometheus(prometheus_factory: Callable[..., PrometheusServer], target: str) -> PrometheusServer:
    server = prometheus_factory(targets=[target], port=free_port(), flags=["--enable-feature=exemplar-storage"])
    server.wait_for("demo_temperature_celsius")
    return server


class Clock:
    """time.monotonic that a test can move forward, to skip a breaker's cool-down without sleeping."""

    def __init__(self) -> None:
        self.skew = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skew


@dataclass
class Client:
    client: PrometheusClient
    registry: CollectorRegistry
    clock: Clock

    def requests(self, outcome: str, endpoint: str = "query") -> float:
        labels = {"endpoint": endpoint, "outcome": outcome}
        return self.registry.get_sample_value("observ_prometheus_requests_total", labels) or 0.0

    def sent(self) -> float:
        """Requests that went to the network, whatever came of them."""
        return sum(
            s.value
            for m in self.registry.collect()
            if m.name == "observ_prometheus_requests"
            for s in m.samples
            if s.name.endswith("_total") and s.labels["outcome"] != "circuit_open"
        )


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    """Factory: make_client(url, **config) -> a client with its own registry and a movable clock; closed after."""
    made: list[PrometheusClient] = []

    def make(url: str, **config: object) -> Client:
        registry = CollectorRegistry()
        clock = Clock()
        cfg = PrometheusConfig.model_validate({"url": url, **config})
        made.append(PrometheusClient(cfg, metrics=PrometheusClientMetrics(registry), clock=clock))
        return Client(made[-1], registry, clock)

    yield make
    for client in made:
        client.close()


def test_instant_queries_return_every_result_type(
    prometheus: PrometheusServer, target: str, make_client: Callable[..., Client]
) -> None:
    c = make_client(prometheus.url).client
    vector = c.query("demo_temperature_celsius").data
    assert isinstance(vector, VectorResult)
    (sample,) = vector.result
    assert sample.metric == {"__name__": "demo_temperature_celsius", "instance": target, "job": "synthetic"}
    assert sample.value is not None and sample.value.value == TEMPERATURE

    scalar = c.query("scalar(demo_temperature_celsius) * 2", at=time.time()).data
    assert isinstance(scalar, ScalarResult) and scalar.result.value == 2 * TEMPERATURE

    specials = [c.query(e).data for e in ("0/0", "1/0", "-1/0")]
    assert all(isinstance(s, ScalarResult) for s in specials)
    nan, inf, minus_inf = (s.result.value for s in specials)  # type: ignore[union-attr]
    assert math.isnan(nan) and inf == math.inf and minus_inf == -math.inf

    string = c.query('"hello"').data
    assert isinstance(string, StringResult) and string.result.value == "hello"


def test_range_query_returns_the_scraped_samples(
    prometheus: PrometheusServer, make_client: Callable[..., Client]
) -> None:
    c = make_client(prometheus.url).client
    end = round(time.time(), 3)  # Prometheus' resolution: the steps fall on start + k * step exactly
    matrix = c.query_range("demo_temperature_celsius", start=end - 30, end=end, step=1).data
    assert isinstance(matrix, MatrixResult)
    (series,) = matrix.result
    assert series.values, "at least the last scrape is in range"
    assert {p.value for p in series.values} == {TEMPERATURE}
    assert all(end - 30 <= p.timestamp <= end for p in series.values)


def test_exemplars_carry_the_trace_ids(prometheus: PrometheusServer, make_client: Callable[..., Client]) -> None:
    c = make_client(prometheus.url).client

    def trace_ids(expr: str) -> set[str | None]:
        now = time.time()
        answer = c.query_exemplars(expr, start=now - 600, end=now + 60)
        return {e.trace_id() for series in answer.data for e in series.exemplars}

    deadline = time.monotonic() + 30
    while not trace_ids("demo_request_duration_seconds_bucket") and time.monotonic() < deadline:
        time.sleep(0.25)
    assert trace_ids("demo_request_duration_seconds_bucket") == {HISTOGRAM_TRACE}
    assert trace_ids("demo_requests_total") == {COUNTER_TRACE}
    assert trace_ids('{__name__=~"demo_.+"}') == {HISTOGRAM_TRACE, COUNTER_TRACE}


def test_metadata_and_health(prometheus: PrometheusServer, target: str, make_client: Callable[..., Client]) -> None:
    c = make_client(prometheus.url).client
    c.ready()
    assert c.series(["demo_temperature_celsius"]).data == [
        {"__name__": "demo_temperature_celsius", "instance": target, "job": "synthetic"}
    ]
    assert "job" in c.labels().data
    assert c.label_values("job").data == ["synthetic"]


def test_refused_queries_carry_prometheus_message_and_leave_the_breaker_closed(
    prometheus: PrometheusServer, make_client: Callable[..., Client]
) -> None:
    c = make_client(prometheus.url, breaker={"failure_threshold": 1})
    with pytest.raises(QueryRefused) as e:
        c.client.query("sum(")
    assert e.value.status_code == 400 and e.value.error_type == "bad_data"
    assert "parse error" in str(e.value)
    with pytest.raises(QueryRefused, match=r"HTTP 400 bad_data.*exceeded maximum resolution of 11,000 points"):
        c.client.query_range("up", start=0, end=1_000_000, step=1)
    assert c.client.breaker.state is BreakerState.CLOSED
    assert c.requests("refused") == 1 and c.sent() == 2


def test_the_async_client_against_the_real_prometheus(prometheus: PrometheusServer) -> None:
    async def main() -> float:
        async with AsyncPrometheusClient(PrometheusConfig(url=prometheus.url)) as c:
            answer = await c.query("demo_temperature_celsius")
        assert isinstance(answer.data, VectorResult)
        point = answer.data.result[0].value
        assert point is not None
        return point.value

    assert asyncio.run(main()) == TEMPERATURE


def test_a_stopped_prometheus_opens_the_breaker_and_a_restarted_one_closes_it(
    prometheus: PrometheusServer,
    make_client: Callable[..., Client],
) -> None:
    c = make_client(
        prometheus.url,
        retry=RetryConfig(attempts=2, backoff_initial_s=0.01, backoff_max_s=0.02),
        breaker=BreakerConfig(failure_threshold=3, cooldown_s=30),
    )
    assert not isinstance(or_missing(lambda: c.client.query("vector(1)")), Missing)
    prometheus.destroy()
    try:
        first = or_missing(lambda: c.client.query("vector(1)"))
        assert first == Missing(
            part="metrics", reason=f"prometheus unreachable at {prometheus.url}: connection refused (after 2 attempts)"
        )
        second = or_missing(lambda: c.client.query("vector(1)"))
        assert isinstance(second, Missing) and "(circuit open, retry in 30 s)" in second.reason
        assert c.client.breaker.state is BreakerState.OPEN
        assert c.sent() == 1 + 3, "the second call's retry was refused by the breaker its first attempt opened"

        # Open: answered from memory, nothing sent, however often asked.
        for _ in range(20):
            got = or_missing(lambda: c.client.query("vector(1)"))
            assert isinstance(got, Missing) and "connection refused (circuit open, retry in" in got.reason
        assert c.sent() == 4
        assert c.requests("circuit_open") == 21
    finally:
        prometheus.start()

    # Back, but the cool-down is not over: still refused without asking.
    assert isinstance(or_missing(lambda: c.client.query("vector(1)")), Missing)
    assert c.sent() == 4
    c.clock.skew += 30
    answer = or_missing(lambda: c.client.query("vector(1)"))
    assert not isinstance(answer, Missing)
    assert isinstance(answer.data, VectorResult)
    assert c.client.breaker.state is BreakerState.CLOSED
    assert c.registry.get_sample_value("observ_prometheus_circuit_state", {"state": "closed"}) == 1


def test_a_closed_port_fails_at_once(make_client: Callable[..., Client]) -> None:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port = s.getsockname()[1]
    c = make_client(f"http://{LOOPBACK}:{port}", retry={"attempts": 1}, breaker={"failure_threshold": 2})
    reasons = [or_missing(lambda: c.client.ready()) for _ in range(3)]
    assert [r.reason if isinstance(r, Missing) else r for r in reasons] == [
        f"prometheus unreachable at http://{LOOPBACK}:{port}: connection refused",
        f"prometheus unreachable at http://{LOOPBACK}:{port}: connection refused",
        f"prometheus unreachable at http://{LOOPBACK}:{port}: connection refused (circuit open, retry in 15 s)",
    ]
    assert c.sent() == 2


def test_a_server_that_never_answers_times_out_and_opens_the_breaker(make_client: Callable[..., Client]) -> None:
    """A listening socket nobody accepts: connections complete in the kernel's backlog, answers never come."""
    with socket.socket() as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen(16)
        url = f"http://{LOOPBACK}:{silent.getsockname()[1]}"
        c = make_client(
            url,
            read_timeout_s=0.3,
            deadline_s=5,
            retry={"attempts": 2, "backoff_initial_s": 0.01, "backoff_max_s": 0.01},
            breaker={"failure_threshold": 2},
        )
        got = or_missing(lambda: c.client.query("up"))
        assert got == Missing(
            part="metrics", reason=f"prometheus too slow at {url}: no answer within 0.3 s (after 2 attempts)"
        )
        assert c.client.breaker.state is BreakerState.OPEN
        assert c.requests("timeout") == 2
        refused = or_missing(lambda: c.client.query("up"))
        assert isinstance(refused, Missing)
        assert refused.reason.endswith("no answer within 0.3 s (circuit open, retry in 15 s)")
        assert c.sent() == 2
