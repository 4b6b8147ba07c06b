"""Why a call to Prometheus gave no answer; each error's str() is one sentence a user can act on."""

from __future__ import annotations


class PrometheusError(Exception):
    """No answer for this call. Subclasses say whether Prometheus refused the query or could not be had;
    `outcome` is the label the request is counted under in observ_prometheus_requests_total."""

    outcome = "error"


class QueryRefused(PrometheusError):
    """Prometheus answered and refused the query (`status: error`, HTTP 4xx): retrying would not help, and it
    says nothing against Prometheus' health. `error_type` is empty when the body was not Prometheus' JSON."""

    outcome = "refused"

    def __init__(self, status_code: int, error_type: str, error: str) -> None:
        self.status_code = status_code
        self.error_type = error_type
        self.error = error
        why = f"HTTP {status_code} {error_type}" if error_type else f"HTTP {status_code}"
        super().__init__(f"prometheus refused the query ({why}): {error}")


class AnswerTooLarge(PrometheusError):
    """The answer passed max_response_bytes: the query asks for too much (Prometheus itself is fine)."""

    outcome = "too_large"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"prometheus answer larger than {limit} bytes (max_response_bytes); narrow the query")


class PrometheusUnavailable(PrometheusError):
    """No usable answer: connection failed, too slow, overloaded or broken. `retryable` when another attempt
    may well succeed (connection errors, timeouts, 429/502/503/504)."""

    def __init__(self, reason: str, *, retryable: bool, outcome: str = "unavailable") -> None:
        self.reason = reason
        self.retryable = retryable
        self.outcome = outcome
        super().__init__(reason)


class BadAnswer(PrometheusUnavailable):
    """Prometheus (or whatever listens at its address) answered 2xx with a body that is not its API's JSON."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=False, outcome="bad_answer")


class CircuitOpen(PrometheusUnavailable):
    """Refused locally, without network I/O: Prometheus failed too often lately."""

    def __init__(self, reason: str, retry_in_s: float) -> None:
        self.retry_in_s = retry_in_s
        super().__init__(reason, retryable=False, outcome="circuit_open")
