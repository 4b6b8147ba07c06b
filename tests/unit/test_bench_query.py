"""bench/query.py: each class's hand-written SQL baseline counts what its LogQL query counts (so a ratio between them
compares the same work), the small store holds every service, and targets are judged the right way round. No
timing is asserted."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from observ.store.logstore import LogStore
from tests.unit.bench_modules import load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("query")


@pytest.fixture(scope="module")
def store(bench: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogStore]:
    s = bench.small_store(4000, tmp_path_factory.mktemp("small") / "store")
    yield s
    s.close()


@pytest.fixture(scope="module")
def runner(bench: ModuleType, store: LogStore) -> object:
    return bench.Runner.over(store)


def test_the_small_store_is_a_few_thousand_lines_of_every_service(store: LogStore) -> None:
    n, services = store.cursor().execute("SELECT count(*), count(DISTINCT service) FROM logs").fetchone()
    assert 3500 <= n <= 4500 and services == 16
    assert store.segments, "queried as a compacted store is: through segment files"


def logql_total(runner: object, query: str) -> float:
    return sum(v for s in runner.query_range(query).data.series for _, v in s.points)  # type: ignore[attr-defined]


@pytest.mark.parametrize("title", ["count by service", "| json | status >= 500", "| logfmt", "| pattern"])
def test_sql_baselines_count_what_the_logql_query_counts(bench: ModuleType, runner: object, title: str) -> None:
    m = runner.start_ns  # type: ignore[attr-defined]
    targets = bench.pick_targets(runner.store)  # type: ignore[attr-defined]
    [case] = [c for c in bench.cases(targets, m) if c.title.startswith(title)]
    rows, _ = runner.sql_rows(case.sql)  # type: ignore[attr-defined]
    sql_total = sum(r[-1] for r in rows)
    total = logql_total(runner, case.logql[0])
    if "rate(" in case.logql[0]:
        total *= 60  # per-second rate over 1m windows
    assert sql_total > 0
    assert total == pytest.approx(sql_total)
    if case.unparsed:
        assert logql_total(runner, case.unparsed) >= sql_total, "the unparsed query counts at least the selection"


def test_log_query_baselines_answer_the_lines_logql_answers(bench: ModuleType, runner: object) -> None:
    targets = bench.pick_targets(runner.store)  # type: ignore[attr-defined]
    for case in bench.cases(targets, runner.start_ns)[:4]:  # type: ignore[attr-defined]
        rows, _ = runner.sql_rows(case.sql)  # type: ignore[attr-defined]
        for q in case.logql:
            found = sum(len(s.entries) for s in runner.query_range(q).data.streams)  # type: ignore[attr-defined]
            assert found == len(rows) > 0, (q, case.sql)


def test_targets_are_met_only_on_the_right_side(bench: ModuleType) -> None:
    parser = bench.Case("p", ("q",), bench.Sql("*"), unparsed="u")
    assert bench.targets_of(parser, bench.Row("q", 1.0, vs_sql=1.9, vs_unparsed=2.9)).count("met") == 2
    assert "missed" in bench.targets_of(parser, bench.Row("q", 1.0, vs_sql=2.1, vs_unparsed=1.0))
    grep = bench.Case("g", ("q",), bench.Sql("*"), ("-c", "x"), rg_target=True)
    assert "met" in bench.targets_of(grep, bench.Row("q", 1.0, vs_sql=9.0, vs_rg=1.2))
    assert "missed" in bench.targets_of(grep, bench.Row("q", 1.0, vs_sql=1.0, vs_rg=0.8))
    assert bench.targets_of(bench.Case("n", ("q",), bench.Sql("*")), bench.Row("q", 1.0, vs_sql=9.0)) == ""
