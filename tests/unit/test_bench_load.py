"""bench/load.py: its pacing keeps the asked rate, a phase that falls behind reports a lower rate, and its push bodies
are what the Loki push API reads (every line once, in time order, trace IDs as structured metadata). No timing is
asserted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from observ.api.loki.push import decode_json
from tests.unit.bench_modules import load_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("load")


def test_a_schedule_spreads_its_batches_over_the_phase_at_the_rate(bench: ModuleType) -> None:
    s = bench.Schedule(rate=5000, seconds=60)
    assert s.batches == 300
    assert [s.due(k) for k in range(3)] == [0.0, 0.2, 0.4]
    assert s.due(s.batches) == pytest.approx(60)
    assert bench.Schedule(rate=2500, seconds=10, batch_lines=500).due(5) == pytest.approx(1.0)


def test_a_phase_that_ends_late_reports_the_rate_it_reached(bench: ModuleType) -> None:
    on_time = bench.PushResult(planned_s=60, lines=300_000, last_answer_s=59.9)
    assert on_time.rate == pytest.approx(5000)
    late = bench.PushResult(planned_s=60, lines=300_000, last_answer_s=120)
    assert late.rate == pytest.approx(2500)


def test_percentiles_of_nothing_are_not_numbers(bench: ModuleType) -> None:
    assert bench.percentiles([0.1, 0.2, 0.3, 0.4], 50, 100) == pytest.approx([0.25, 0.4])
    assert all(v != v for v in bench.percentiles([], 50, 99))


def test_push_bodies_carry_every_line_once_in_time_order_with_trace_ids(bench: ModuleType) -> None:
    batches = bench.workload(40_000)
    assert len(batches) == 40
    streams = [s for b in batches[:5] for s in decode_json(b.body(1_800_000_000_000_000_000))]
    entries = [e for s in streams for e in s.entries]
    assert len(entries) == 5000
    first = decode_json(batches[0].body(7))
    assert sorted(e.ts for s in first for e in s.entries) == list(range(7, 7 + 1000)), "stamped when sent, distinct"
    services = Counter(dict(s.labels)["service"] for s in streams)
    assert len(services) >= 8, f"services interleaved as they log, not one after the other: {services}"
    traced = [e for e in entries if e.metadata]
    assert 0.2 < len(traced) / len(entries) < 0.4
    assert all(dict(e.metadata)["trace_id"] in e.line for e in traced), "the line names its trace, as in the store"
