"""The log reads correlation needs, as LogQL through the query engine: the engine's limits, timeout, tenancy
and trace-ID segment pruning (`| trace_id="..."` is pushed down to the skip filters) apply unchanged.

Queries are built as syntax trees and printed by `format_expr`, so no value is ever spliced into query text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from observ.logql.results import Streams, Vector
from observ.logql.syntax import ast
from observ.logql.syntax.format import format_expr
from observ.store.pushdown import METADATA_COLUMNS

if TYPE_CHECKING:  # the engine as the API holds it; only its query calls are used
    from observ.api.loki.routes import QueryEngine

NS = 1_000_000_000
MS = 1_000_000
ERROR_LEVELS = ("error", "fatal")
_ANY_SERVICE = ast.Matcher("service", ast.MatchOp.RE, ".+")


@dataclass(frozen=True, slots=True)
class Line:
    ts: int
    line: str
    labels: dict[str, str]
    trace_id: str
    span_id: str

    @property
    def service(self) -> str:
        return self.labels.get("service", "")

    @property
    def level(self) -> str:
        return self.labels.get("level", "")


def _metadata(name: str, op: ast.MatchOp, value: str) -> ast.LabelFilter:
    return ast.LabelFilter(ast.StringLabelFilter(ast.Matcher(name, op, value)))


def _service(service: str) -> ast.Matcher:
    return ast.Matcher("service", ast.MatchOp.EQ, service)


class LogReader:
    def __init__(self, engine: QueryEngine) -> None:
        self.engine = engine

    def lines(
        self, expr: ast.LogExpr, tenant: str, start_ns: int, end_ns: int, limit: int, forward: bool = True
    ) -> list[Line]:
        """Lines of a log query in [start_ns, end_ns): oldest first when `forward`, else newest first."""
        result = self.engine.query_range(
            format_expr(expr), tenant=tenant, start_ns=start_ns, end_ns=end_ns, step_ns=NS, limit=limit,
            direction="forward" if forward else "backward",
        )  # fmt: skip
        assert isinstance(result.data, Streams)
        out = []
        for s in result.data.streams:
            labels = {k: v for k, v in s.labels.items() if k not in METADATA_COLUMNS}
            out += [Line(e.ts, e.line, labels, e.metadata.get("trace_id", ""), e.metadata.get("span_id", ""))
                    for e in s.entries]  # fmt: skip
        out.sort(key=lambda x: x.ts, reverse=not forward)
        return out[:limit]

    def with_trace(self, tenant: str, trace_id: str, start_ns: int, end_ns: int, limit: int) -> list[Line]:
        """Lines of any service carrying `trace_id`, oldest first."""
        expr = ast.LogExpr(ast.Selector((_ANY_SERVICE,)), (_metadata("trace_id", ast.MatchOp.EQ, trace_id),))
        return self.lines(expr, tenant, start_ns, end_ns, limit)

    def untraced(self, tenant: str, service: str, start_ns: int, end_ns: int, limit: int) -> list[Line]:
        """Lines of `service` that carry no trace ID, oldest first."""
        expr = ast.LogExpr(ast.Selector((_service(service),)), (_metadata("trace_id", ast.MatchOp.EQ, ""),))
        return self.lines(expr, tenant, start_ns, end_ns, limit)

    def errors(self, tenant: str, service: str, start_ns: int, end_ns: int, limit: int) -> list[Line]:
        """Error and fatal lines of `service`, newest first."""
        levels = ast.Matcher("level", ast.MatchOp.RE, "|".join(ERROR_LEVELS))
        expr = ast.LogExpr(ast.Selector((_service(service), levels)))
        return self.lines(expr, tenant, start_ns, end_ns, limit, forward=False)

    def levels(self, tenant: str, service: str, start_ns: int, end_ns: int) -> dict[str, int]:
        """Lines of `service` in [start_ns, end_ns) by level ("" for lines without one)."""
        # Whole milliseconds: LogQL's parser takes no finer range. A range ends at the evaluation time, included,
        # so evaluating at end - 1 covers [end - range, end).
        span = max(MS, (end_ns - start_ns) // MS * MS)
        count = ast.RangeAggregation(
            "count_over_time", ast.LogRange(ast.LogExpr(ast.Selector((_service(service),))), span)
        )
        expr = ast.VectorAggregation("sum", count, ast.Grouping(("level",)))
        result = self.engine.query_instant(format_expr(expr), tenant=tenant, time_ns=end_ns - 1)
        assert isinstance(result.data, Vector)
        return {s.labels.get("level", ""): int(s.value) for s in result.data.samples}

    def at(self, tenant: str, selector: ast.Selector, ts_ns: int, limit: int) -> list[Line]:
        """Lines of the streams `selector` picks written at exactly `ts_ns`."""
        return self.lines(ast.LogExpr(selector), tenant, ts_ns, ts_ns + 1, limit)
