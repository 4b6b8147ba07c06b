"""Vector aggregations, binary operations and label_replace over series sets, step by step (PromQL rules)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

from observ.logql.errors import LogQLError
from observ.logql.goregexp import compile_regex, go_expand
from observ.logql.series import LabelKey, Scalars, SeriesSet, Value, reduce_key, stdvar
from observ.logql.syntax import ast

# --- aggregation -----------------------------------------------------------------------------------


_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum,
    "avg": lambda vs: math.fsum(vs) / len(vs),
    "min": lambda vs: min(vs, key=lambda v: (math.isnan(v), v)),
    "max": lambda vs: max(vs, key=lambda v: (not math.isnan(v), v)),
    "count": lambda vs: float(len(vs)),
    "stdvar": stdvar,
    "stddev": lambda vs: math.sqrt(stdvar(vs)),
}


def aggregate(op: str, series: SeriesSet, grouping: ast.Grouping | None, param: float | None, nsteps: int) -> SeriesSet:
    if op in ("sort", "sort_desc"):
        return series
    if op in ("topk", "bottomk"):
        return _top(series, grouping, int(param or 0), op == "topk", nsteps)
    reducer = _REDUCERS[op]
    groups: dict[LabelKey, dict[int, list[float]]] = {}
    for key, points in series.items():
        g = groups.setdefault(reduce_key(key, grouping), {})
        for i, v in points.items():
            g.setdefault(i, []).append(v)
    return {key: {i: reducer(vs) for i, vs in points.items()} for key, points in groups.items()}


def _top(series: SeriesSet, grouping: ast.Grouping | None, k: int, largest: bool, nsteps: int) -> SeriesSet:
    """Per step and group, the k series with the largest (smallest) values; NaN ranks last."""
    out: SeriesSet = {}
    if k < 1:
        return out
    groups: dict[LabelKey, list[LabelKey]] = {}
    for key in series:
        groups.setdefault(reduce_key(key, grouping), []).append(key)
    for members in groups.values():
        for i in range(nsteps):
            present = [(series[m][i], m) for m in members if i in series[m]]
            present.sort(key=lambda vm: _rank(vm[0], largest))
            for v, m in present[:k]:
                out.setdefault(m, {})[i] = v
    return out


def _rank(v: float, largest: bool) -> tuple[bool, float]:
    if math.isnan(v):
        return (True, 0.0)
    return (False, -v if largest else v)


# --- binary operations -----------------------------------------------------------------------------


def _div(a: float, b: float) -> float:
    """Loki (unlike Prometheus) answers NaN for any division by zero."""
    return math.nan if b == 0 else a / b


def _mod(a: float, b: float) -> float:
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _safe(fn: Callable[[float, float], float]) -> Callable[[float, float], float]:
    def run(a: float, b: float) -> float:
        try:
            return fn(a, b)
        except OverflowError:
            return math.inf

    return run


ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": _safe(operator.mul), "/": _div, "%": _mod, "^": _pow,
}  # fmt: skip
COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip
SET_OPS = frozenset({"and", "or", "unless"})


def binary(node: ast.BinaryOp, left: Value, right: Value, nsteps: int) -> Value:
    op = node.op
    if op in SET_OPS:
        if isinstance(left, Scalars) or isinstance(right, Scalars):
            raise LogQLError(f"set operator {op!r} not allowed in binary scalar expression")
        return _set_op(op, left, right, node.matching)
    if isinstance(left, Scalars):
        if isinstance(right, Scalars):
            return Scalars([_fold(op, a, b) for a, b in zip(left.values, right.values, strict=True)])
        return _with_scalar(op, right, left, node.return_bool, scalar_right=False)
    if isinstance(right, Scalars):
        return _with_scalar(op, left, right, node.return_bool, scalar_right=True)
    return _vector_op(node, left, right, nsteps)


def _apply(op: str, a: float, b: float, return_bool: bool) -> float | None:
    """The result of one pair; None means a comparison filtered the sample out."""
    if op in ARITHMETIC:
        return ARITHMETIC[op](a, b)
    ok = COMPARISON[op](a, b)
    if return_bool:
        return 1.0 if ok else 0.0
    return a if ok else None


def _fold(op: str, a: float, b: float) -> float:
    """Scalar op scalar: Loki folds literal comparisons to 0/1 even without `bool`."""
    return ARITHMETIC[op](a, b) if op in ARITHMETIC else float(COMPARISON[op](a, b))


def _with_scalar(op: str, vec: SeriesSet, sc: Scalars, return_bool: bool, scalar_right: bool) -> SeriesSet:
    out: SeriesSet = {}
    for key, points in vec.items():
        res: dict[int, float] = {}
        for i, v in points.items():
            a, b = (v, sc.values[i]) if scalar_right else (sc.values[i], v)
            r = _apply(op, a, b, return_bool)
            if r is not None:
                # A filtering comparison keeps the vector's own value, whichever side it is on.
                res[i] = v if op in COMPARISON and not return_bool else r
        if res:
            out[key] = res
    return out


def _match_key(key: LabelKey, m: ast.VectorMatching) -> LabelKey:
    if m.on:
        keep = set(m.labels)
        return tuple(kv for kv in key if kv[0] in keep)
    drop = set(m.labels)
    return tuple(kv for kv in key if kv[0] not in drop)


def _result_key(key: LabelKey, m: ast.VectorMatching, op: str, return_bool: bool, other: LabelKey) -> LabelKey:
    """Prometheus' resultMetric: one-to-one keeps only `on` labels (or drops `ignoring` ones), unless filtering."""
    if op in COMPARISON and not return_bool:
        labels = dict(key)
    elif m.card == "":
        labels = dict(_match_key(key, m)) if m.on or m.labels else dict(key)
    else:
        labels = dict(key)
    if m.card and m.include:
        o = dict(other)
        for name in m.include:
            if o.get(name):
                labels[name] = o[name]
            else:
                labels.pop(name, None)
    return tuple(sorted(labels.items()))


def _vector_op(node: ast.BinaryOp, left: SeriesSet, right: SeriesSet, nsteps: int) -> SeriesSet:
    m = node.matching
    many, one = (right, left) if m.card == "group_right" else (left, right)
    one_by_match: dict[LabelKey, list[LabelKey]] = {}
    for key in one:
        one_by_match.setdefault(_match_key(key, m), []).append(key)
    if m.card == "":
        many_by_match: dict[LabelKey, list[LabelKey]] = {}
        for key in many:
            many_by_match.setdefault(_match_key(key, m), []).append(key)
    out: SeriesSet = {}
    for key, points in many.items():
        mk = _match_key(key, m)
        partners = one_by_match.get(mk)
        if not partners:
            continue
        if m.card == "" and len(many_by_match[mk]) > 1:
            raise LogQLError(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
            )
        for i, v in points.items():
            present = [p for p in partners if i in one[p]]
            if not present:
                continue
            if len(present) > 1:
                raise LogQLError("found duplicate series for the match group; many-to-many matching not allowed")
            partner = present[0]
            ov = one[partner][i]
            a, b = (ov, v) if m.card == "group_right" else (v, ov)
            r = _apply(node.op, a, b, node.return_bool)
            if r is None:
                continue
            if node.op in COMPARISON and not node.return_bool:
                r = v
            rk = _result_key(key, m, node.op, node.return_bool, partner)
            dest = out.setdefault(rk, {})
            if i in dest:
                raise LogQLError("multiple matches for labels: grouping labels must ensure unique matches")
            dest[i] = r
    return out


def _set_op(op: str, left: SeriesSet, right: SeriesSet, m: ast.VectorMatching) -> SeriesSet:
    right_steps: dict[LabelKey, set[int]] = {}
    for key, points in right.items():
        right_steps.setdefault(_match_key(key, m), set()).update(points)
    if op == "and":
        out = {k: {i: v for i, v in p.items() if i in right_steps.get(_match_key(k, m), ())} for k, p in left.items()}
        return {k: p for k, p in out.items() if p}
    if op == "unless":
        out = {
            k: {i: v for i, v in p.items() if i not in right_steps.get(_match_key(k, m), ())} for k, p in left.items()
        }
        return {k: p for k, p in out.items() if p}
    left_steps: dict[LabelKey, set[int]] = {}
    for key, points in left.items():
        left_steps.setdefault(_match_key(key, m), set()).update(points)
    out = {k: dict(p) for k, p in left.items()}
    for key, points in right.items():
        taken = left_steps.get(_match_key(key, m), set())
        rest = {i: v for i, v in points.items() if i not in taken}
        if rest:
            out.setdefault(key, {}).update(rest)
    return out


# --- label_replace ---------------------------------------------------------------------------------


def label_replace(series: SeriesSet, node: ast.LabelReplace) -> SeriesSet:
    regex = compile_regex(node.regex)
    out: SeriesSet = {}
    for key, points in series.items():
        labels = dict(key)
        m = regex.fullmatch(labels.get(node.src, ""))
        if m is not None:
            value = go_expand(node.replacement, m)
            if value:
                labels[node.dst] = value
            else:
                labels.pop(node.dst, None)
        nk = tuple(sorted(labels.items()))
        if nk in out:
            raise LogQLError("vector cannot contain metrics with the same labelset")
        out[nk] = points
    return out
