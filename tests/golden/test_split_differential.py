"""The split count (`Scan.split`: `| json` and label filters evaluated inside DuckDB for the rows it can prove)
against the pipeline alone: same series, same values to the bit, same errors.

The pipeline path is the engine with `split_scan` refusing every query. On the golden corpus and on random
lines (invalid JSON, nested objects, numbers as strings, duplicate and colliding keys, escapes, unicode) under
random filter chains, both must answer alike, and the store must have counted rows itself where it could.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from observ.logql import ranges
from observ.logql.engine import Engine
from observ.logql.errors import LogQLError
from observ.logql.querier import BucketCount, QueryContext, Scan
from observ.logql.results import Matrix
from observ.model import DecodedBatch, Stream
from observ.store.logstore import LogStore
from observ.store.querier import LogQuerier
from tests.golden.corpus import MINUTE, SPAN, T0, TENANT

SPLIT_QUERIES = [
    'sum by (service) (count_over_time({namespace=~".+"} | json | status >= 500 | __error__="" [5m]))',
    'sum by (service) (count_over_time({namespace=~".+"} | json | status >= 500 [5m]))',
    'sum by (service) (rate({service="api"} | json | status >= 400 | method="GET" [10m]))',
    'sum(count_over_time({service="api"} | json | __error__="" [5m]))',
    'sum by (level) (count_over_time({service="api"} | json | level!="debug" [5m]))',
    'sum by (method) (count_over_time({service="api"} | json | duration_ms > 100 or status == 200 [10m]))',
    'sum by (cluster, user_id) (count_over_time({namespace="prod"} | json | user_id != "" [10m]))',
    'sum by (status) (count_over_time({service=~"api|web"} | json [5m]))',
    'sum by (service) (count_over_time({namespace=~".+"} | json | __error__!="" [5m]))',
    'sum by (msg) (rate({service="web"} | json | latency < 0.5 [5m]))',
]


class CountingQuerier(LogQuerier):
    """Counts the rows the store counted for split scans, to show the vectorized half did work."""

    split_rows = 0
    split_scans = 0

    def count_buckets(self, ctx: QueryContext, scan: Scan, **kw: Any) -> Iterator[BucketCount]:
        if scan.split is not None:
            self.split_scans += 1
        for b in super().count_buckets(ctx, scan, **kw):
            if scan.split is not None:
                self.split_rows += int(b.rows)
            yield b


def _answer(engine: Engine, query: str, tenant: str, start: int, end: int, step: int) -> object:
    try:
        result = engine.query_range(query, tenant=tenant, start_ns=start, end_ns=end, step_ns=step, limit=100)
    except LogQLError as e:
        return (type(e).__name__, str(e))
    assert isinstance(result.data, Matrix)
    return sorted((sorted(s.labels.items()), s.points) for s in result.data.series)


def _both(
    store: LogStore, monkeypatch: pytest.MonkeyPatch, query: str, tenant: str, start: int, end: int, step: int
) -> tuple[object, object, CountingQuerier]:
    querier = CountingQuerier(store)
    split = _answer(Engine(querier), query, tenant, start, end, step)
    with monkeypatch.context() as m:
        m.setattr(ranges, "split_scan", lambda scan, group_by: None)
        plain = _answer(Engine(LogQuerier(store)), query, tenant, start, end, step)
    return split, plain, querier


@pytest.mark.parametrize("query", SPLIT_QUERIES)
def test_split_equals_the_pipeline_on_the_golden_corpus(
    store: LogStore, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    split, plain, querier = _both(store, monkeypatch, query, TENANT, T0, T0 + SPAN, MINUTE)
    assert split == plain
    assert querier.split_scans == 1


def test_the_store_counts_golden_rows_itself(store: LogStore, monkeypatch: pytest.MonkeyPatch) -> None:
    query = SPLIT_QUERIES[0]
    split, plain, querier = _both(store, monkeypatch, query, TENANT, T0, T0 + SPAN, MINUTE)
    assert split == plain and isinstance(split, list) and split
    assert querier.split_rows > 0


# --- random lines and filters -------------------------------------------------------------------------

KEYS = ["status", "method", "service", "level", "msg", "a_b", "a", "b", "x", "cluster", "a b", "1a", "", " ",
        "status ", "é", "trace_id", 'st"atus', "status\\", "x\n"]  # fmt: skip
NUMBERS = ["0", "-0", "500", "404", "-1", "1.5", "1e3", "2.50", "1e309", "1e-400", "9007199254740993",
           "123456789012345678901234", "0.1", "-2.5E-3"]  # fmt: skip
STRINGS = ["500", "GET", "", " ", "1e3", "abc", "é", "\ufffd", "处理", "a\"b", "a\\\\b", "x\\ny", "\\u00e9",
           "\\ud800", "NaN", "Inf", "true", "0x10", " 5"]  # fmt: skip


def _scalar() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NUMBERS),
        st.sampled_from(STRINGS).map(lambda s: f'"{s}"'),
        st.sampled_from(
            ["true", "false", "null", "[]", "[1,2]", '[{"status":1}]', "NaN", "Infinity", "nan", "-inf", "-Infinity"]
        ),
    )


def _value(depth: int) -> st.SearchStrategy[str]:
    if depth <= 0:
        return _scalar()
    return st.one_of(_scalar(), _object(depth - 1))


def _object(depth: int) -> st.SearchStrategy[str]:
    member = st.tuples(st.sampled_from(KEYS), _value(depth)).map(lambda kv: f"{json.dumps(kv[0])}:{kv[1]}")
    return st.lists(member, max_size=5).map(lambda ms: "{" + ",".join(ms) + "}")


LINES = st.one_of(
    _object(2),
    _object(1).map(lambda s: s[:-1] + ",}" if len(s) > 2 else s),  # trailing comma
    _object(1).map(lambda s: s[: len(s) // 2]),  # cut short
    _object(1).map(lambda s: " " + s),
    st.sampled_from(["not json", "status=500 method=GET", "[1,2]", '"str"', "", "{}", "{ }", '{"a":1} trailing']),
    st.text(max_size=30),
)
FILTERS = st.one_of(
    st.tuples(st.sampled_from(KEYS[:10]), st.sampled_from([">=", ">", "<", "<=", "==", "!="]),
              st.sampled_from(["500", "0", "1.5", "-1", "1e3"])).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
    st.tuples(st.sampled_from([*KEYS[:10], "__error__"]), st.sampled_from(["=", "!="]),
              st.sampled_from(["500", "GET", "", "JSONParserErr", "true", "é", " "])).map(
        lambda t: f'{t[0]}{t[1]}"{t[2]}"'
    ),
)  # fmt: skip
STREAMS = [
    Stream("fuzz", "api", "prod", "api-0", "api", "stdout", (("status", "200"),)),
    Stream("fuzz", "web", "prod", "web-0", "web", "stdout", ()),
    Stream("fuzz", "", "", "", "", "stdout", (("cluster", "eu"),)),
]
_tenants = itertools.count()


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogStore]:
    s = LogStore(tmp_path_factory.mktemp("split") / "logs.duckdb")
    yield s
    s.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.tuples(st.sampled_from(range(len(STREAMS))), LINES), min_size=1, max_size=25),
    filters=st.lists(st.lists(FILTERS, min_size=1, max_size=2).map(" or ".join), max_size=3),
    group=st.sampled_from(["", "service", "status", "method, cluster", "level", "a_b", "msg", "trace_id"]),
    op=st.sampled_from(["count_over_time", "rate"]),
)
def test_split_equals_the_pipeline_on_random_lines(
    fuzz_store: LogStore,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[tuple[int, str]],
    filters: list[str],
    group: str,
    op: str,
) -> None:
    tenant = f"fuzz{next(_tenants)}"
    by_stream: dict[int, list[str]] = {}
    for i, line in lines:
        by_stream.setdefault(i, []).append(line)
    ts = T0
    batches = []
    for i, ls in by_stream.items():
        s = STREAMS[i]
        stream = Stream(tenant, s.service, s.namespace, s.pod, s.container, s.stream, s.labels)
        times = [ts + k * 7 * 10**9 for k in range(len(ls))]
        ts += 10**9
        traces = [f"t{k % 3}" if i == 0 and k % 3 else "" for k in range(len(ls))]  # metadata: a base label too
        batches.append(
            DecodedBatch(stream=stream, source=f"fuzz-{tenant}-{i}", observed_ts=T0, ts=times, level=[""] * len(ls),
                         trace_id=traces, span_id=[""] * len(ls), end=list(range(1, len(ls) + 1)), line=ls)
        )  # fmt: skip
    fuzz_store.append(batches)
    pipeline = "| json" + "".join(f" | {f}" for f in filters)
    query = f'sum by ({group}) ({op}({{stream="stdout"}} {pipeline} [1m]))'
    split, plain, querier = _both(fuzz_store, monkeypatch, query, tenant, T0, T0 + 5 * MINUTE, 30 * 10**9)
    assert split == plain, query
    assert querier.split_scans == 1
    event("the store counted rows" if querier.split_rows else "the pipeline counted every row")
