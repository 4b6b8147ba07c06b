"""The language side of the storage seam: which stages `plan_scan` hands the store, and an engine that answers
from a plain in-memory `Querier` (no DuckDB, no store)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from observ.logql.engine import Engine
from observ.logql.querier import BucketCount, IndexStats, LogRow, QueryContext, Scan, plan_scan, split_scan
from observ.logql.results import Matrix, Streams
from observ.logql.syntax import ast
from observ.logql.syntax.parser import parse

S = 10**9


def _log(query: str) -> ast.LogExpr:
    expr = parse(query)
    log = expr.range.log if isinstance(expr, ast.RangeAggregation) else expr
    assert isinstance(log, ast.LogExpr)
    return log


@pytest.mark.parametrize(
    ("query", "pushed", "rest"),
    [
        # line filters and label matchers before any parser: all the store's
        ('{a="b"} |= "x" != "y" |~ "z" | trace_id="t"', [0, 1, 2, 3], []),
        # after a parser, a label filter may test a parsed label: it stays; line filters still see the raw line
        ('{a="b"} | json | level="error" |= "x"', [2], [0, 1]),
        # after line_format, the line is not the stored one
        ('{a="b"} | line_format "{{.msg}}" |= "x"', [], [0, 1]),
        # `|>` is a necessary condition for the store and the exact test for the pipeline
        ('{a="b"} |> "<_> GET <_>"', [0], [0]),
        ('{a="b"} !> "<_> GET <_>"', [], [0]),
        # ip() scans the line for addresses: the pipeline's
        ('{a="b"} |= ip("10.0.0.0/8")', [], [0]),
        # Grafana's `| __error__=""` before anything can err is dropped, after a parser it is kept
        ('{a="b"} | __error__="" | logfmt | __error__=""', [], [1, 2]),
        # a typed label filter can set __error__: the error filter after it stays
        ('{a="b"} | n > 1 | __error__=""', [], [0, 1]),
    ],
)
def test_plan_scan_pushes_what_only_sees_stored_labels_and_the_raw_line(
    query: str, pushed: list[int], rest: list[int]
) -> None:
    log = _log(query)
    scan = plan_scan(log, "t", 1, 2)
    stages = log.pipeline
    want = [s.expr.matcher if isinstance(s, ast.LabelFilter) else s for s in (stages[i] for i in pushed)]
    assert list(scan.filters) == want
    assert list(scan.rest) == [stages[i] for i in rest]
    assert (scan.tenant, scan.start_ns, scan.end_ns, scan.selector) == ("t", 1, 2, log.selector.matchers)


@pytest.mark.parametrize(
    ("query", "group_by", "split"),
    [
        ('{a="b"} | json | status >= 500 | method="GET"', ("service",), [1, 2]),
        ('{a="b"} |= "x" | json | status >= 500 or level!="info" | __error__=""', (), [2, 3]),
        ('{a="b"} | json', ("level", "cluster"), []),
        # regex matchers (RE2 vs DuckDB), durations and bytes (their own conversions) stay in the pipeline
        ('{a="b"} | json | level=~"e.*"', (), None),
        ('{a="b"} | json | latency > 10ms', (), None),
        # names the parser's `_extracted` rule or errors decide, and any other stage or parser
        ('{a="b"} | json | service_extracted="x"', (), None),
        ('{a="b"} | json', ("__error__",), None),
        ('{a="b"} | json | __error__=~"JSON.*"', (), None),
        ('{a="b"} | json status="x.y"', (), None),
        ('{a="b"} | logfmt | status >= 500', (), None),
        ('{a="b"} | json | status >= 500 | line_format "{{.msg}}"', (), None),
        ('{a="b"} | json | json', (), None),
        ('{a="b"} |= "x"', (), None),
    ],
)
def test_split_scan_takes_json_then_plain_label_filters(
    query: str, group_by: tuple[str, ...], split: list[int] | None
) -> None:
    log = _log(query)
    scan = plan_scan(log, "t", 1, 2)
    marked = split_scan(scan, group_by)
    if split is None:
        assert marked is None
        return
    assert marked is not None and marked.rest == scan.rest
    stages = log.pipeline
    assert list(marked.split or ()) == [s.expr for s in (stages[i] for i in split) if isinstance(s, ast.LabelFilter)]


class ListQuerier:
    """Rows in a list; understands the equality selectors and `|=` filters these tests push, refuses the rest."""

    def __init__(self, rows: list[LogRow]) -> None:
        self.rows = sorted(rows)
        self.scans: list[Scan] = []

    def _match(self, scan: Scan) -> list[LogRow]:
        self.scans.append(scan)
        out = []
        for row in self.rows:
            ts, line, stream, _ = row
            if not scan.start_ns <= ts < scan.end_ns:
                continue
            if all(self._test(f, line, stream) for f in (*scan.selector, *scan.filters)):
                out.append(row)
        return out

    @staticmethod
    def _test(f: ast.Matcher | ast.LineFilter, line: str, stream: dict[str, str]) -> bool:
        if isinstance(f, ast.Matcher) and f.op is ast.MatchOp.EQ:
            return stream.get(f.name, "") == f.value
        if isinstance(f, ast.LineFilter) and f.op is ast.LineFilterOp.CONTAINS:
            return any(isinstance(v, str) and v in line for v in f.values)
        raise NotImplementedError(f)

    def select_logs(
        self, ctx: QueryContext, scan: Scan, *, backward: bool, limit: int | None
    ) -> Iterator[list[LogRow]]:
        rows = self._match(scan)
        rows = rows[::-1] if backward else rows
        yield rows[:limit] if limit is not None else rows

    def select_samples(self, ctx: QueryContext, scan: Scan) -> Iterator[list[LogRow]]:
        yield self._match(scan)

    def count_buckets(
        self, ctx: QueryContext, scan: Scan, *, base_ns: int, step_ns: int, range_ns: int, steps: int,
        group_by: tuple[str, ...] | None,
    ) -> Iterator[BucketCount]:  # fmt: skip
        if scan.split is None:
            raise NotImplementedError
        return iter(())  # a split count this store proves no row of: select_samples hands them all to the pipeline

    def label_values(self, ctx: QueryContext, scan: Scan, name: str) -> set[str]:
        return {v for _, _, stream, _ in self._match(scan) if (v := stream.get(name))}

    def streams(self, ctx: QueryContext, scan: Scan) -> list[dict[str, str]]:
        return list({tuple(sorted(s.items())): s for _, _, s, _ in self._match(scan)}.values())

    def index_stats(self, ctx: QueryContext, scan: Scan) -> IndexStats:
        rows = self._match(scan)
        return IndexStats(len(self.streams(ctx, scan)), 1, len(rows), sum(len(r[1]) for r in rows))


API, DB = {"app": "api"}, {"app": "db"}
ROWS: list[LogRow] = [
    (1 * S, '{"level":"error","msg":"boom"}', API, {}),
    (2 * S, '{"level":"info","msg":"ok"}', API, {"trace_id": "t1"}),
    (3 * S, '{"level":"error","msg":"again"}', API, {}),
    (4 * S, '{"level":"error","msg":"db"}', DB, {}),
]


def test_the_engine_needs_only_a_querier() -> None:
    querier = ListQuerier(ROWS)
    engine = Engine(querier)
    result = engine.query_range(
        '{app="api"} |= "level" | json | level="error"', tenant="t", start_ns=0, end_ns=10 * S, step_ns=S, limit=1
    )
    assert isinstance(result.data, Streams)
    [stream] = result.data.streams
    assert [(e.ts, e.line) for e in stream.entries] == [(3 * S, '{"level":"error","msg":"again"}')]
    assert stream.labels == {"app": "api", "level": "error", "msg": "again"}
    assert querier.scans[-1].rest and querier.scans[-1].filters  # the json stage stayed, `|=` went to the store

    metric = engine.query_range(
        'sum by (level) (count_over_time({app="api"} | json [10s]))', tenant="t", start_ns=10 * S, end_ns=10 * S,
        step_ns=S,
    )  # fmt: skip
    assert isinstance(metric.data, Matrix)
    assert {s.labels["level"]: s.points for s in metric.data.series} == {
        "error": [(10 * S, 2.0)],
        "info": [(10 * S, 1.0)],
    }

    assert engine.label_values("app", tenant="t", start_ns=0, end_ns=10 * S) == ["api", "db"]
    assert engine.index_stats('{app="db"}', tenant="t", start_ns=0, end_ns=10 * S) == {
        "streams": 1, "chunks": 1, "entries": 1, "bytes": len(ROWS[3][1])
    }  # fmt: skip
