"""Prometheus HTTP API client for correlation: typed answers, timeouts, retries, a circuit breaker, self metrics."""

from observ.correlate.prometheus.client import AsyncPrometheusClient, PrometheusClient, or_missing, or_missing_async
from observ.correlate.prometheus.config import PrometheusConfig, RetryConfig
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
    Exemplar,
    ExemplarSeries,
    Histogram,
    HistogramBucket,
    HistogramPoint,
    MatrixResult,
    MatrixSeries,
    Point,
    QueryResult,
    ScalarResult,
    StringPoint,
    StringResult,
    VectorResult,
    VectorSample,
)

__all__ = [
    "Answer",
    "AnswerTooLarge",
    "AsyncPrometheusClient",
    "BadAnswer",
    "CircuitOpen",
    "Exemplar",
    "ExemplarSeries",
    "Histogram",
    "HistogramBucket",
    "HistogramPoint",
    "MatrixResult",
    "MatrixSeries",
    "Point",
    "PrometheusClient",
    "PrometheusClientMetrics",
    "PrometheusConfig",
    "PrometheusError",
    "PrometheusUnavailable",
    "QueryRefused",
    "QueryResult",
    "RetryConfig",
    "ScalarResult",
    "StringPoint",
    "StringResult",
    "VectorResult",
    "VectorSample",
    "or_missing",
    "or_missing_async",
]
