"""Random sequences of admits, verdicts, releases and clock moves against the breaker's promises."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from observ.correlate.breaker import BreakerConfig, BreakerState, CircuitBreaker, CircuitOpenError, Permit

CONFIG = BreakerConfig(failure_threshold=3, failure_ratio=0.5, window=6, min_calls=4, cooldown_s=10)


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.changes = 0
        self.breaker = CircuitBreaker(CONFIG, clock=lambda: self.now, on_change=self._changed)
        self.outstanding: list[tuple[Permit, int]] = []
        """Permits handed out and not settled, with the number of state changes seen when each was admitted."""
        self.opened_at: float | None = None
        self.consecutive = 0

    @rule()
    def admit(self) -> None:
        before = self.breaker.state
        try:
            permit = self.breaker.admit()
        except CircuitOpenError as e:
            if before is BreakerState.OPEN:
                assert self.opened_at is not None and self.now < self.opened_at + CONFIG.cooldown_s
                assert 0 < e.retry_in_s <= CONFIG.cooldown_s
            else:
                assert before is BreakerState.HALF_OPEN and e.probing
                assert sum(p.probe for p in self.live()) == 1, "refused only while the one probe is out"
            return
        assert before is not BreakerState.OPEN or self.now >= self.opened_at + CONFIG.cooldown_s  # type: ignore[operator]
        assert permit.probe == (self.breaker.state is BreakerState.HALF_OPEN)
        self.outstanding.append((permit, self.changes))

    @precondition(lambda self: self.outstanding)
    @rule(data=st.data(), verdict=st.sampled_from(["ok", "fail", "release"]))
    def settle(self, data: st.DataObject, verdict: str) -> None:
        permit, changes = self.outstanding.pop(data.draw(st.integers(0, len(self.outstanding) - 1)))
        live = changes == self.changes
        before = self.breaker.state
        if verdict == "ok":
            self.breaker.succeeded(permit)
        elif verdict == "fail":
            self.breaker.failed(permit, "down")
        else:
            self.breaker.released(permit)
        after = self.breaker.state
        if not live:
            assert after is before, "a verdict from before the last state change moves nothing"
            return
        if permit.probe:
            expected = {"ok": BreakerState.CLOSED, "fail": BreakerState.OPEN, "release": BreakerState.HALF_OPEN}
            assert after is expected[verdict]
        if verdict == "fail" and before is BreakerState.CLOSED:
            self.consecutive += 1
            if self.consecutive >= CONFIG.failure_threshold:
                assert after is BreakerState.OPEN
        elif verdict == "ok" and before is BreakerState.CLOSED:
            self.consecutive = 0
            assert after is BreakerState.CLOSED, "a success never opens"
        if after is not before:
            self.consecutive = 0
            if after is BreakerState.OPEN:
                self.opened_at = self.now

    @rule(seconds=st.sampled_from([0.5, 3.0, 10.0]))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    def _changed(self, old: BreakerState, new: BreakerState, why: str) -> None:
        self.changes += 1

    def live(self) -> list[Permit]:
        """Permits admitted since the last state change: only their verdicts count."""
        return [p for p, changes in self.outstanding if changes == self.changes]

    @invariant()
    def at_most_one_probe(self) -> None:
        probes = [p for p in self.live() if p.probe]
        assert len(probes) <= 1
        if probes:
            assert self.breaker.state is BreakerState.HALF_OPEN


TestBreakerMachine = BreakerMachine.TestCase
TestBreakerMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
