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

    def histogram(self, name: str, labels: Mapping[str, str], per_second: Mapping[float, float]) -> SyntheticTarget:
        """`per_second` maps each bucket's upper bound to observations/s landing in it (not cumulative).

        Bounds are exposed as `le` labels the way prometheus-client formats them (0.25 → "0.25", 1 → "1.0");
        a +Inf bucket is always exposed.
        """
        self._add(name, "histogram", _Series(dict(labels), buckets=dict(sorted(per_second.items()))))
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
                    buckets, total_sum = _cumulative(series.buckets, t)
                    metric.add_metric(values, buckets, total_sum)
            yield metric

    def _add(self, name: str, kind: str, series: _Series) -> None:
        with self._lock:
            fam = self._families.setdefault(name, _Family(kind))
            if fam.kind != kind:
                raise ValueError(f"{name} is already a {fam.kind}")
            fam.series.append(series)


def _cumulative(per_second: Mapping[float, float], t: float) -> tuple[list[tuple[str, float]], float]:
    """Cumulative `(le, count)` buckets at time t, +Inf last, and a sum that puts each observation at its bound."""
    buckets: list[tuple[str, float]] = []
    running = total_sum = 0.0
    finite = [b for b in per_second if not math.isinf(b)]
    for bound, rate in per_second.items():
        running += rate * t
        total_sum += rate * t * (bound if not math.isinf(bound) else (finite[-1] if finite else 0.0))
        if not math.isinf(bound):
            buckets.append((_le(bound), running))
    buckets.append(("+Inf", running))
    return buckets, total_sum


def _le(bound: float) -> str:
    """The Python client's spelling (1 → "1.0"); the Go client and Prometheus 2.x rules would say "1"."""
    return floatToGoString(bound)
