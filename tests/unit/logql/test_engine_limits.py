"""What one query may cost: absurd ranges and steps are refused with Loki's messages, none crashes the engine."""

from __future__ import annotations

import pytest

from observ.logql.engine import Engine
from observ.logql.errors import LimitError
from observ.logql.results import Matrix, Vector
from observ.model import DecodedBatch, Stream
from observ.store.logstore import LogStore

S = 10**9
H = 3600 * S
T0 = 1_700_000_000 * S
TENANT = "default"


@pytest.fixture(scope="module")
def store() -> LogStore:
    s = LogStore(":memory:")
    batches = []
    for n, pod in enumerate(["a-1", "a-2", "a-3"]):
        ts = [T0 + i * 3 * S + n for i in range(1200)]
        batches.append(
            DecodedBatch(
                stream=Stream(service="api", pod=pod),
                source=f"src-{n}",
                observed_ts=0,
                ts=ts,
                level=["info"] * len(ts),
                trace_id=[""] * len(ts),
                span_id=[""] * len(ts),
                end=list(range(1, len(ts) + 1)),
                line=[f'{{"status": {200 + i % 3}, "msg": "line {i}"}}' for i in range(len(ts))],
            )
        )
    s.append(batches)
    return s


@pytest.fixture
def engine(store: LogStore) -> Engine:
    return Engine(store)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('rate({service="api"}[100000d])', "[interval] value exceeds limit: [100000d] > [30d1h]"),
        ('count_over_time({service="api"}[1y])', "[interval] value exceeds limit: [1y] > [30d1h]"),
        ('sum(rate({service="api"} | json [1y])) / 2', "[interval] value exceeds limit: [1y] > [30d1h]"),
    ],
)
def test_a_range_past_max_query_range_is_refused_before_it_runs(engine: Engine, query: str, message: str) -> None:
    with pytest.raises(LimitError) as info:
        engine.query_range(query, tenant=TENANT, start_ns=T0, end_ns=T0 + H, step_ns=60 * S)
    assert str(info.value) == message
    with pytest.raises(LimitError):
        engine.query_instant(query, tenant=TENANT, time_ns=T0 + H)


@pytest.mark.parametrize("query", ['rate({service="api"}[0s])', 'sum by (pod) (count_over_time({service="api"}[0s]))'])
def test_an_empty_range_has_no_samples(engine: Engine, query: str) -> None:
    """Every window (t, t] is empty: no sample, as in Loki (not a division by zero)."""
    instant = engine.query_instant(query, tenant=TENANT, time_ns=T0 + H)
    assert isinstance(instant.data, Vector) and instant.data.samples == []
    ranged = engine.query_range(query, tenant=TENANT, start_ns=T0, end_ns=T0 + H, step_ns=60 * S)
    assert isinstance(ranged.data, Matrix) and ranged.data.series == []


def test_absent_over_an_empty_range_is_one_everywhere(engine: Engine) -> None:
    result = engine.query_instant('absent_over_time({service="api"}[0s])', tenant=TENANT, time_ns=T0 + H)
    assert isinstance(result.data, Vector)
    assert [(s.labels, s.value) for s in result.data.samples] == [({"service": "api"}, 1.0)]


def test_a_long_range_at_a_fine_step_counts_without_expanding_every_window(engine: Engine) -> None:
    """[720h] at a 1 s step: each row's sub-bucket belongs to 2.6 M windows, of which only the asked steps exist."""
    result = engine.query_range(
        'sum(count_over_time({service="api"}[720h]))', tenant=TENANT, start_ns=T0, end_ns=T0 + H, step_ns=S
    )
    assert isinstance(result.data, Matrix)
    (series,) = result.data.series
    assert len(series.points) == 3601
    assert series.points[-1] == (T0 + H, 3600.0)
    assert series.points[0] == (T0, 1.0)
