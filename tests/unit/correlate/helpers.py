"""A fake clock whose sleep moves it, and Prometheus-shaped answers for MockTransport handlers."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def success(data: Any, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "data": data, **extra})


def error(status: int, error_type: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"status": "error", "errorType": error_type, "error": message})


VECTOR_UP = {
    "resultType": "vector",
    "result": [{"metric": {"__name__": "up", "job": "a"}, "value": [1700000000.5, "1"]}],
}


def form(request: httpx.Request) -> dict[str, list[str]]:
    """The request's parameters, from the body of a POST or the URL of a GET."""
    pairs = httpx.QueryParams(request.content.decode()) if request.method == "POST" else request.url.params
    out: dict[str, list[str]] = {}
    for k, v in pairs.multi_items():
        out.setdefault(k, []).append(v)
    return out


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


class Inline(Executor):
    """Runs each submitted call at once, in order: deterministic stand-in for a thread pool."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:
            future.set_exception(e)
        return future
