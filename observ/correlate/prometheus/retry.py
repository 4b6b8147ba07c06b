"""Which failures are tried again, how long to wait, and when to give up (tenacity does the looping)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.stop import stop_base

from observ.correlate.prometheus.config import RetryConfig
from observ.correlate.prometheus.errors import PrometheusUnavailable


def is_retryable(error: BaseException) -> bool:
    """Only failures another attempt may fix: connection errors, timeouts, 429/502/503/504. Never a refused
    query (400/422), an unreadable answer or an open circuit."""
    return isinstance(error, PrometheusUnavailable) and error.retryable


class _stop_at_deadline(stop_base):
    """Stop when the next wait would end past the call's deadline: better an early answer than a late one."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.deadline


def policy(
    config: RetryConfig, deadline: float, clock: Callable[[], float], attempts: int | None = None
) -> dict[str, Any]:
    """Keyword arguments for tenacity's Retrying / AsyncRetrying; the last error is re-raised as it is."""
    return {
        "stop": stop_after_attempt(attempts or config.attempts) | _stop_at_deadline(deadline, clock),
        "wait": wait_random_exponential(multiplier=config.backoff_initial_s, max=config.backoff_max_s),
        "retry": retry_if_exception(is_retryable),
        "reraise": True,
    }
