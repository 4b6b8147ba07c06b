"""Syntax tree → canonical single-line LogQL (what /loki/api/v1/format_query answers).

The shape follows Loki's `expr.String()` (not the multi-line `syntax.Prettify`): strings quoted as Go's
strconv.Quote, ranges as Prometheus durations, keywords lower case. Parentheses appear only where
precedence needs them, so `parse(format_expr(e)) == e` holds for every tree the parser can produce.
"""

from __future__ import annotations

import math
from decimal import Decimal

from observ.gocompat.durations import format_duration, go_duration_string
from observ.gocompat.strconv import format_float, go_quote
from observ.logql.syntax import ast

_BYTE_UNITS = tuple(
    (unit, base**power)
    for power in (5, 4, 3, 2, 1)
    for unit, base in ((f"{'kMGTP'[power - 1]}B", 1000), (f"{'KMGTP'[power - 1]}iB", 1024))
)
_BINOP_PREC = {
    "or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, ">": 3, ">=": 3, "<": 3, "<=": 3,
    "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "^": 6,
}  # fmt: skip


def format_number(v: float) -> str:
    """Go's %v (shortest digits, so it parses back to the same float): `5`, `0.99`, `-1.5`, `1e+06`."""
    if not math.isfinite(v):
        raise ValueError(f"LogQL has no literal for {v}")
    return format_float(v)


def _format_bytes(v: float) -> str:
    """`20MB`, `1KiB`, `1.5B`: the largest unit that divides exactly (the lexer takes no exponent)."""
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"LogQL has no byte size {v}")
    if not v.is_integer():
        return format(Decimal(repr(v)), "f") + "B"
    n = int(v)
    for unit, size in _BYTE_UNITS:
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"


def format_expr(expr: ast.Expr) -> str:
    """Canonical single-line LogQL for any tree of observ/logql/syntax/ast.py."""
    match expr:
        case ast.LogExpr():
            return _log(expr)
        case ast.RangeAggregation(op=op, range=log_range, param=param, grouping=grouping):
            arg = _log_range(log_range)
            if param is not None:
                arg = f"{format_number(param)}, {arg}"
            return f"{op}({arg}){_grouping(grouping)}"
        case ast.VectorAggregation(op=op, expr=inner, grouping=grouping, param=param):
            arg = format_expr(inner)
            if param is not None:  # k of topk/bottomk: Loki takes digits only, never `1e+06`
                arg = f"{int(param) if param.is_integer() else format_number(param)}, {arg}"
            return f"{op}{_grouping(grouping)} ({arg})" if grouping is not None else f"{op}({arg})"
        case ast.BinaryOp():
            return _binop(expr)
        case ast.NumberLiteral(value=value):
            return format_number(value)
        case ast.VectorLiteral(value=value):
            return f"vector({format_number(value)})"
        case ast.LabelReplace(expr=inner, dst=dst, replacement=repl, src=src, regex=regex):
            args = ", ".join(go_quote(s) for s in (dst, repl, src, regex))
            return f"label_replace({format_expr(inner)}, {args})"
    raise TypeError(f"not a LogQL expression: {expr!r}")


def format_selector(selector: ast.Selector) -> str:
    return "{" + ", ".join(_matcher(m) for m in selector.matchers) + "}"


def _matcher(m: ast.Matcher) -> str:
    return f"{m.name}{m.op.value}{go_quote(m.value)}"


def _log(expr: ast.LogExpr) -> str:
    return format_selector(expr.selector) + "".join(" " + _stage(s) for s in expr.pipeline)


def _log_range(r: ast.LogRange) -> str:
    text = _log(r.log)
    if r.unwrap is not None:
        u = r.unwrap
        target = f"{u.conversion}({u.label})" if u.conversion else u.label
        text += f" | unwrap {target}" + "".join(f" | {format_label_filter(f)}" for f in u.post_filters)
    text += f"[{format_duration(r.range_ns)}]"
    if r.offset_ns:
        text += f" offset {format_duration(r.offset_ns)}"
    return text


def _grouping(g: ast.Grouping | None) -> str:
    if g is None:
        return ""
    return f" {'without' if g.without else 'by'} ({', '.join(g.labels)})"


def _extractions(params: tuple[tuple[str, str], ...]) -> str:
    return "".join(f" {', '.join(f'{label}={go_quote(path)}' for label, path in params)}" for _ in params[:1])


def _stage(stage: ast.Stage) -> str:
    match stage:
        case ast.LineFilter(op=op, values=values):
            return f"{op.value} " + " or ".join(format_filter_value(v) for v in values)
        case ast.JsonParser(params=params):
            return "| json" + _extractions(params)
        case ast.LogfmtParser(strict=strict, keep_empty=keep_empty, params=params):
            return "| logfmt" + " --strict" * strict + " --keep-empty" * keep_empty + _extractions(params)
        case ast.RegexpParser(pattern=pattern):
            return f"| regexp {go_quote(pattern)}"
        case ast.PatternParser(pattern=pattern):
            return f"| pattern {go_quote(pattern)}"
        case ast.UnpackParser():
            return "| unpack"
        case ast.Decolorize():
            return "| decolorize"
        case ast.LineFormat(template=template):
            return f"| line_format {go_quote(template)}"
        case ast.LabelFormat(items=items):
            return "| label_format " + ", ".join(
                f"{i.dst}={go_quote(i.value) if i.template else i.value}" for i in items
            )
        case ast.DropLabels(labels=labels):
            return "| drop " + ", ".join(_label_ref(r) for r in labels)
        case ast.KeepLabels(labels=labels):
            return "| keep " + ", ".join(_label_ref(r) for r in labels)
        case ast.LabelFilter(expr=expr):
            return "| " + format_label_filter(expr)
    raise TypeError(f"not a pipeline stage: {stage!r}")


def format_filter_value(v: str | ast.IpPattern) -> str:
    """A line filter operand: `"text"` or `ip("pattern")`."""
    return f"ip({go_quote(v.pattern)})" if isinstance(v, ast.IpPattern) else go_quote(v)


def _label_ref(ref: ast.LabelRef) -> str:
    return _matcher(ref.matcher) if ref.matcher is not None else ref.name


def format_label_filter(f: ast.LabelFilterExpr) -> str:
    """`and` binds tighter than `or`, both left-associative (the comma form is never written)."""
    match f:
        case ast.LabelFilterOr(left=left, right=right):
            right_text = format_label_filter(right)
            if isinstance(right, ast.LabelFilterOr):
                right_text = f"({right_text})"
            return f"{format_label_filter(left)} or {right_text}"
        case ast.LabelFilterAnd(left=left, right=right):
            left_text, right_text = format_label_filter(left), format_label_filter(right)
            if isinstance(left, ast.LabelFilterOr):
                left_text = f"({left_text})"
            if isinstance(right, ast.LabelFilterOr | ast.LabelFilterAnd):
                right_text = f"({right_text})"
            return f"{left_text} and {right_text}"
        case ast.StringLabelFilter(matcher=m):
            return _matcher(m)
        case ast.NumberLabelFilter(name=name, op=op, value=value):
            return f"{name} {op.value} {format_number(value)}"
        case ast.DurationLabelFilter(name=name, op=op, seconds=seconds):
            return f"{name} {op.value} {go_duration_string(round(seconds * 1e9))}"
        case ast.BytesLabelFilter(name=name, op=op, value=value):
            return f"{name} {op.value} {_format_bytes(value)}"
        case ast.IpLabelFilter(name=name, op=op, pattern=pattern):
            return f"{name}{op.value}ip({go_quote(pattern)})"  # Loki's IPLabelFilter.String: no spaces
    raise TypeError(f"not a label filter: {f!r}")


def _binop(e: ast.BinaryOp) -> str:
    prec = _BINOP_PREC[e.op]
    right_assoc = e.op == "^"
    left, right = format_expr(e.left), format_expr(e.right)
    if isinstance(e.left, ast.BinaryOp):
        lp = _BINOP_PREC[e.left.op]
        if lp < prec or (lp == prec and right_assoc):
            left = f"({left})"
    if isinstance(e.right, ast.BinaryOp):
        rp = _BINOP_PREC[e.right.op]
        if rp < prec or (rp == prec and not right_assoc):
            right = f"({right})"
    parts = [e.op]
    if e.return_bool:
        parts.append("bool")
    m = e.matching
    if m.on or m.labels or m.card:
        parts.append(f"{'on' if m.on else 'ignoring'} ({', '.join(m.labels)})")
    if m.card:
        # an include list is optional, so `(` right after group_left would be read as one
        include = m.include or right.startswith("(")
        parts.append(f"{m.card} ({', '.join(m.include)})" if include else m.card)
    return f"{left} {' '.join(parts)} {right}"
