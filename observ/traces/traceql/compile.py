"""TraceQL syntax tree -> the spans store's SpanQuery, or an error naming what observ's subset does not run.

Spanset `&&` and `||` become conjunctive normal form: a trace matches `({a} && {b}) || {c}` exactly when it has
a span matching `a || c` and one matching `b || c`, so every boolean combination of spansets is a list of
SpanQuery spansets. Inside a filter, `&&`/`||` become AllOf/AnyOf and comparisons Conditions; literals are
folded (`{ true }` is every trace, `{ false }` none). Trace intrinsics (`rootServiceName`, `rootName`,
`traceDuration`) are conditions like any other: the store evaluates them per trace.
"""

from __future__ import annotations

from typing import get_args

import re2
from pydantic import ValidationError

from observ.traces.query import MAX_CONDITIONS, AllOf, AnyOf, Condition, Expr, Op, SpanQuery
from observ.traces.traceql import ast
from observ.traces.traceql.errors import InvalidQuery, TraceQLError, Unsupported

_COMPARISONS: dict[str, Op] = {op: op for op in get_args(Op)}
_FLIP: dict[Op, Op] = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "=", "!=": "!="}
_STRUCTURAL = {
    ">>": "descendant", "<<": "ancestor", ">": "child", "<": "parent", "~": "sibling", "!>": "not child",
    "!<": "not parent", "!~": "not sibling", "!>>": "not descendant", "!<<": "not ancestor", "&>": "union child",
    "&<": "union parent", "&~": "union sibling", "&>>": "union descendant", "&<<": "union ancestor",
}  # fmt: skip
_SPAN_INTRINSICS = frozenset({"name", "status", "kind", "duration", "statusMessage"})
_TRACE_INTRINSICS = {"rootServiceName": "rootServiceName", "rootService": "rootServiceName",
                     "rootName": "rootName", "traceDuration": "traceDuration", "duration": "traceDuration"}  # fmt: skip
_DURATIONS = frozenset({"duration", "traceDuration"})
_STRINGS = frozenset({"name", "statusMessage", "rootServiceName", "rootName"})

Clause = list[Expr]
"""Span conditions of which one span of the trace must match one (a SpanQuery spanset)."""


def spansets(query: ast.Query) -> list[Expr] | None:
    """The SpanQuery spansets of a query ([] = every trace), None when no trace can match."""
    if isinstance(query, ast.Pipeline):
        raise Unsupported(f"pipelines (`| {_short(query.rest)}`) are not supported", *query.at)
    clauses = _cnf(query)
    if any(not c for c in clauses):
        return None
    out: list[Expr] = []
    for clause in clauses:
        unique: list[Expr] = []
        for e in clause:
            if e not in unique:
                unique.append(e)
        expr = unique[0] if len(unique) == 1 else AnyOf(any=unique)
        if expr not in out:
            out.append(expr)
    return out


def compile_query(query: ast.Query, start_ns: int, end_ns: int, limit: int, spans_per_trace: int) -> SpanQuery | None:
    """The SpanQuery a search runs; None when the query matches nothing (`{ false }`)."""
    sets = spansets(query)
    if sets is None:
        return None
    try:
        return SpanQuery(spansets=sets, start_ns=start_ns, end_ns=end_ns, limit=limit, spans_per_trace=spans_per_trace)
    except ValidationError as e:
        raise InvalidQuery(_pydantic_reason(e)) from None


def _cnf(e: ast.SpansetExpr) -> list[Clause]:
    if isinstance(e, ast.SpansetFilter):
        cond = _field(e.expr)
        if cond is True:
            return []
        return [[]] if cond is False else [[cond]]
    if e.op == "&&":
        return _cnf(e.left) + _cnf(e.right)
    if e.op == "||":
        left, right = _cnf(e.left), _cnf(e.right)
        if len(left) * len(right) > MAX_CONDITIONS:
            raise Unsupported(f"`||` between spansets expands past {MAX_CONDITIONS} conditions", *e.at)
        return [a + b for a in left for b in right]
    raise Unsupported(f"structural operator `{e.op}` ({_STRUCTURAL.get(e.op, e.op)}) is not supported", *e.at)


def _field(e: ast.FieldExpr) -> Expr | bool:
    """A span condition, or a literal truth value."""
    if isinstance(e, ast.Static):
        if e.type == "bool":
            return bool(e.value)
        raise InvalidQuery(f"a spanset filter must be a condition, `{e}` is a {e.type}", *e.at)
    if isinstance(e, ast.Attribute | ast.Intrinsic):
        raise InvalidQuery(f"a spanset filter must be a condition: compare `{e}` with a value", *e.at)
    if isinstance(e, ast.Unary):
        if e.op == "!" and isinstance(e.operand, ast.Static) and e.operand.type == "bool":
            return not e.operand.value
        what = "negation `!`, use `!=` or `!~`" if e.op == "!" else "arithmetic (unary `-` on a field)"
        raise Unsupported(f"{what} is not supported: `{e}`", *e.at)
    if e.op in ("&&", "||"):
        return _logical(e)
    if e.op in _COMPARISONS:
        return _comparison(e)
    raise Unsupported(f"arithmetic (`{e.op}`) is not supported: `{e}`", *e.at)


def _logical(e: ast.Binary) -> Expr | bool:
    left, right = _field(e.left), _field(e.right)
    absorbing = e.op == "||"  # true absorbs an OR, false an AND
    if left is absorbing or right is absorbing:
        return absorbing
    if isinstance(left, bool):
        return right
    if isinstance(right, bool):
        return left
    kind = AnyOf if e.op == "||" else AllOf
    parts: list[Expr] = []
    for side in (left, right):
        parts += side.any if kind is AnyOf and isinstance(side, AnyOf) else []
        parts += side.all if kind is AllOf and isinstance(side, AllOf) else []
        if not isinstance(side, kind):
            parts.append(side)
    try:
        return AnyOf(any=parts) if kind is AnyOf else AllOf(all=parts)
    except ValidationError as err:
        raise InvalidQuery(_pydantic_reason(err), *e.at) from None


def _comparison(e: ast.Binary) -> Expr | bool:
    left, op, right = e.left, _COMPARISONS[e.op], e.right
    for side in (left, right):
        if isinstance(side, ast.Binary):
            raise Unsupported(f"arithmetic (`{side.op}`) is not supported: `{side}`", *side.at)
        if isinstance(side, ast.Unary):
            raise Unsupported(f"unary `{side.op}` on a field is not supported: `{side}`", *side.at)
    if isinstance(left, ast.Static) and isinstance(right, ast.Static):
        return _fold(e)
    if isinstance(left, ast.Static):
        if op not in _FLIP:
            raise Unsupported(f"a regex must follow the field it matches: `{e}`", *e.at)
        left, op, right = right, _FLIP[op], left
    if not isinstance(right, ast.Static):
        raise Unsupported(f"comparing two fields is not supported: `{e}`", *e.at)
    assert isinstance(left, ast.Attribute | ast.Intrinsic)
    tag = _tag(left)
    if right.type == "nil":
        raise Unsupported(f"existence tests (`{left} {op} nil`) are not supported", *e.at)
    value = _value(tag, right, e)
    if op in ("=~", "!~"):
        _check_regex(str(value), right)
    try:
        return Condition(tag=tag, op=op, value=value)
    except ValidationError as err:
        raise InvalidQuery(_pydantic_reason(err), *e.at) from None


def _tag(f: ast.Attribute | ast.Intrinsic) -> str:
    """The spans store's tag name (observ.traces.tags.parse_tag reads it)."""
    if isinstance(f, ast.Attribute):
        if f.scope not in ("", "span", "resource"):
            raise Unsupported(f"`{f.scope}.` attributes are not supported (span. and resource. are)", *f.at)
        return f"{f.scope}.{f.name}"
    if f.scope == "trace" or (not f.scope and f.name in _TRACE_INTRINSICS and f.name != "duration"):
        if f.name in _TRACE_INTRINSICS:
            return _TRACE_INTRINSICS[f.name]
    elif f.scope in ("", "span") and f.name in _SPAN_INTRINSICS:
        return f.name
    raise Unsupported(f"the intrinsic `{f}` is not supported", *f.at)


def _value(tag: str, v: ast.Static, e: ast.Binary) -> str | int | float | bool:
    """The Condition value of a literal, checked against what the tag holds."""
    intrinsic = "" if "." in tag else tag
    if v.type in ("status", "kind"):
        if intrinsic != v.type:
            raise InvalidQuery(f"`{v}` is a {v.type}, it compares only with {v.type}: `{e}`", *e.at)
        return str(v.value)
    if intrinsic in ("status", "kind"):
        raise InvalidQuery(f"{intrinsic} compares with a {intrinsic} name (`{_example(intrinsic)}`): `{e}`", *e.at)
    if v.type == "duration" and intrinsic not in _DURATIONS:
        raise InvalidQuery(f"a duration compares only with duration or traceDuration: `{e}`", *e.at)
    if intrinsic in _DURATIONS and v.type not in ("duration", "int", "float"):
        raise InvalidQuery(f"{intrinsic} compares with a duration (`100ms`): `{e}`", *e.at)
    if intrinsic in _STRINGS and v.type != "string":
        raise InvalidQuery(f"{intrinsic} is a string: `{e}`", *e.at)
    assert v.value is not None  # nil: refused by the caller
    return v.value


def _example(intrinsic: str) -> str:
    return "status = error" if intrinsic == "status" else "kind = server"


def _fold(e: ast.Binary) -> bool:
    """Two literals compared, as Tempo folds them: numbers as numbers, else same types only."""
    a, b = e.left, e.right
    assert isinstance(a, ast.Static) and isinstance(b, ast.Static)
    numeric = ("int", "float", "duration")
    if a.type == "nil" or b.type == "nil":
        return False
    if not (a.type == b.type or (a.type in numeric and b.type in numeric)):
        raise InvalidQuery(f"cannot compare a {a.type} with a {b.type}: `{e}`", *e.at)
    x, y = a.value, b.value
    if e.op in ("=~", "!~"):
        if a.type != "string":
            raise InvalidQuery(f"regexes match strings: `{e}`", *e.at)
        _check_regex(str(y), b)
        return (re2.fullmatch(str(y), str(x)) is not None) == (e.op == "=~")
    if e.op in ("=", "!="):
        return (x == y) == (e.op == "=")
    if a.type in ("bool", "status", "kind"):
        raise InvalidQuery(f"{a.type} values compare only with = and !=: `{e}`", *e.at)
    # same-typed or both numeric, as checked above, which the values' union type cannot say
    return {">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y}[e.op]  # type: ignore[operator]


def _check_regex(pattern: str, where: ast.Static) -> None:
    """RE2 (what DuckDB runs) must accept the pattern; its reason is bytes in google-re2's error."""
    try:
        re2.compile(pattern)
    except re2.error as err:
        reason = err.args[0] if err.args else err
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise InvalidQuery(f"error parsing regexp {pattern!r}: {text}", *where.at) from None


def _pydantic_reason(e: ValidationError) -> str:
    msg = str(e.errors()[0].get("msg", e))
    return msg.removeprefix("Value error, ")


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = ["TraceQLError", "compile_query", "spansets"]
