"""What one query may cost: absurd ranges and steps are refused with Loki's messages, none crashes the engine."""

from __future__ import annotations

import pytest

from observ.logql.engine import Engine
from observ.logql.errors import LimitError
from observ.logql.limits import QueryLimits
from observ.logql.log.pipeline import Pipeline
from observ.logql.results import Matrix, Vector
from observ.model import Stream
from observ.store.logstore import LogStore
from observ.store.querier import LogQuerier
from tests.unit.logql.batches import plain_batch

S = 10**9
H = 3600 * S
T0 = 1_700_000_000 * S
TENANT = "default"
PODS = ["a-1", "a-2", "a-3"]


def _line(i: int) -> str:
    return f'{{"status": {200 + i % 3}, "msg": "line {i} é"}}'


@pytest.fixture(scope="module")
def store() -> LogStore:
    s = LogStore(":memory:")
    batches = []
    for n, pod in enumerate(PODS):
        ts = [T0 + i * 3 * S + n for i in range(1200)]
        batches.append(plain_batch(Stream(service="api", pod=pod), f"src-{n}", ts, [_line(i) for i in range(len(ts))]))
    s.append(batches)
    return s


@pytest.fixture
def engine(store: LogStore) -> Engine:
    return Engine(LogQuerier(store))


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


def _in_window(lo: int, hi: int) -> tuple[int, int]:
    """Lines and bytes of the fixture's rows with lo < ts <= hi."""
    rows = [_line(i) for n in range(len(PODS)) for i in range(1200) if lo < T0 + i * 3 * S + n <= hi]
    return len(rows), sum(len(r.encode()) for r in rows)


@pytest.mark.parametrize(
    "query",
    [
        'count_over_time({service="api"}[1h])',  # counted in DuckDB
        'sum by (pod) (rate({service="api"}[1h]))',  # counted in DuckDB into the groups
        'count_over_time({service="api"} | json status [1h])',  # through the Python pipeline
    ],
)
def test_metric_queries_report_the_lines_and_bytes_they_processed(engine: Engine, query: str) -> None:
    result = engine.query_instant(query, tenant=TENANT, time_ns=T0 + H)
    lines, nbytes = _in_window(T0, T0 + H)
    assert (result.stats.rows_scanned, result.stats.bytes_scanned) == (lines, nbytes)


@pytest.mark.parametrize("query", ['{service="api"}', '{service="api"} | json | status="201"'])
def test_log_queries_report_the_lines_and_bytes_they_processed(engine: Engine, query: str) -> None:
    result = engine.query_range(query, tenant=TENANT, start_ns=T0, end_ns=T0 + 10 * S, step_ns=S, limit=5000)
    lines, nbytes = _in_window(T0 - 1, T0 + 10 * S - 1)
    assert (result.stats.rows_scanned, result.stats.bytes_scanned) == (lines, nbytes)


SERIES_LIMIT = (
    "maximum number of series (2) reached for a single query; consider reducing query cardinality by adding more "
    "specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() "
    "or topk()"
)


@pytest.mark.parametrize(
    "query",
    [
        'count_over_time({service="api"}[1h])',
        'sum by (pod) (count_over_time({service="api"}[1h]))',
        'count_over_time({service="api"} | json [1h])',
        'max_over_time({service="api"} | json | unwrap status [1h])',
    ],
)
def test_max_series_is_loki_s_message(store: LogStore, query: str) -> None:
    engine = Engine(LogQuerier(store), QueryLimits(max_series=2))
    with pytest.raises(LimitError) as info:
        engine.query_range(query, tenant=TENANT, start_ns=T0, end_ns=T0 + H, step_ns=60 * S)
    assert str(info.value) == SERIES_LIMIT


def test_max_series_stops_the_pipeline_as_soon_as_it_is_passed(
    store: LogStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows come in time order, the three pods interleaved: the third series shows up at the third line."""
    calls = 0
    process = Pipeline.process

    def counting(self: Pipeline, ts: int, line: str, labels: dict[str, str]) -> object:
        nonlocal calls
        calls += 1
        return process(self, ts, line, labels)

    monkeypatch.setattr(Pipeline, "process", counting)
    engine = Engine(LogQuerier(store), QueryLimits(max_series=2))
    with pytest.raises(LimitError):
        engine.query_instant('count_over_time({service="api"} | json [1h])', tenant=TENANT, time_ns=T0 + H)
    assert calls < 10


def test_max_series_counts_the_result_not_the_streams_under_an_aggregation(store: LogStore) -> None:
    engine = Engine(LogQuerier(store), QueryLimits(max_series=2))
    result = engine.query_instant('sum(count_over_time({service="api"} | json [1h]))', tenant=TENANT, time_ns=T0 + H)
    assert isinstance(result.data, Vector) and len(result.data.samples) == 1


def test_a_log_query_stops_at_max_response_bytes(store: LogStore) -> None:
    """Each line made 100 KB by a template: a limit of 5000 lines would hold 500 MB."""
    engine = Engine(LogQuerier(store), QueryLimits(max_response_bytes=2**20))
    query = '{service="api"} | line_format "{{ repeat 100000 \\"a\\" }}"'
    with pytest.raises(LimitError, match=r"^response larger than the max message size \(1100000 vs 1048576\)$"):
        engine.query_range(query, tenant=TENANT, start_ns=T0, end_ns=T0 + H, step_ns=S, limit=5000)


def test_series_labels_made_by_templates_are_bounded_under_an_aggregation(store: LogStore) -> None:
    """Every line its own 100 KB label: the inner series of a `count` may not hold the whole log in labels."""
    engine = Engine(LogQuerier(store), QueryLimits(max_response_bytes=2**20))
    query = 'count(count_over_time({service="api"} | label_format x="{{ repeat 100000 \\"a\\" }}{{__line__}}" [1h]))'
    with pytest.raises(LimitError, match="series carry more than 1048576 bytes of labels"):
        engine.query_instant(query, tenant=TENANT, time_ns=T0 + H)
