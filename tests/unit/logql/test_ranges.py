"""The SQL bucketing of counting range aggregations agrees with the straightforward per-window Python count."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observ.logql.querier import Deadline, QueryContext, plan_scan
from observ.logql.ranges import _python, _sql_counts
from observ.logql.syntax import ast
from observ.model import Stream
from observ.store.logstore import LogStore
from observ.store.querier import LogQuerier
from tests.unit.logql.batches import plain_batch

S = 10**9
T0 = 1_700_000_000 * S


@pytest.fixture(scope="module")
def store() -> LogStore:
    rnd = random.Random(7)
    st_ = LogStore(":memory:")
    batches = []
    for n, (service, pod) in enumerate([("api", "a-1"), ("api", "a-2"), ("db", "d-1")]):
        ts = sorted(T0 + rnd.randrange(0, 3600 * S) for _ in range(400))
        ts[:3] = [T0, T0 + 60 * S, T0 + 120 * S]  # rows exactly on window edges
        ts.sort()
        lines = [f"{service} line {i} " + "x" * rnd.randrange(0, 40) for i in range(len(ts))]
        stream = Stream(service=service, pod=pod, labels=(("team", "t1" if n else "t2"),))
        batches.append(plain_batch(stream, f"src-{n}", ts, lines))
    st_.append(batches)
    return st_


def _agg(op: str, range_s: int, offset_s: int) -> ast.RangeAggregation:
    log = ast.LogExpr(ast.Selector((ast.Matcher("service", ast.MatchOp.RE, ".+"),)))
    return ast.RangeAggregation(op, ast.LogRange(log, range_s * S, offset_s * S))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    op=st.sampled_from(["count_over_time", "rate", "bytes_over_time", "bytes_rate"]),
    start_s=st.integers(-600, 3600),
    step_s=st.sampled_from([1, 7, 15, 60, 90, 300]),
    nsteps=st.integers(1, 40),
    range_s=st.sampled_from([1, 10, 60, 120, 300, 3600]),
    offset_s=st.sampled_from([0, 60, 301]),
    collapse=st.sampled_from([None, (), ("service",), ("team", "pod")]),
)
def test_sql_bucketing_equals_python_windows(
    store: LogStore,
    op: str,
    start_s: int,
    step_s: int,
    nsteps: int,
    range_s: int,
    offset_s: int,
    collapse: tuple[str, ...] | None,
) -> None:
    agg = _agg(op, range_s, offset_s)
    steps = [T0 + (start_s + i * step_s) * S for i in range(nsteps)]
    first = steps[0] - agg.range.offset_ns - agg.range.range_ns + 1
    last = steps[-1] - agg.range.offset_ns + 1
    scan = plan_scan(agg.range.log, "default", first, last)
    querier, ctx = LogQuerier(store), QueryContext(Deadline(30))
    sql = _sql_counts(querier, ctx, scan, agg, steps, collapse)
    py = _python(querier, ctx, scan, agg, steps, collapse, 10**9)
    assert sql.keys() == py.keys()
    for key, points in py.items():
        assert sql[key].keys() == points.keys(), key
        for i, v in points.items():
            assert sql[key][i] == pytest.approx(v, rel=1e-12), (key, i)
