"""Range aggregations (`count_over_time`, `rate`, unwrapped `*_over_time`, ...) evaluated at every step.

Counting queries without Python stages run entirely in DuckDB: rows are counted per series in sub-buckets
of width gcd(step, range), and each sub-bucket is added to every window that contains it. Anything that
needs the pipeline or an unwrapped value streams rows through Python once, in time order.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from observ.logql.errors import LimitError, PipelineError, series_limit_error
from observ.logql.log.label_filters import ERROR_LABEL, PRESERVE_ERROR_LABEL
from observ.logql.log.pipeline import Pipeline
from observ.logql.querier import Querier, QueryContext, Scan, plan_scan, split_scan
from observ.logql.series import LabelKey, SeriesSet, key_of, reduce_labels, stdvar
from observ.logql.syntax import ast
from observ.logql.unwrap import Unwrapper

ADDITIVE_OPS = frozenset({"count_over_time", "rate", "bytes_over_time", "bytes_rate"})
"""Sums of these over series equal the op over the union of the rows: an enclosing `sum by` can be pushed in."""
_BYTES_OPS = frozenset({"bytes_over_time", "bytes_rate"})
_SPLIT_OPS = frozenset({"count_over_time", "rate"})
"""Counts the store may share with the pipeline (`Scan.split`): both halves are counted, then added."""


def eval_range(
    querier: Querier,
    ctx: QueryContext,
    agg: ast.RangeAggregation,
    tenant: str,
    steps: Sequence[int],
    collapse: tuple[str, ...] | None = None,
    max_python_rows: int = 20_000_000,
    max_series: int | None = None,
    preserve_errors: bool = False,
    max_label_bytes: int = 100 * 2**20,
) -> SeriesSet:
    """`collapse`: labels of an enclosing `sum by (...)` (additive ops only), applied while counting.

    `max_series`: the series are the query's result, so more than this many stop the query at once.
    `preserve_errors`: parser errors stay on their samples instead of failing the query (`preserves_errors`).
    `max_label_bytes`: the labels of the series a Python-evaluated aggregation makes may not pass it.
    """
    rng = agg.range
    first = steps[0] - rng.offset_ns - rng.range_ns + 1
    last = steps[-1] - rng.offset_ns + 1
    scan = plan_scan(rng.log, tenant, first, last)
    if agg.op == "absent_over_time":
        present = (
            {}
            if rng.range_ns == 0
            else _sql_counts(querier, ctx, scan, agg, steps, (), None)
            if not scan.rest and rng.unwrap is None
            else _python(querier, ctx, scan, agg, steps, (), max_python_rows, None, preserve_errors, max_label_bytes)
        )
        seen = set().union(*(points.keys() for points in present.values()))
        labels = {m.name: m.value for m in rng.log.selector.matchers if m.op is ast.MatchOp.EQ}
        missing = {i: 1.0 for i in range(len(steps)) if i not in seen}
        return {key_of(labels): missing} if missing else {}
    if rng.range_ns == 0:
        return {}  # every window (t, t] is empty, as in Loki
    if not scan.rest and rng.unwrap is None and agg.op in ADDITIVE_OPS:
        return _sql_counts(querier, ctx, scan, agg, steps, collapse, max_series)
    if collapse is not None and rng.unwrap is None and agg.op in _SPLIT_OPS and (split := split_scan(scan, collapse)):
        return _split_counts(
            querier, ctx, split, agg, steps, collapse, max_python_rows, max_series, preserve_errors, max_label_bytes
        )
    return _python(
        querier, ctx, scan, agg, steps, collapse, max_python_rows, max_series, preserve_errors, max_label_bytes
    )


def preserves_errors(agg: ast.RangeAggregation, injected: ast.Grouping | None) -> bool:
    """Loki's rule for keeping parser errors in a metric query (pkg/logql/log/parser_hints.go NewParserHint).

    The labels the query needs are those its label filters, templates and unwrap read plus the grouping;
    `injected` is the grouping of an enclosing `sum` that Loki pushes into the extractor
    (syntax.canInjectVectorGrouping), else the aggregation's own. A parser error is kept when `__error__`
    is needed and the samples are reduced: to nothing (`sum(...)`, `absent_over_time`) or to a `by` list.
    """
    grouping = injected if injected is not None else agg.grouping
    no_labels = agg.op == "absent_over_time" or (grouping is not None and not grouping.labels and not grouping.without)
    if not no_labels and (grouping is None or grouping.without or not grouping.labels):
        return False
    needed = set(_required_labels(agg.range))
    if grouping is not None:
        needed.update(grouping.labels)
    needed.update(name.removesuffix("_extracted") for name in list(needed))
    return ERROR_LABEL in needed


_TEMPLATE_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")


def _required_labels(rng: ast.LogRange) -> list[str]:
    """Each stage's RequiredLabelNames: label filters' names, fields templates read, renamed sources."""
    names: list[str] = []
    filters: list[ast.LabelFilterExpr] = []
    for stage in rng.log.pipeline:
        if isinstance(stage, ast.LabelFilter):
            filters.append(stage.expr)
        elif isinstance(stage, ast.LineFormat):
            names.extend(_TEMPLATE_FIELD.findall(stage.template))
        elif isinstance(stage, ast.LabelFormat):
            for item in stage.items:
                names.extend(_TEMPLATE_FIELD.findall(item.value) if item.template else [item.value])
    if rng.unwrap is not None:
        names.append(rng.unwrap.label)
        filters.extend(rng.unwrap.post_filters)
    while filters:
        f = filters.pop()
        if isinstance(f, ast.LabelFilterAnd | ast.LabelFilterOr):
            filters.extend((f.left, f.right))
        elif isinstance(f, ast.StringLabelFilter):
            names.append(f.matcher.name)
        else:
            names.append(f.name)
    return names


def _sql_counts(
    querier: Querier,
    ctx: QueryContext,
    scan: Scan,
    agg: ast.RangeAggregation,
    steps: Sequence[int],
    collapse: tuple[str, ...] | None,
    max_series: int | None = None,
) -> SeriesSet:
    """Counted by the store per series and step; `collapse` None counts per stream and metadata."""
    rng = agg.range
    n = len(steps)
    width = rng.range_ns
    step = steps[1] - steps[0] if n > 1 else width
    seconds = width / 1e9
    value: Callable[[float, float], float] = {
        "count_over_time": lambda c, nb: c,
        "rate": lambda c, nb: c / seconds,
        "bytes_over_time": lambda c, nb: nb,
        "bytes_rate": lambda c, nb: nb / seconds,
        "absent_over_time": lambda c, nb: c,
    }[agg.op]
    out: SeriesSet = {}
    buckets = querier.count_buckets(
        ctx, scan, base_ns=steps[0] - rng.offset_ns, step_ns=step, range_ns=width, steps=n, group_by=collapse
    )
    for labels, i, c, nb in buckets:
        points = out.get(key := key_of(labels))
        if points is None:
            points = out[key] = {}
            if max_series is not None and len(out) > max_series:
                raise series_limit_error(max_series)
        points[i] = value(c, nb)
    return out


def _split_counts(
    querier: Querier,
    ctx: QueryContext,
    scan: Scan,
    agg: ast.RangeAggregation,
    steps: Sequence[int],
    collapse: tuple[str, ...],
    max_rows: int,
    max_series: int | None,
    preserve_errors: bool,
    max_label_bytes: int,
) -> SeriesSet:
    """The rows the store could evaluate counted in SQL, the others through the pipeline; counts added, then rated.

    Adding counts before dividing keeps `rate` bit-identical to the pipeline's `len(window) / seconds`.
    """
    counting = replace(agg, op="count_over_time")
    out = _sql_counts(querier, ctx, scan, counting, steps, collapse, max_series)
    rest = _python(
        querier, ctx, scan, counting, steps, collapse, max_rows, max_series, preserve_errors, max_label_bytes
    )
    for key, points in rest.items():
        mine = out.setdefault(key, {})
        for i, c in points.items():
            mine[i] = mine.get(i, 0.0) + c
    if max_series is not None and len(out) > max_series:
        raise series_limit_error(max_series)
    if agg.op == "rate":
        seconds = agg.range.range_ns / 1e9
        return {key: {i: c / seconds for i, c in points.items()} for key, points in out.items()}
    return out


def _python(
    querier: Querier,
    ctx: QueryContext,
    scan: Scan,
    agg: ast.RangeAggregation,
    steps: Sequence[int],
    collapse: tuple[str, ...] | None,
    max_rows: int,
    max_series: int | None = None,
    preserve_errors: bool = False,
    max_label_bytes: int = 100 * 2**20,
) -> SeriesSet:
    rng = agg.range
    check = ctx.deadline.check
    pipeline = Pipeline(scan.rest, check, preserve_errors) if scan.rest else None
    unwrapper = Unwrapper(rng.unwrap) if rng.unwrap is not None else None
    by_bytes = agg.op in _BYTES_OPS
    samples: dict[LabelKey, tuple[list[int], list[float]]] = {}
    errors: list[tuple[int, dict[str, str]]] = []
    """Samples carrying __error__: they fail the query only if a step's window holds them, as in Loki."""
    scanned = label_bytes = 0
    for chunk in querier.select_samples(ctx, scan):
        scanned += len(chunk)
        if scanned > max_rows:
            raise LimitError(
                f"the query would process more than {max_rows} lines in its pipeline; narrow the selector or range"
            )
        for ts, line, stream, md in chunk:
            labels = stream | md if md else stream
            if pipeline is not None:
                check()  # per line: one line's stages may be slow, the query's deadline still holds
                processed = pipeline.process(ts, line, labels)
                if processed is None:
                    continue
                line, labels = processed
            if unwrapper is not None:
                extracted = unwrapper.extract(labels)
                if extracted is None:
                    continue
                v, labels = extracted
            else:
                v = float(len(line.encode())) if by_bytes else 1.0
            if ERROR_LABEL in labels and labels.get(PRESERVE_ERROR_LABEL) != "true":
                errors.append((ts, labels))
            if agg.grouping is not None:
                labels = reduce_labels(labels, agg.grouping)
            elif collapse is not None:
                labels = {k: labels[k] for k in collapse if labels.get(k)}
            series = samples.get(key := key_of(labels))
            if series is None:
                series = samples[key] = ([], [])
                if max_series is not None and len(samples) > max_series:
                    raise series_limit_error(max_series)
                label_bytes += sum(len(k) + len(v) for k, v in key)
                if label_bytes > max_label_bytes:
                    # templates can put a line in a label: every line its own large series
                    raise LimitError(
                        f"the query's series carry more than {max_label_bytes} bytes of labels; "
                        "group them with `by`/`without` or drop labels before aggregating"
                    )
            ts_list, values = series
            ts_list.append(ts)
            values.append(v)
    for error_ts, labels in errors:
        if _in_some_window(error_ts, steps, rng):
            raise PipelineError(_pipeline_error(labels))
    fn = _window_fn(agg, rng.range_ns)
    out: SeriesSet = {}
    for key, (ts_list, values) in samples.items():
        points: dict[int, float] = {}
        for i, t in enumerate(steps):
            check()
            hi = t - rng.offset_ns
            lo = hi - rng.range_ns
            a = bisect.bisect_right(ts_list, lo)
            b = bisect.bisect_right(ts_list, hi)
            if a < b:
                r = fn(ts_list[a:b], values[a:b], lo, hi)
                if r is not None:
                    points[i] = r
        if points:
            out[key] = points
    return out


def _in_some_window(ts: int, steps: Sequence[int], rng: ast.LogRange) -> bool:
    """Whether some step t has ts in its window (t - offset - range, t - offset]."""
    i = bisect.bisect_left(steps, ts + rng.offset_ns)
    return i < len(steps) and steps[i] - rng.offset_ns - rng.range_ns < ts


def _pipeline_error(labels: dict[str, str]) -> str:
    """Loki's logqlmodel.PipelineError text, line breaks included."""
    err = labels[ERROR_LABEL]
    series = "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    return (
        f"pipeline error: '{err}' for series: '{series}'.\n"
        f'Use a label filter to intentionally skip this error. (e.g | __error__!="{err}").\n'
        'To skip all potential errors you can match empty errors.(e.g __error__="")\n'
        'The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__="" )\n'
    )


WindowFn = Callable[[list[int], list[float], int, int], float | None]


def _window_fn(agg: ast.RangeAggregation, range_ns: int) -> WindowFn:
    seconds = range_ns / 1e9
    unwrapped = agg.range.unwrap is not None
    simple: dict[str, Callable[[list[float]], float]] = {
        "count_over_time": lambda vs: float(len(vs)),
        "absent_over_time": lambda vs: float(len(vs)),
        "rate": (lambda vs: math.fsum(vs) / seconds) if unwrapped else (lambda vs: len(vs) / seconds),
        "bytes_over_time": lambda vs: math.fsum(vs),
        "bytes_rate": lambda vs: math.fsum(vs) / seconds,
        "sum_over_time": lambda vs: math.fsum(vs),
        "avg_over_time": lambda vs: math.fsum(vs) / len(vs),
        "min_over_time": min,
        "max_over_time": max,
        "first_over_time": lambda vs: vs[0],
        "last_over_time": lambda vs: vs[-1],
        "stdvar_over_time": stdvar,
        "stddev_over_time": lambda vs: math.sqrt(stdvar(vs)),
    }
    if agg.op in simple:
        f = simple[agg.op]
        return lambda ts, vs, lo, hi: f(vs)
    if agg.op == "quantile_over_time":
        phi = agg.param if agg.param is not None else 0.5
        return lambda ts, vs, lo, hi: quantile(phi, vs)
    if agg.op == "rate_counter":
        return lambda ts, vs, lo, hi: _counter_rate(ts, vs, lo, hi, seconds)
    raise PipelineError(f"unsupported range aggregation {agg.op}")


def quantile(phi: float, values: list[float]) -> float:
    """Prometheus' quantile: linear interpolation between closest ranks; φ outside [0, 1] gives ∓Inf."""
    if math.isnan(phi):
        return math.nan
    if phi < 0:
        return -math.inf
    if phi > 1:
        return math.inf
    vs = sorted(values)
    rank = phi * (len(vs) - 1)
    lo = max(0, math.floor(rank))
    hi = min(len(vs) - 1, lo + 1)
    weight = rank - math.floor(rank)
    return vs[lo] * (1 - weight) + vs[hi] * weight


def _counter_rate(ts: list[int], vs: list[float], lo: int, hi: int, seconds: float) -> float:
    """Loki's extrapolatedRate (pkg/logql/range_vector.go), Prometheus' with the window's own bounds.

    Fewer than two samples give 0, as Loki answers; two samples at one instant give NaN (Go's 0/0).
    """
    if len(vs) < 2:
        return 0.0
    result = vs[-1] - vs[0]
    for prev, cur in itertools.pairwise(vs):
        if cur < prev:
            result += prev
    to_start = (ts[0] - lo) / 1e9
    to_end = (hi - ts[-1]) / 1e9
    sampled = (ts[-1] - ts[0]) / 1e9
    average = sampled / (len(vs) - 1)
    threshold = average * 1.1
    if to_start >= threshold:
        to_start = average / 2
    if result > 0 and vs[0] >= 0:
        to_start = min(to_start, sampled * (vs[0] / result))
    if to_end >= threshold:
        to_end = average / 2
    if sampled == 0:
        return math.nan
    return result * ((sampled + to_start + to_end) / sampled) / seconds
