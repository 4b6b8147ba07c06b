"""Label filter expressions (`| status >= 500 and method =~ "GET|PUT"`) as Loki 3 evaluates them.

- A string matcher compares the label value, "" when absent; `__error__` reads the pipeline's error.
- A number, duration or bytes comparison drops the line when the label is absent. When the value does not
  convert, the line is kept and `__error__="LabelFilterErr"` (with Go's message in `__error_details__`) is
  set, unless an earlier error is already there.
- An ip() filter (observ/logql/log/ip.py) keeps a line that already has an error and drops one without the label.
- `and` evaluates both sides (a conversion error on the right is recorded even when the left is false);
  `or` stops at the first true side.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from observ.gocompat.durations import parse_duration
from observ.gocompat.humanize import parse_bytes
from observ.gocompat.strconv import parse_float
from observ.logql.goregexp import compile_regex
from observ.logql.log import ip
from observ.logql.syntax import ast

ERROR_LABEL = "__error__"
ERROR_DETAILS_LABEL = "__error_details__"
PRESERVE_ERROR_LABEL = "__preserve_error__"
LABEL_FILTER_ERR = "LabelFilterErr"


class LineState:
    """One entry going through the stages: the line, its labels (a private copy) and the pipeline error.

    `base` is the entry's label set as it came in; the error and its details live outside `labels`,
    as in Loki's LabelsBuilder, and are added to the labels only by `result()`. `preserve` marks a parser
    error the query asked for (Loki's `__preserve_error__`): a metric query keeps that sample.
    """

    __slots__ = ("base", "details", "err", "labels", "line", "preserve", "ts")

    def __init__(self, ts: int, line: str, base: dict[str, str]) -> None:
        self.ts, self.line, self.base = ts, line, base
        self.labels = dict(base)
        self.err = ""
        self.details = ""
        self.preserve = False

    def result(self) -> dict[str, str]:
        labels = self.labels
        if self.err:
            labels[ERROR_LABEL] = self.err
        if self.details:
            labels[ERROR_DETAILS_LABEL] = self.details
        if self.preserve:
            labels[PRESERVE_ERROR_LABEL] = "true"
        return labels


LabelPredicate = Callable[[LineState], bool]
ValuePredicate = Callable[[str], bool]


def compile_matcher(m: ast.Matcher) -> ValuePredicate:
    """A Prometheus matcher on one value; regexes are RE2 and must match the whole value."""
    if m.op is ast.MatchOp.EQ:
        return m.value.__eq__
    if m.op is ast.MatchOp.NEQ:
        return m.value.__ne__
    rx = compile_regex(m.value)
    if m.op is ast.MatchOp.RE:
        return lambda v: rx.fullmatch(v) is not None
    return lambda v: rx.fullmatch(v) is None


_CMP: dict[ast.CmpOp, Callable[[float, float], bool]] = {
    ast.CmpOp.EQ: operator.eq,
    ast.CmpOp.NEQ: operator.ne,
    ast.CmpOp.GT: operator.gt,
    ast.CmpOp.GTE: operator.ge,
    ast.CmpOp.LT: operator.lt,
    ast.CmpOp.LTE: operator.le,
}


def _string_filter(m: ast.Matcher) -> LabelPredicate:
    match = compile_matcher(m)
    name = m.name
    if name == ERROR_LABEL:
        return lambda st: match(st.err)
    return lambda st: match(st.labels.get(name, ""))


def _number(v: str) -> float:
    if v.isascii() and v.isdigit():
        return int(v)
    return parse_float(v)


def _converting_filter(name: str, op: ast.CmpOp, rhs: float, convert: Callable[[str], float]) -> LabelPredicate:
    cmp = _CMP[op]

    def check(st: LineState) -> bool:
        v = st.labels.get(name)
        if v is None:
            return False
        try:
            value = convert(v)
        except ValueError as e:
            if not st.err:
                st.err, st.details = LABEL_FILTER_ERR, str(e)
            return True
        return cmp(value, rhs)

    return check


def compile_label_filter(expr: ast.LabelFilterExpr) -> LabelPredicate:
    """A predicate over the line state: True keeps the line. It may set the error, never the labels."""
    if isinstance(expr, ast.StringLabelFilter):
        return _string_filter(expr.matcher)
    if isinstance(expr, ast.NumberLabelFilter):
        return _converting_filter(expr.name, expr.op, expr.value, _number)
    if isinstance(expr, ast.DurationLabelFilter):
        return _converting_filter(expr.name, expr.op, round(expr.seconds * 1e9), parse_duration)
    if isinstance(expr, ast.BytesLabelFilter):
        return _converting_filter(expr.name, expr.op, int(expr.value), parse_bytes)
    if isinstance(expr, ast.IpLabelFilter):
        test, name = ip.label_filter(expr), expr.name
        return lambda st: test(st.labels.get(name), bool(st.err))
    left, right = compile_label_filter(expr.left), compile_label_filter(expr.right)
    if isinstance(expr, ast.LabelFilterAnd):

        def both(st: LineState) -> bool:
            ok = left(st)
            return right(st) and ok

        return both
    return lambda st: left(st) or right(st)
