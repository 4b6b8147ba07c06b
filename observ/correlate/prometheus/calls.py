"""The requests of each Prometheus API method, checked before anything is sent, and the decoder of each answer."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from observ.correlate.prometheus.config import PrometheusConfig
from observ.correlate.prometheus.models import Answer, Decoder, ErrorAnswer, ExemplarSeries, Labels, QueryResult

T = TypeVar("T")

_QUERY = Decoder[QueryResult](QueryResult)
_EXEMPLARS = Decoder[list[ExemplarSeries]](list[ExemplarSeries])
_SERIES = Decoder[list[Labels]](list[Labels])
_NAMES = Decoder[list[str]](list[str])


def _ready(body: bytes) -> None:
    """/-/ready answers plain text; its status code says it all."""


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    endpoint: str
    """Label of the client's metrics."""
    method: str
    path: str
    decode: Callable[[bytes], T | ErrorAnswer]
    form: Mapping[str, str | list[str]] = field(default_factory=dict)
    retry: bool = True

    def request_args(self) -> dict[str, Any]:
        """POST sends the form as the body (long queries fit), GET in the URL."""
        if not self.form:
            return {}
        return {"data": dict(self.form)} if self.method == "POST" else {"params": dict(self.form)}


def _seconds(name: str, value: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of unix seconds, got {value!r}")
    return f"{value:.3f}"


def _range(form: dict[str, str | list[str]], start: float | None, end: float | None) -> dict[str, str | list[str]]:
    if start is not None:
        form["start"] = _seconds("start", start)
    if end is not None:
        form["end"] = _seconds("end", end)
    if start is not None and end is not None and end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    return form


def _expr(expr: str) -> str:
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError(f"a PromQL expression is required, got {expr!r}")
    return expr


def _matchers(match: Sequence[str]) -> list[str]:
    if isinstance(match, str):
        raise ValueError("match takes a sequence of series selectors, not one string")
    return [_expr(m) for m in match]


class Calls:
    """The requests of each API method, validated before anything is sent."""

    def __init__(self, config: PrometheusConfig) -> None:
        self._timeout = f"{config.read_timeout_s:g}"

    def query(self, expr: str, at: float | None) -> Call[Answer[QueryResult]]:
        form: dict[str, str | list[str]] = {"query": _expr(expr), "timeout": self._timeout}
        if at is not None:
            form["time"] = _seconds("at", at)
        return Call("query", "POST", "/api/v1/query", _QUERY, form)

    def query_range(self, expr: str, start: float, end: float, step: float) -> Call[Answer[QueryResult]]:
        if isinstance(step, bool) or not isinstance(step, int | float) or not (math.isfinite(step) and step > 0):
            raise ValueError(f"step must be a positive number of seconds, got {step!r}")
        form = _range({"query": _expr(expr), "step": f"{step:g}", "timeout": self._timeout}, start, end)
        return Call("query_range", "POST", "/api/v1/query_range", _QUERY, form)

    def query_exemplars(self, expr: str, start: float, end: float) -> Call[Answer[list[ExemplarSeries]]]:
        form = _range({"query": _expr(expr)}, start, end)
        return Call("query_exemplars", "POST", "/api/v1/query_exemplars", _EXEMPLARS, form)

    def series(self, match: Sequence[str], start: float | None, end: float | None) -> Call[Answer[list[Labels]]]:
        matchers = _matchers(match)
        if not matchers:
            raise ValueError("series needs at least one selector in match")
        return Call("series", "POST", "/api/v1/series", _SERIES, _range({"match[]": matchers}, start, end))

    def labels(self, match: Sequence[str], start: float | None, end: float | None) -> Call[Answer[list[str]]]:
        form = _range({"match[]": _matchers(match)} if match else {}, start, end)
        return Call("labels", "POST", "/api/v1/labels", _NAMES, form)

    def label_values(
        self, name: str, match: Sequence[str], start: float | None, end: float | None
    ) -> Call[Answer[list[str]]]:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a label name is required, got {name!r}")
        form = _range({"match[]": _matchers(match)} if match else {}, start, end)
        return Call("label_values", "GET", f"/api/v1/label/{quote(name, safe='')}/values", _NAMES, form)

    def ready(self) -> Call[None]:
        return Call("ready", "GET", "/-/ready", _ready, retry=False)
