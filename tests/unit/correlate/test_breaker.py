"""Circuit breaker state transitions, driven by a fake clock."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from observ.correlate.breaker import BreakerConfig, BreakerState, CircuitBreaker, CircuitOpenError, Permit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**config: float) -> tuple[CircuitBreaker, Clock, list[tuple[str, str, str]]]:
    clock = Clock()
    changes: list[tuple[str, str, str]] = []
    breaker = CircuitBreaker(
        BreakerConfig(**config), clock=clock, on_change=lambda old, new, why: changes.append((old, new, why))
    )
    return breaker, clock, changes


def fail(breaker: CircuitBreaker, n: int, reason: str = "connection refused") -> None:
    for _ in range(n):
        breaker.failed(breaker.admit(), reason)


def succeed(breaker: CircuitBreaker, n: int) -> None:
    for _ in range(n):
        breaker.succeeded(breaker.admit())


def test_opens_after_n_consecutive_failures_and_refuses_until_the_cooldown_is_over() -> None:
    breaker, clock, changes = make(failure_threshold=3, cooldown_s=10)
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker, 1, "connection refused at last")
    assert breaker.state is BreakerState.OPEN
    assert changes == [("closed", "open", "connection refused at last")]
    clock.now += 9.5
    with pytest.raises(CircuitOpenError) as refused:
        breaker.admit()
    assert refused.value.retry_in_s == pytest.approx(0.5)
    assert str(refused.value) == "connection refused at last (circuit open, retry in 1 s)"


def test_a_success_resets_the_consecutive_count() -> None:
    breaker, _, _ = make(failure_threshold=3, failure_ratio=1.0)
    for _ in range(5):
        fail(breaker, 2)
        succeed(breaker, 1)
    assert breaker.state is BreakerState.CLOSED


def test_opens_on_the_failure_ratio_once_the_window_has_min_calls() -> None:
    breaker, _, _ = make(failure_threshold=100, failure_ratio=0.5, window=10, min_calls=6)
    # f s f s f: 3 of 5 failed, but 5 < min_calls.
    for i in range(5):
        if i % 2:
            succeed(breaker, 1)
        else:
            fail(breaker, 1)
    assert breaker.state is BreakerState.CLOSED
    succeed(breaker, 1)  # 3 of 6: the ratio reaches 0.5 on the next verdict
    assert breaker.state is BreakerState.CLOSED
    fail(breaker, 1)  # 4 of 7
    assert breaker.state is BreakerState.OPEN


def test_the_ratio_only_looks_at_the_window() -> None:
    breaker, _, _ = make(failure_threshold=100, failure_ratio=0.5, window=4, min_calls=4)
    fail(breaker, 1)
    succeed(breaker, 3)  # window: f s s s
    succeed(breaker, 1)  # window: s s s s — the old failure fell out
    fail(breaker, 1)  # s s s f: 1/4
    assert breaker.state is BreakerState.CLOSED
    fail(breaker, 1)  # s s f f: 2/4
    assert breaker.state is BreakerState.OPEN


def test_half_open_lets_exactly_one_probe_through_and_its_success_closes() -> None:
    breaker, clock, changes = make(failure_threshold=1, cooldown_s=10)
    fail(breaker, 1)
    clock.now += 10
    probe = breaker.admit()
    assert probe.probe
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError) as second:
        breaker.admit()
    assert second.value.probing
    assert "a probe is under way" in str(second.value)
    breaker.succeeded(probe)
    assert breaker.state is BreakerState.CLOSED
    assert [c[:2] for c in changes] == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert not breaker.admit().probe


def test_a_failed_probe_opens_again_for_a_full_cooldown() -> None:
    breaker, clock, _ = make(failure_threshold=1, cooldown_s=10)
    fail(breaker, 1)
    clock.now += 12
    breaker.failed(breaker.admit(), "still down")
    assert breaker.state is BreakerState.OPEN
    clock.now += 9
    with pytest.raises(CircuitOpenError, match=r"still down \(circuit open, retry in 1 s\)"):
        breaker.admit()
    clock.now += 1
    assert breaker.admit().probe


def test_a_probe_released_without_verdict_frees_the_slot_for_the_next_caller() -> None:
    breaker, clock, _ = make(failure_threshold=1, cooldown_s=10)
    fail(breaker, 1)
    clock.now += 10
    breaker.released(breaker.admit())
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.admit().probe


def test_late_verdicts_from_before_a_state_change_change_nothing() -> None:
    breaker, clock, _ = make(failure_threshold=2, cooldown_s=10)
    early: list[Permit] = [breaker.admit() for _ in range(3)]
    breaker.failed(early[0], "a")
    breaker.failed(early[1], "b")
    assert breaker.state is BreakerState.OPEN
    breaker.succeeded(early[2])  # admitted while closed: must not close the open circuit
    assert breaker.state is BreakerState.OPEN
    clock.now += 10
    probe = breaker.admit()
    breaker.succeeded(probe)
    stale = early[2]
    breaker.failed(stale, "late")
    breaker.failed(stale, "late")
    assert breaker.state is BreakerState.CLOSED
    assert breaker.last_failure == "b"


def test_closing_forgets_the_failures_before() -> None:
    breaker, clock, _ = make(failure_threshold=3, cooldown_s=10)
    fail(breaker, 3)
    clock.now += 10
    breaker.succeeded(breaker.admit())
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"failure_ratio": 0}, "failure_ratio"),
        ({"failure_ratio": 1.5}, "failure_ratio"),
        ({"cooldown_s": -1}, "cooldown_s"),
        ({"window": 5, "min_calls": 6}, "min_calls (6) cannot exceed window (5)"),
        ({"cooldown": 5}, "cooldown"),
    ],
)
def test_config_refuses_bad_values_naming_the_field(config: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BreakerConfig(**config)
