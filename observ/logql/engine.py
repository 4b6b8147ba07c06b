"""The LogQL engine: parses, enforces limits, and answers Loki's query and metadata calls through a `Querier`."""

from __future__ import annotations

import re
import time

from observ.gocompat.durations import format_duration
from observ.logql.errors import LimitError, LogQLError, series_limit_error
from observ.logql.limits import MAX_POINTS, TOO_MANY_POINTS, QueryLimits
from observ.logql.logs import select_logs
from observ.logql.querier import Deadline, Querier, QueryContext, plan_scan
from observ.logql.ranges import ADDITIVE_OPS, eval_range, preserves_errors
from observ.logql.results import Matrix, QueryResult, Sample, Scalar, Series, Streams, Vector
from observ.logql.series import Scalars, SeriesSet, Value
from observ.logql.syntax import ast
from observ.logql.syntax.parser import parse_cached, parse_selector
from observ.logql.vectors import aggregate, binary, label_replace

__all__ = ["Engine"]

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""Loki refuses range queries with more points per series than this."""


class Engine:
    """Sees the storage only through `querier` (Loki's Engine over its Querier)."""

    def __init__(self, querier: Querier, limits: QueryLimits | None = None) -> None:
        self.querier = querier
        self.limits = limits or QueryLimits()

    def query_range(
        self,
        query: str,
        *,
        tenant: str,
        start_ns: int,
        end_ns: int,
        step_ns: int,
        limit: int = 100,
        direction: str = "backward",
    ) -> QueryResult:
        expr = parse_cached(query)
        self.limits.check_range(start_ns, end_ns)
        ctx = self._context()
        self._check_intervals(expr)
        if isinstance(expr, ast.LogExpr):
            self._check_limit(limit)
            backward = direction.lower() != "forward"
            data = select_logs(
                self.querier, ctx, expr, tenant, start_ns, end_ns, limit, backward, self.limits.max_response_bytes
            )
            return self._done(data, ctx)
        if step_ns <= 0:
            raise LogQLError("zero or negative query resolution step widths are not accepted. Try a positive integer")
        if (end_ns - start_ns) // step_ns > MAX_POINTS:
            raise LogQLError(TOO_MANY_POINTS)
        steps = list(range(start_ns, end_ns + 1, step_ns))
        value = self._eval(expr, ctx, tenant, steps, self.limits.max_series)
        return self._done(self._matrix(value, steps), ctx)

    def query_instant(
        self, query: str, *, tenant: str, time_ns: int, limit: int = 100, direction: str = "backward"
    ) -> QueryResult:
        expr = parse_cached(query)
        if isinstance(expr, ast.LogExpr):
            raise LogQLError(
                "log queries are not supported as an instant query type, please change your query to a range query type"
            )
        self._check_intervals(expr)
        ctx = self._context()
        value = self._eval(expr, ctx, tenant, [time_ns], self.limits.max_series)
        if isinstance(value, Scalars):
            return self._done(Scalar(time_ns, value.values[0]), ctx)
        self._check_series(value)
        samples = [Sample(dict(k), time_ns, p[0]) for k, p in sorted(value.items()) if 0 in p]
        order = _sort_order(expr)
        if order is not None:
            samples.sort(key=lambda s: s.value, reverse=order == "sort_desc")
        return self._done(Vector(samples), ctx)

    # --- metadata ------------------------------------------------------------------------------

    def labels(self, *, tenant: str, start_ns: int, end_ns: int, query: str | None = None) -> list[str]:
        names: set[str] = set()
        for labels in self._streams(tenant, start_ns, end_ns, query):
            names.update(labels)
        return sorted(names)

    def label_values(
        self, name: str, *, tenant: str, start_ns: int, end_ns: int, query: str | None = None
    ) -> list[str]:
        """Stream labels only: structured metadata (`trace_id`, `span_id`) is not a label, as `/labels` says."""
        self.limits.check_range(start_ns, end_ns)
        selector = parse_selector(query) if query else ast.Selector(())
        scan = plan_scan(ast.LogExpr(selector), tenant, start_ns, end_ns)
        if not _LABEL_NAME.fullmatch(name):
            return []
        return sorted(self.querier.label_values(self._context(), scan, name))

    def series(self, matches: list[str], *, tenant: str, start_ns: int, end_ns: int) -> list[dict[str, str]]:
        seen: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        for match in matches or (None,):
            for labels in self._streams(tenant, start_ns, end_ns, match):
                seen.setdefault(tuple(sorted(labels.items())), labels)
        if len(seen) > self.limits.max_series:
            raise series_limit_error(self.limits.max_series)
        return [seen[k] for k in sorted(seen)]

    def index_stats(self, query: str, *, tenant: str, start_ns: int, end_ns: int) -> dict[str, int]:
        self.limits.check_range(start_ns, end_ns)
        scan = plan_scan(ast.LogExpr(parse_selector(query)), tenant, start_ns, end_ns)
        return self.querier.index_stats(self._context(), scan)._asdict()

    # --- internals -----------------------------------------------------------------------------

    def _context(self) -> QueryContext:
        return QueryContext(Deadline(self.limits.query_timeout_s))

    def _done(self, data: Streams | Matrix | Vector | Scalar, ctx: QueryContext) -> QueryResult:
        ctx.stats.exec_seconds = time.monotonic() - ctx.deadline.started
        return QueryResult(data, ctx.stats)

    def _streams(self, tenant: str, start_ns: int, end_ns: int, query: str | None) -> list[dict[str, str]]:
        self.limits.check_range(start_ns, end_ns)
        selector = parse_selector(query) if query else ast.Selector(())
        scan = plan_scan(ast.LogExpr(selector), tenant, start_ns, end_ns)
        return self.querier.streams(self._context(), scan)

    def _check_limit(self, limit: int) -> None:
        if limit > self.limits.max_entries:
            raise LimitError(
                f"max entries limit per query exceeded, limit > max_entries_limit ({limit} > {self.limits.max_entries})"
            )

    def _check_intervals(self, expr: ast.Expr) -> None:
        """Loki's checkIntervalLimit: a `[range]` longer than max_query_range is refused before anything runs."""
        limit = self.limits.max_query_range_ns
        for rng in _log_ranges(expr):
            if rng.range_ns > limit:
                raise LimitError(
                    f"[interval] value exceeds limit: [{format_duration(rng.range_ns)}] > [{format_duration(limit)}]"
                )

    def _check_series(self, value: SeriesSet) -> None:
        if len(value) > self.limits.max_series:
            raise series_limit_error(self.limits.max_series)

    def _matrix(self, value: Value, steps: list[int]) -> Matrix:
        if isinstance(value, Scalars):
            return Matrix([Series({}, list(zip(steps, value.values, strict=True)))])
        self._check_series(value)
        return Matrix(
            [Series(dict(k), [(steps[i], v) for i, v in sorted(p.items())]) for k, p in sorted(value.items()) if p]
        )

    def _eval(
        self, expr: ast.SampleExpr, ctx: QueryContext, tenant: str, steps: list[int], max_series: int | None = None
    ) -> Value:
        """`max_series` when `expr` is the whole query: a range aggregation then stops as soon as it passes it."""
        n = len(steps)
        match expr:
            case ast.NumberLiteral(value=v):
                return Scalars([v] * n)
            case ast.VectorLiteral(value=v):
                return {(): dict.fromkeys(range(n), v)}
            case ast.RangeAggregation():
                return eval_range(
                    self.querier, ctx, expr, tenant, steps, max_python_rows=self.limits.max_lines_scanned_python,
                    max_series=max_series, preserve_errors=preserves_errors(expr, None),
                    max_label_bytes=self.limits.max_response_bytes,
                )  # fmt: skip
            case ast.VectorAggregation(op=op, expr=inner, grouping=grouping, param=param):
                collapse = _pushable_sum(expr)
                if isinstance(inner, ast.RangeAggregation):
                    series = eval_range(
                        self.querier, ctx, inner, tenant, steps, collapse,
                        max_python_rows=self.limits.max_lines_scanned_python,
                        max_series=max_series if collapse is not None else None,
                        preserve_errors=preserves_errors(inner, _injected_grouping(expr)),
                        max_label_bytes=self.limits.max_response_bytes,
                    )  # fmt: skip
                else:
                    value = self._eval(inner, ctx, tenant, steps)
                    if isinstance(value, Scalars):
                        raise LogQLError(f"expected a vector expression in {op}(), got a scalar")
                    series = value
                ctx.deadline.check()
                return aggregate(op, series, grouping, param, n)
            case ast.BinaryOp(left=left, right=right):
                lhs, rhs = self._eval(left, ctx, tenant, steps), self._eval(right, ctx, tenant, steps)
                ctx.deadline.check()
                return binary(expr, lhs, rhs, n)
            case ast.LabelReplace(expr=inner):
                value = self._eval(inner, ctx, tenant, steps)
                if isinstance(value, Scalars):
                    raise LogQLError("label_replace() needs a vector expression")
                return label_replace(value, expr)
        raise LogQLError(f"unsupported expression {type(expr).__name__}")


def _log_ranges(expr: ast.Expr) -> list[ast.LogRange]:
    match expr:
        case ast.RangeAggregation(range=rng):
            return [rng]
        case ast.VectorAggregation(expr=inner) | ast.LabelReplace(expr=inner):
            return _log_ranges(inner)
        case ast.BinaryOp(left=left, right=right):
            return _log_ranges(left) + _log_ranges(right)
    return []


def _pushable_sum(expr: ast.VectorAggregation) -> tuple[str, ...] | None:
    """`sum [by (...)] (count_over_time|rate|bytes_*(...))`: count straight into the groups, not per stream."""
    inner = expr.expr
    if expr.op != "sum" or not isinstance(inner, ast.RangeAggregation) or inner.op not in ADDITIVE_OPS:
        return None
    if inner.grouping is not None or inner.range.unwrap is not None:
        return None
    if expr.grouping is None:
        return ()
    return None if expr.grouping.without else expr.grouping.labels


_INJECTABLE_OPS = frozenset({"count_over_time", "rate", "bytes_over_time", "bytes_rate", "sum_over_time"})


def _injected_grouping(expr: ast.VectorAggregation) -> ast.Grouping | None:
    """The grouping Loki pushes from `sum` into the range aggregation's extractor (canInjectVectorGrouping)."""
    inner = expr.expr
    if expr.op != "sum" or not isinstance(inner, ast.RangeAggregation) or inner.op not in _INJECTABLE_OPS:
        return None
    if inner.grouping is not None:
        return None
    return expr.grouping or ast.Grouping(())


def _sort_order(expr: ast.Expr) -> str | None:
    if isinstance(expr, ast.VectorAggregation) and expr.op in ("sort", "sort_desc"):
        return expr.op
    return None
