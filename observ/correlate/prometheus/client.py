"""Prometheus HTTP API clients (sync and async) with timeouts, retries and a circuit breaker.

Every call either returns a typed Answer or raises a PrometheusError whose message says what is missing and
why; `or_missing` turns that into a `Missing` so correlation can still answer with logs and spans. Both
clients share everything but the I/O: the calls they build, how answers are classified, the breaker and the
metrics live in `_Core`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from prometheus_client import CollectorRegistry
from tenacity import AsyncRetrying, Retrying

from observ.correlate.breaker import CircuitBreaker, CircuitOpenError
from observ.correlate.missing import Missing
from observ.correlate.prometheus import retry
from observ.correlate.prometheus.calls import Call, Calls
from observ.correlate.prometheus.config import PrometheusConfig
from observ.correlate.prometheus.errors import (
    AnswerTooLarge,
    BadAnswer,
    CircuitOpen,
    PrometheusError,
    PrometheusUnavailable,
    QueryRefused,
)
from observ.correlate.prometheus.metrics import PrometheusClientMetrics
from observ.correlate.prometheus.models import (
    Answer,
    ErrorAnswer,
    ExemplarSeries,
    Labels,
    QueryResult,
    error_of,
    excerpt,
)

T = TypeVar("T")

_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")


class _Body:
    """Collects an answer up to max_response_bytes (decompressed) and until the call's deadline: a huge answer
    or a slow trickle ends the attempt instead of holding memory or the caller."""

    def __init__(self, core: _Core, response: httpx.Response, deadline: float) -> None:
        self.core = core
        self.deadline = deadline
        self.data = bytearray()
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > core.config.max_response_bytes:
            raise core.too_large()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.core.config.max_response_bytes:
            raise self.core.too_large()
        if self.core.clock() > self.deadline:
            raise PrometheusUnavailable(
                f"prometheus too slow at {self.core.config.url}: answer not complete within "
                f"{self.core.config.deadline_s:g} s",
                retryable=False,
                outcome="timeout",
            )


class _Core:
    """What both clients share: the calls, timeouts, the breaker and metrics, and what an answer means."""

    def __init__(
        self,
        config: PrometheusConfig,
        metrics: PrometheusClientMetrics | None,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics or PrometheusClientMetrics(CollectorRegistry())
        self.breaker = CircuitBreaker(config.breaker, clock=clock, on_change=self.metrics.state_changed)
        self.calls = Calls(config)

    def retry_policy(self, call: Call[Any], deadline: float) -> dict[str, Any]:
        return retry.policy(self.config.retry, deadline, self.clock, attempts=None if call.retry else 1)

    def timeout(self, deadline: float) -> httpx.Timeout:
        left = deadline - self.clock()
        if left <= 0:
            raise PrometheusUnavailable(
                f"prometheus too slow at {self.config.url}: no answer within {self.config.deadline_s:g} s",
                retryable=False,
                outcome="timeout",
            )
        c = self.config
        return httpx.Timeout(
            connect=min(c.connect_timeout_s, left), read=min(c.read_timeout_s, left),
            write=min(c.read_timeout_s, left), pool=min(c.connect_timeout_s, left),
        )  # fmt: skip

    @contextmanager
    def attempt(self, call: Call[Any]) -> Iterator[None]:
        """Admits one request through the breaker, then reports how it went to the breaker and the metrics."""
        try:
            permit = self.breaker.admit()
        except CircuitOpenError as e:
            self.metrics.request(call.endpoint, "circuit_open", None)
            raise CircuitOpen(str(e), e.retry_in_s) from None
        started = time.perf_counter()
        try:
            yield
        except PrometheusUnavailable as e:
            self.breaker.failed(permit, e.reason)
            self.metrics.request(call.endpoint, e.outcome, time.perf_counter() - started)
            raise
        except PrometheusError as e:
            # Refused or too large: Prometheus is up and answering.
            self.breaker.succeeded(permit)
            self.metrics.request(call.endpoint, e.outcome, time.perf_counter() - started)
            raise
        except BaseException:
            self.breaker.released(permit)
            raise
        self.breaker.succeeded(permit)
        self.metrics.request(call.endpoint, "success", time.perf_counter() - started)

    def finish(self, call: Call[T], status: int, body: bytes) -> T:
        """The decoded answer, or the error its status code and body mean."""
        url = self.config.url
        if 200 <= status < 300:
            answer = call.decode(body)
            if isinstance(answer, ErrorAnswer):
                raise QueryRefused(status, answer.error_type, answer.error)
            return answer
        said = error_of(body)
        detail = f"{said.error_type}: {said.error}" if said else excerpt(body)
        if status in _RETRYABLE_STATUS:
            if said is not None and said.error_type == "timeout":
                # Prometheus' own query timeout: the query is too costly, another try costs the same.
                raise PrometheusUnavailable(
                    f"prometheus too slow at {url}: {detail}", retryable=False, outcome="timeout"
                )
            raise PrometheusUnavailable(f"prometheus unavailable at {url}: HTTP {status}: {detail}", retryable=True)
        if 400 <= status < 500:
            raise QueryRefused(status, said.error_type if said else "", said.error if said else excerpt(body))
        raise PrometheusUnavailable(f"prometheus failed at {url}: HTTP {status}: {detail}", retryable=False)

    def unreachable(self, error: httpx.RequestError, timeout: httpx.Timeout) -> PrometheusUnavailable:
        url = self.config.url
        if isinstance(error, httpx.ConnectTimeout):
            return PrometheusUnavailable(
                f"prometheus unreachable at {url}: no connection within {timeout.connect:g} s",
                retryable=True,
                outcome="timeout",
            )
        if isinstance(error, httpx.TimeoutException):
            return PrometheusUnavailable(
                f"prometheus too slow at {url}: no answer within {timeout.read:g} s", retryable=True, outcome="timeout"
            )
        if isinstance(error, httpx.DecodingError):
            return BadAnswer(f"prometheus answered a body that does not decompress: {_say(error)}")
        return PrometheusUnavailable(f"prometheus unreachable at {url}: {_say(error)}", retryable=True)

    def too_large(self) -> AnswerTooLarge:
        return AnswerTooLarge(self.config.max_response_bytes)


def _say(error: Exception) -> str:
    """httpx's message without the errno prefix: "[Errno 111] Connection refused" -> "connection refused"."""
    text = _ERRNO.sub("", str(error)).strip() or type(error).__name__
    return text[:1].lower() + text[1:]


def _after(error: PrometheusUnavailable, attempts: int) -> PrometheusUnavailable:
    """The last failure of a retried call says how often it was tried."""
    if attempts <= 1 or not error.retryable:
        return error
    again = PrometheusUnavailable(f"{error.reason} (after {attempts} attempts)", retryable=True, outcome=error.outcome)
    again.__cause__ = error.__cause__
    return again


class _Client:
    """Config, core and the httpx options both clients are built with."""

    def __init__(
        self, config: PrometheusConfig | None, metrics: PrometheusClientMetrics | None, clock: Callable[[], float]
    ) -> None:
        self.config = config or PrometheusConfig()
        self._core = _Core(self.config, metrics, clock)

    @property
    def breaker(self) -> CircuitBreaker:
        return self._core.breaker

    @property
    def metrics(self) -> PrometheusClientMetrics:
        return self._core.metrics

    def _http_options(self) -> dict[str, Any]:
        # trust_env=False: no proxy from the environment between observ and its Prometheus.
        return {"base_url": self.config.url, "headers": self.config.headers, "trust_env": False}


class PrometheusClient(_Client):
    """Blocking client; one per process is enough (it keeps a connection pool). Times are unix seconds."""

    def __init__(
        self,
        config: PrometheusConfig | None = None,
        *,
        metrics: PrometheusClientMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(config, metrics, clock)
        self._sleep = sleep
        self._http = httpx.Client(transport=transport, **self._http_options())

    def query(self, expr: str, at: float | None = None) -> Answer[QueryResult]:
        """Instant query at `at` (Prometheus' now when None)."""
        return self._run(self._core.calls.query(expr, at))

    def query_range(self, expr: str, start: float, end: float, step: float) -> Answer[QueryResult]:
        return self._run(self._core.calls.query_range(expr, start, end, step))

    def query_exemplars(self, expr: str, start: float, end: float) -> Answer[list[ExemplarSeries]]:
        return self._run(self._core.calls.query_exemplars(expr, start, end))

    def series(
        self, match: Sequence[str], start: float | None = None, end: float | None = None
    ) -> Answer[list[Labels]]:
        return self._run(self._core.calls.series(match, start, end))

    def labels(
        self, match: Sequence[str] = (), start: float | None = None, end: float | None = None
    ) -> Answer[list[str]]:
        return self._run(self._core.calls.labels(match, start, end))

    def label_values(
        self, name: str, match: Sequence[str] = (), start: float | None = None, end: float | None = None
    ) -> Answer[list[str]]:
        return self._run(self._core.calls.label_values(name, match, start, end))

    def ready(self) -> None:
        """Returns when Prometheus answers /-/ready; one attempt, no retries."""
        self._run(self._core.calls.ready())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, call: Call[T]) -> T:
        deadline = self._core.clock() + self.config.deadline_s
        retrying = Retrying(sleep=self._sleep, **self._core.retry_policy(call, deadline))
        try:
            return retrying(self._attempt, call, deadline)
        except PrometheusUnavailable as e:
            raise _after(e, retrying.statistics.get("attempt_number", 1)) from e.__cause__

    def _attempt(self, call: Call[T], deadline: float) -> T:
        with self._core.attempt(call):
            status, body = self._send(call, deadline)
            return self._core.finish(call, status, body)

    def _send(self, call: Call[Any], deadline: float) -> tuple[int, bytes]:
        timeout = self._core.timeout(deadline)
        try:
            with self._http.stream(call.method, call.path, timeout=timeout, **call.request_args()) as response:
                body = _Body(self._core, response, deadline)
                for chunk in response.iter_bytes():
                    body.add(chunk)
                return response.status_code, bytes(body.data)
        except httpx.RequestError as e:
            raise self._core.unreachable(e, timeout) from e


class AsyncPrometheusClient(_Client):
    """The same calls as PrometheusClient for asyncio callers."""

    def __init__(
        self,
        config: PrometheusConfig | None = None,
        *,
        metrics: PrometheusClientMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(config, metrics, clock)
        self._sleep = sleep
        self._http = httpx.AsyncClient(transport=transport, **self._http_options())

    async def query(self, expr: str, at: float | None = None) -> Answer[QueryResult]:
        return await self._run(self._core.calls.query(expr, at))

    async def query_range(self, expr: str, start: float, end: float, step: float) -> Answer[QueryResult]:
        return await self._run(self._core.calls.query_range(expr, start, end, step))

    async def query_exemplars(self, expr: str, start: float, end: float) -> Answer[list[ExemplarSeries]]:
        return await self._run(self._core.calls.query_exemplars(expr, start, end))

    async def series(
        self, match: Sequence[str], start: float | None = None, end: float | None = None
    ) -> Answer[list[Labels]]:
        return await self._run(self._core.calls.series(match, start, end))

    async def labels(
        self, match: Sequence[str] = (), start: float | None = None, end: float | None = None
    ) -> Answer[list[str]]:
        return await self._run(self._core.calls.labels(match, start, end))

    async def label_values(
        self, name: str, match: Sequence[str] = (), start: float | None = None, end: float | None = None
    ) -> Answer[list[str]]:
        return await self._run(self._core.calls.label_values(name, match, start, end))

    async def ready(self) -> None:
        await self._run(self._core.calls.ready())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _run(self, call: Call[T]) -> T:
        deadline = self._core.clock() + self.config.deadline_s
        policy = self._core.retry_policy(call, deadline)
        retrying = AsyncRetrying(**policy) if self._sleep is None else AsyncRetrying(sleep=self._sleep, **policy)
        try:
            return await retrying(self._attempt, call, deadline)
        except PrometheusUnavailable as e:
            raise _after(e, retrying.statistics.get("attempt_number", 1)) from e.__cause__

    async def _attempt(self, call: Call[T], deadline: float) -> T:
        with self._core.attempt(call):
            status, body = await self._send(call, deadline)
            return self._core.finish(call, status, body)

    async def _send(self, call: Call[Any], deadline: float) -> tuple[int, bytes]:
        timeout = self._core.timeout(deadline)
        try:
            async with self._http.stream(call.method, call.path, timeout=timeout, **call.request_args()) as response:
                body = _Body(self._core, response, deadline)
                async for chunk in response.aiter_bytes():
                    body.add(chunk)
                return response.status_code, bytes(body.data)
        except httpx.RequestError as e:
            raise self._core.unreachable(e, timeout) from e


def or_missing(call: Callable[[], T], part: str = "metrics") -> T | Missing:
    """`call()`, or a Missing saying why Prometheus gave no answer; programming errors still raise."""
    try:
        return call()
    except PrometheusError as e:
        return Missing(part=part, reason=str(e))


async def or_missing_async(call: Awaitable[T], part: str = "metrics") -> T | Missing:
    try:
        return await call
    except PrometheusError as e:
        return Missing(part=part, reason=str(e))
