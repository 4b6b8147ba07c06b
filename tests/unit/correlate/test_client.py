"""The client's requests, its breaker and metrics, answer limits, Missing, and the async twin."""

from __future__ import annotations

import asyncio
import gzip
import math
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry

import observ.correlate.prometheus as public
from observ.correlate.breaker import BreakerConfig, BreakerState
from observ.correlate.missing import Missing
from observ.correlate.prometheus import (
    AnswerTooLarge,
    AsyncPrometheusClient,
    BadAnswer,
    CircuitOpen,
    MatrixResult,
    PrometheusClient,
    PrometheusClientMetrics,
    PrometheusConfig,
    PrometheusUnavailable,
    QueryRefused,
    RetryConfig,
    VectorResult,
    or_missing,
    or_missing_async,
)
from tests.unit.correlate.helpers import VECTOR_UP, FakeClock, error, form, success

Handler = Callable[[httpx.Request], httpx.Response]

BREAKER = BreakerConfig(failure_threshold=3, cooldown_s=15)


class Setup:
    def __init__(self, handler: Handler, **config: object) -> None:
        self.clock = FakeClock()
        self.seen: list[httpx.Request] = []
        self.handler = handler
        self.registry = CollectorRegistry()
        cfg: dict[str, object] = {"url": "http://prom.test", "breaker": BREAKER, **config}
        self.client = PrometheusClient(
            PrometheusConfig.model_validate(cfg),
            metrics=PrometheusClientMetrics(self.registry),
            clock=self.clock,
            sleep=self.clock.sleep,
            transport=httpx.MockTransport(self._record),
        )

    def _record(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.handler(request)

    def count(self, endpoint: str, outcome: str) -> float:
        return (
            self.registry.get_sample_value(
                "observ_prometheus_requests_total", {"endpoint": endpoint, "outcome": outcome}
            )
            or 0.0
        )

    def state(self) -> str:
        (current,) = [
            s for s in BreakerState
            if self.registry.get_sample_value("observ_prometheus_circuit_state", {"state": s.value}) == 1
        ]  # fmt: skip
        return current.value


def test_public_names_are_exactly_these() -> None:
    assert sorted(public.__all__) == sorted(
        [
            "Answer", "AnswerTooLarge", "AsyncPrometheusClient", "BadAnswer", "CircuitOpen", "Exemplar",
            "ExemplarSeries", "Histogram", "HistogramBucket", "HistogramPoint", "MatrixResult", "MatrixSeries", "Point",
            "PrometheusClient", "PrometheusClientMetrics", "PrometheusConfig", "PrometheusError",
            "PrometheusUnavailable", "QueryRefused", "QueryResult", "RetryConfig", "ScalarResult", "StringPoint",
            "StringResult", "VectorResult", "VectorSample", "or_missing", "or_missing_async",
        ]
    )  # fmt: skip
    assert all(hasattr(public, name) for name in public.__all__)


# --- requests ------------------------------------------------------------------------------------


def test_queries_are_posted_as_forms_with_prometheus_parameter_names() -> None:
    s = Setup(lambda r: success([] if "exemplars" in r.url.path else {"resultType": "matrix", "result": []}))
    s.client.query("up", at=1700000000.25)
    s.client.query_range('rate(x{a="b"}[1m])', start=1700000000, end=1700000600, step=15)
    s.client.query_exemplars("x_bucket", start=1.5, end=2.5)
    q, r, e = s.seen
    assert (q.method, q.url.path) == ("POST", "/api/v1/query")
    assert form(q) == {"query": ["up"], "time": ["1700000000.250"], "timeout": ["5"]}
    assert (r.url.path, form(r)) == (
        "/api/v1/query_range",
        {"query": ['rate(x{a="b"}[1m])'], "start": ["1700000000.000"], "end": ["1700000600.000"], "step": ["15"],
         "timeout": ["5"]},
    )  # fmt: skip
    assert (e.url.path, form(e)) == (
        "/api/v1/query_exemplars",
        {"query": ["x_bucket"], "start": ["1.500"], "end": ["2.500"]},
    )
    assert q.headers["content-type"] == "application/x-www-form-urlencoded"


def test_metadata_calls() -> None:
    s = Setup(lambda r: success([{"__name__": "up", "job": "a"}] if r.url.path.endswith("series") else ["a", "b"]))
    assert s.client.series(['up{job="a"}', "process_start_time_seconds"], start=10, end=20).data == [
        {"__name__": "up", "job": "a"}
    ]
    assert s.client.labels().data == ["a", "b"]
    assert s.client.label_values("service.name/x", match=["up"]).data == ["a", "b"]
    series, labels, values = s.seen
    assert form(series) == {
        "match[]": ['up{job="a"}', "process_start_time_seconds"],
        "start": ["10.000"],
        "end": ["20.000"],
    }
    assert (labels.url.path, form(labels)) == ("/api/v1/labels", {})
    assert (values.method, values.url.raw_path) == ("GET", b"/api/v1/label/service.name%2Fx/values?match%5B%5D=up")


def test_base_path_and_headers_are_kept() -> None:
    s = Setup(lambda r: success(VECTOR_UP), url="http://prom.test/prometheus/", headers={"X-Scope-OrgID": "team-a"})
    s.client.query("up")
    assert s.seen[0].url.path == "/prometheus/api/v1/query"
    assert s.seen[0].headers["x-scope-orgid"] == "team-a"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.query(""), "a PromQL expression is required"),
        (lambda c: c.query("   "), "a PromQL expression is required"),
        (lambda c: c.query("up", at=math.nan), "at must be a finite number of unix seconds, got nan"),
        (lambda c: c.query("up", at=True), "at must be a finite number"),
        (lambda c: c.query("up", at="now"), "at must be a finite number of unix seconds, got 'now'"),
        (lambda c: c.query_range("up", 10, 5, 1), r"end \(5\) is before start \(10\)"),
        (lambda c: c.query_range("up", 0, 5, 0), "step must be a positive number of seconds, got 0"),
        (lambda c: c.query_range("up", 0, 5, math.inf), "step must be a positive number"),
        (lambda c: c.query_exemplars("x", math.inf, 5), "start must be a finite number"),
        (lambda c: c.series([]), "series needs at least one selector"),
        (lambda c: c.series("up"), "match takes a sequence of series selectors, not one string"),
        (lambda c: c.label_values(""), "a label name is required"),
    ],
)
def test_bad_arguments_fail_before_anything_is_sent(call: Callable[[PrometheusClient], object], message: str) -> None:
    s = Setup(lambda r: success(VECTOR_UP))
    with pytest.raises(ValueError, match=message):
        call(s.client)
    assert s.seen == []


# --- breaker and metrics -------------------------------------------------------------------------


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def test_the_open_breaker_answers_without_a_request_and_a_probe_closes_it() -> None:
    down = True
    s = Setup(lambda r: refuse(r) if down else success(VECTOR_UP), retry=RetryConfig(attempts=1))
    for _ in range(3):
        with pytest.raises(PrometheusUnavailable):
            s.client.query("up")
    assert s.client.breaker.state is BreakerState.OPEN
    assert s.state() == "open"

    with pytest.raises(CircuitOpen) as refused:
        s.client.query("up")
    assert len(s.seen) == 3, "no request while open"
    assert str(refused.value) == (
        "prometheus unreachable at http://prom.test: connection refused (circuit open, retry in 15 s)"
    )
    assert (s.count("query", "unavailable"), s.count("query", "circuit_open")) == (3, 1)

    down = False
    s.clock.now += 15
    assert isinstance(s.client.query("up").data, VectorResult)
    assert s.client.breaker.state is BreakerState.CLOSED
    assert s.state() == "closed"
    assert s.count("query", "success") == 1


def test_a_failing_probe_keeps_it_open() -> None:
    s = Setup(refuse, retry=RetryConfig(attempts=1))
    for _ in range(3):
        with pytest.raises(PrometheusUnavailable):
            s.client.query("up")
    s.clock.now += 15
    with pytest.raises(PrometheusUnavailable, match=r"connection refused$"):
        s.client.ready()
    assert len(s.seen) == 4
    with pytest.raises(CircuitOpen, match="retry in 15 s"):
        s.client.query("up")


def test_retries_stop_when_the_breaker_opens_mid_call() -> None:
    s = Setup(refuse, retry=RetryConfig(attempts=10))
    with pytest.raises(CircuitOpen, match=r"connection refused \(circuit open, retry in 15 s\)"):
        s.client.query("up")
    assert len(s.seen) == 3


def test_refused_queries_do_not_count_against_prometheus() -> None:
    s = Setup(lambda r: error(400, "bad_data", "parse error"))
    for _ in range(10):
        with pytest.raises(QueryRefused):
            s.client.query("sum(")
    assert s.client.breaker.state is BreakerState.CLOSED
    assert s.count("query", "refused") == 10


def test_latency_is_observed_per_request() -> None:
    s = Setup(lambda r: success(VECTOR_UP))
    s.client.query("up")
    s.client.query("up")
    assert s.registry.get_sample_value("observ_prometheus_request_duration_seconds_count", {"endpoint": "query"}) == 2


# --- answers -------------------------------------------------------------------------------------


def test_an_answer_over_the_declared_size_is_refused_unread() -> None:
    big = b"x" * 2048
    s = Setup(lambda r: httpx.Response(200, content=big), max_response_bytes=1024)
    with pytest.raises(AnswerTooLarge, match="larger than 1024 bytes"):
        s.client.query("up")
    assert s.client.breaker.state is BreakerState.CLOSED
    assert s.count("query", "too_large") == 1


def chunks(parts: list[bytes], before_each: Callable[[], None] = lambda: None) -> httpx.SyncByteStream:
    class Stream(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for p in parts:
                before_each()
                yield p

    return Stream()


def test_a_streamed_answer_is_cut_at_the_limit() -> None:
    s = Setup(lambda r: httpx.Response(200, stream=chunks([b"[" * 600] * 4)), max_response_bytes=1024)
    with pytest.raises(AnswerTooLarge):
        s.client.query("up")


def test_a_decompression_bomb_is_cut_at_the_limit() -> None:
    bomb = gzip.compress(b" " * 10_000_000)
    s = Setup(
        lambda r: httpx.Response(200, content=bomb, headers={"content-encoding": "gzip"}), max_response_bytes=65536
    )
    with pytest.raises(AnswerTooLarge):
        s.client.query("up")


def test_a_body_that_does_not_decompress_is_a_bad_answer() -> None:
    s = Setup(lambda r: httpx.Response(200, content=b"not gzip", headers={"content-encoding": "gzip"}))
    with pytest.raises(BadAnswer, match="does not decompress"):
        s.client.query("up")


def test_a_trickling_answer_ends_at_the_deadline() -> None:
    holder: list[Setup] = []

    def tick() -> None:
        holder[0].clock.now += 4

    s = Setup(lambda r: httpx.Response(200, stream=chunks([b"{", b'"status"', b":"], tick)), deadline_s=10)
    holder.append(s)
    with pytest.raises(PrometheusUnavailable, match="answer not complete within 10 s") as e:
        s.client.query("up")
    assert e.value.outcome == "timeout"
    assert len(s.seen) == 1


# --- Missing -------------------------------------------------------------------------------------


def test_or_missing_names_the_part_and_the_reason() -> None:
    s = Setup(refuse, retry=RetryConfig(attempts=1))
    got = or_missing(lambda: s.client.query("up"))
    assert got == Missing(part="metrics", reason="prometheus unreachable at http://prom.test: connection refused")
    for _ in range(2):
        or_missing(lambda: s.client.query("up"))
    assert or_missing(lambda: s.client.query_exemplars("x", 0, 1), part="exemplars") == Missing(
        part="exemplars",
        reason="prometheus unreachable at http://prom.test: connection refused (circuit open, retry in 15 s)",
    )


def test_or_missing_passes_answers_through_and_bugs_up() -> None:
    s = Setup(lambda r: success(VECTOR_UP))
    assert isinstance(or_missing(lambda: s.client.query("up")), public.Answer)
    with pytest.raises(ValueError):
        or_missing(lambda: s.client.query(""))


# --- async ---------------------------------------------------------------------------------------


def test_the_async_client_makes_the_same_calls() -> None:
    clock = FakeClock()
    seen: list[httpx.Request] = []
    answers = iter([httpx.Response(503), success({"resultType": "matrix", "result": []})])

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    async def main() -> None:
        async with AsyncPrometheusClient(
            PrometheusConfig(url="http://prom.test"), clock=clock, sleep=clock.asleep,
            transport=httpx.MockTransport(handle),
        ) as c:  # fmt: skip
            answer = await c.query_range("up", 0, 60, 15)
            assert isinstance(answer.data, MatrixResult)

    asyncio.run(main())
    assert [r.url.path for r in seen] == ["/api/v1/query_range"] * 2
    assert len(clock.sleeps) == 1


def test_async_breaker_and_or_missing_async() -> None:
    clock = FakeClock()

    async def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    async def main() -> list[object]:
        cfg = PrometheusConfig(url="http://prom.test", breaker=BREAKER, retry=RetryConfig(attempts=1))
        async with AsyncPrometheusClient(cfg, clock=clock, transport=httpx.MockTransport(handle)) as c:
            return [await or_missing_async(c.query("up")) for _ in range(4)]

    got = asyncio.run(main())
    assert got[0] == Missing(part="metrics", reason="prometheus unreachable at http://prom.test: connection refused")
    assert isinstance(got[3], Missing) and got[3].reason.endswith("(circuit open, retry in 15 s)")


def test_a_cancelled_probe_frees_the_slot() -> None:
    clock = FakeClock()
    hang = asyncio.Event()

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/-/ready":
            await hang.wait()
        raise httpx.ConnectError("refused", request=request)

    async def main() -> None:
        cfg = PrometheusConfig(url="http://prom.test", breaker=BREAKER, retry=RetryConfig(attempts=1))
        async with AsyncPrometheusClient(cfg, clock=clock, transport=httpx.MockTransport(handle)) as c:
            for _ in range(3):
                await or_missing_async(c.query("up"))
            clock.now += 15
            probe = asyncio.create_task(c.ready())
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert c.breaker.state is BreakerState.HALF_OPEN
            with pytest.raises(CircuitOpen, match="a probe is under way"):
                await c.query("up")
            probe.cancel()
            with pytest.raises(asyncio.CancelledError):
                await probe
            assert c.breaker.admit().probe, "the next caller may probe"

    asyncio.run(main())
