"""A synthetic scrape target whose counters grow linearly in time, so every rate ratio is known exactly.

Why linear in time: every series of one scrape is read at the same instant t, and a counter is
`per_second * t`. Any two counters then stay in a fixed proportion, and Prometheus's `rate()` /
`increase()` of each (extrapolation included: it scales both by the same factor) keep that proportion
whatever the scrape timing. `errors / total` is exactly the configured fraction from the second scrape on.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_wsgi_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LOOPBACK = "127.0.0.1"


@dataclass
class _Series:
    labels: dict[str, str]
    value: float = 0.0
    """A counter's increase per second, or a gauge's value."""
    buckets: dict[float, float] = field(default_factory=dict)
    """A histogram's observations per second by bucket bound (not cumulative)."""
    go_le: bool = False


@dataclass
class _Family:
    kind: str
    series: list[_Series] = field(default_factory=list)


class SyntheticTarget(Collector):
    """Counters, histograms and gauges on 127.0.0.1:<free port>; declare series, then `start()`."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._httpd: WSGIServer | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def counter(self, name: str, labels: Mapping[str, str], per_second: float) -> SyntheticTarget:
        """`name` as scraped, e.g. http_requests_total (the `_total` suffix is required)."""
        if not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end in _total")
        self._add(name.removesuffix("_total"), "counter", _Series(dict(labels), value=float(per_second)))
        return self

    def histogram(
        self, name: str, labels: Mapping[str, str], per_second: Mapping[float, float], go_le: bool = False
    ) -> SyntheticTarget:
        """`per_second` maps each bucket's upper bound to observations/s landing in it (not cumulative).

        Bounds are exposed as `le` labels the way prometheus-client spells them (1 → "1.0", as Prometheus 3
        also normalises them), or with `go_le` the way the Go client's text format does (1 → "1"), which
        Prometheus 2 keeps as is. A +Inf bucket is always exposed.
        """
        buckets = dict(sorted(per_second.items()))
        self._add(name, "histogram", _Series(dict(labels), buckets=buckets, go_le=go_le))
        return self

    def gauge(self, name: str, labels: Mapping[str, str], value: float) -> SyntheticTarget:
        self._add(name, "gauge", _Series(dict(labels), value=float(value)))
        return self

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("target not started")
        return int(self._httpd.server_port)

    @property
    def address(self) -> str:
        """host:port for a Prometheus static_config."""
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> SyntheticTarget:
        if self._httpd is None:
            self._httpd, _ = start_wsgi_server(0, addr=LOOPBACK, registry=self.registry)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> SyntheticTarget:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def collect(self) -> Iterator[Metric]:
        """Called by prometheus-client on every scrape: one t for all series keeps them proportional."""
        t = time.monotonic() - self._t0
        with self._lock:
            families = list(self._families.items())
        for name, fam in families:
            names = sorted({k for series in fam.series for k in series.labels})
            doc = f"synthetic {fam.kind}"
            metric: CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
            if fam.kind == "counter":
                metric = CounterMetricFamily(name, doc, labels=names)
            elif fam.kind == "gauge":
                metric = GaugeMetricFamily(name, doc, labels=names)
            else:
                metric = HistogramMetricFamily(name, doc, labels=names)
            for series in fam.series:
                values = [series.labels.get(n, "") for n in names]
                if isinstance(metric, CounterMetricFamily):
                    metric.add_metric(values, series.value * t)
                elif isinstance(metric, GaugeMetricFamily):
                    metric.add_metric(values, series.value)
                else:
                    buckets, total_sum = _cumulative(series.buckets, t, series.go_le)
                    metric.add_metric(values, buckets, total_sum)
            yield metric

    def _add(self, name: str, kind: str, series: _Series) -> None:
        with self._lock:
            fam = self._families.setdefault(name, _Family(kind))
            if fam.kind != kind:
                raise ValueError(f"{name} is already a {fam.kind}")
            fam.series.append(series)


def _cumulative(per_second: Mapping[float, float], t: float, go_le: bool) -> tuple[list[tuple[str, float]], float]:
    """Cumulative `(le, count)` buckets at time t, +Inf last, and a sum that puts each observation at its bound."""
    buckets: list[tuple[str, float]] = []
    running = total_sum = 0.0
    finite = [b for b in per_second if not math.isinf(b)]
    for bound, rate in per_second.items():
        running += rate * t
        total_sum += rate * t * (bound if not math.isinf(bound) else (finite[-1] if finite else 0.0))
        if not math.isinf(bound):
            buckets.append((_le(bound, go_le), running))
    buckets.append(("+Inf", running))
    return buckets, total_sum


def _le(bound: float, go_le: bool) -> str:
    """Python client: 1 → "1.0"; Go client (strconv 'g', for bounds under 1e6): 1 → "1"."""
    text = floatToGoString(bound)
    return text.removesuffix(".0") if go_le else text
