"""A circuit breaker: stop calling a dependency that keeps failing, and let one probe find out when it is back.

Written here rather than taken from PyPI: pybreaker holds one lock for the whole guarded call (calls through it
run one at a time) and its async path needs Tornado; purgatory and circuitbreaker let every call through once
the cool-down is over. None of the three opens on a failure ratio or takes a clock, which the tests need.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerConfig(BaseModel):
    """Opens after `failure_threshold` failures in a row, or when `failure_ratio` of the last `window` calls
    failed (once `min_calls` were seen); refuses calls for `cooldown_s`, then lets one probe through."""

    model_config = ConfigDict(extra="forbid")

    failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open the circuit.")
    failure_ratio: float = Field(0.5, gt=0, le=1, description="Share of failed calls in the window that opens it.")
    window: int = Field(20, ge=1, description="How many of the latest calls the ratio is taken over.")
    min_calls: int = Field(10, ge=1, description="Calls the window must hold before the ratio counts.")
    cooldown_s: float = Field(15.0, gt=0, description="How long an open circuit refuses calls before a probe.")

    @model_validator(mode="after")
    def _window_holds_min_calls(self) -> BreakerConfig:
        if self.min_calls > self.window:
            raise ValueError(f"min_calls ({self.min_calls}) cannot exceed window ({self.window})")
        return self


class CircuitOpenError(Exception):
    """Refused without calling: the circuit is open (or half-open with its one probe under way)."""

    def __init__(self, last_failure: str, retry_in_s: float, probing: bool) -> None:
        self.last_failure = last_failure
        self.retry_in_s = retry_in_s
        self.probing = probing
        when = "a probe is under way" if probing else f"retry in {math.ceil(retry_in_s)} s"
        super().__init__(f"{last_failure} (circuit open, {when})")


@dataclass(frozen=True, slots=True)
class Permit:
    """What `admit` hands out; results are reported with it so that late answers from before a state change
    (a call admitted while closed that fails after the circuit opened) change nothing."""

    generation: int
    probe: bool


class CircuitBreaker:
    """Thread-safe; the lock is held only to update counters, never during the guarded call, so it also
    serves asyncio callers. `on_change(old, new, why)` runs under that lock: it must not call the breaker.
    An open circuit past its cool-down still reads OPEN until the next `admit` turns it half-open."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState, str], None] | None = None,
    ) -> None:
        self.config = config or BreakerConfig()
        self.clock = clock
        self.on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._consecutive = 0
        self._recent: deque[bool] = deque(maxlen=self.config.window)
        self._opened_at = 0.0
        self._probing = False
        self._last_failure = ""

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def last_failure(self) -> str:
        return self._last_failure

    def admit(self) -> Permit:
        """A permit to call, or CircuitOpenError; an open circuit past its cool-down admits one probe."""
        with self._lock:
            if self._state is BreakerState.OPEN:
                wait = self._opened_at + self.config.cooldown_s - self.clock()
                if wait > 0:
                    raise CircuitOpenError(self._last_failure, wait, probing=False)
                self._move(BreakerState.HALF_OPEN, self._last_failure)
            if self._state is BreakerState.HALF_OPEN:
                if self._probing:
                    raise CircuitOpenError(self._last_failure, 0.0, probing=True)
                self._probing = True
                return Permit(self._generation, probe=True)
            return Permit(self._generation, probe=False)

    def succeeded(self, permit: Permit) -> None:
        with self._lock:
            if permit.generation != self._generation:
                return
            if permit.probe:
                self._move(BreakerState.CLOSED, "probe succeeded")
                return
            self._consecutive = 0
            self._recent.append(False)

    def failed(self, permit: Permit, reason: str) -> None:
        with self._lock:
            if permit.generation != self._generation:
                return
            self._last_failure = reason
            if permit.probe:
                self._open(reason)
                return
            self._consecutive += 1
            self._recent.append(True)
            if self._tripped():
                self._open(reason)

    def released(self, permit: Permit) -> None:
        """The call ended with no verdict (cancelled, or an error that says nothing about the dependency):
        a probe's slot goes to the next caller."""
        with self._lock:
            if permit.probe and permit.generation == self._generation:
                self._probing = False

    def _tripped(self) -> bool:
        c = self.config
        if self._consecutive >= c.failure_threshold:
            return True
        n = len(self._recent)
        return n >= c.min_calls and sum(self._recent) / n >= c.failure_ratio

    def _open(self, reason: str) -> None:
        self._opened_at = self.clock()
        self._move(BreakerState.OPEN, reason)

    def _move(self, new: BreakerState, why: str) -> None:
        old, self._state = self._state, new
        self._generation += 1
        self._probing = False
        if new is BreakerState.CLOSED:
            self._consecutive = 0
            self._recent.clear()
        if self.on_change is not None:
            self.on_change(old, new, why)
