"""TraceQL text -> syntax tree (observ/traces/traceql/ast.py), with Tempo's lexical rules and error wording.

`parse(text)` returns a SpansetFilter, a SpansetOp or a Pipeline, or raises ParseError(reason, line, col).
lark's LALR parser runs the callbacks below as it reduces (no recursion), and the tree is bounded to
MAX_NODES nodes, so whoever walks it recursively cannot overflow the stack. Statics are folded where Tempo
folds them: `-1` is the integer -1, `nil != .a` is `.a != nil`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from observ.gocompat.durations import parse_duration_ns
from observ.logql.errors import ParseError as LogQLParseError
from observ.logql.syntax.parser import unquote
from observ.traces.model import INT64_MAX
from observ.traces.traceql import ast
from observ.traces.traceql.errors import ParseError

MAX_INPUT_BYTES = 16 * 1024
"""Far above what Grafana's editor sends; parsing this much takes ~0.1 s on one core."""
MAX_NODES = 512
"""Bounds the tree: 10,000 conditions are refused while parsing, long before anything walks them."""

STATUS = ("error", "ok", "unset")
KIND = ("unspecified", "internal", "server", "client", "producer", "consumer")
INTRINSICS = frozenset(
    {"duration", "name", "status", "statusMessage", "kind", "parent", "childCount", "traceDuration",
     "rootServiceName", "rootName", "rootService", "nestedSetLeft", "nestedSetRight", "nestedSetParent", "id",
     "traceID", "spanID", "parentID", "timeSinceStart", "version"}
)  # fmt: skip
"""Every intrinsic keyword of Tempo's lexer; the compiler says which ones observ runs."""
SCOPED_INTRINSICS = {
    "trace": ("duration", "rootName", "rootService", "id"),
    "span": ("duration", "name", "kind", "status", "statusMessage", "id", "parentID", "childCount"),
    "event": ("name", "timeSinceStart"),
    "link": ("traceID", "spanID"),
    "instrumentation": ("name", "version"),
}
"""Tempo's scoped intrinsics (expr.y): `trace:status` is a syntax error there, so here too."""
_DISPLAY = {
    "WORD": "IDENTIFIER", "ATTRIBUTE": "attribute", "SCOPED": "scoped intrinsic", "STRING": "STRING", "INT": "INTEGER",
    "FLOAT": "FLOAT", "DURATION": "DURATION", "LBRACE": "{", "RBRACE": "}", "LPAR": "(", "RPAR": ")", "AND": "&&",
    "OR": "||", "PIPE": "|", "EQ": "=", "NEQ": "!=", "RE": "=~", "NRE": "!~", "GT": ">", "GTE": ">=", "LT": "<",
    "LTE": "<=", "ADD": "+", "SUB": "-", "MUL": "*", "DIV": "/", "MOD": "%", "POW": "^", "NOT": "!",
    "STRUCT": "structural operator", "REST": "pipeline", "$END": "$end",
}  # fmt: skip


def _at(tok: Token) -> ast.Pos:
    return (tok.line or 0, tok.column or 0)


def _attribute_name(raw: str, tok: Token) -> str:
    """Tempo's parseAttribute: bare runes as they are, quoted parts unescaped (only `\\"` and `\\\\`)."""
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        if raw[i] != '"':
            out.append(raw[i])
            i += 1
            continue
        i += 1
        while i < n and raw[i] != '"':
            if raw[i] == "\\":
                if i + 1 >= n or raw[i + 1] not in '\\"':
                    raise ParseError("invalid escape sequence", *_at(tok))
                i += 1
            out.append(raw[i])
            i += 1
        if i >= n:
            raise ParseError('unexpected EOF, expecting "', *_at(tok))
        i += 1
    return "".join(out)


class _Build:
    """lark callbacks: each builds one node and counts it against MAX_NODES."""

    def __init__(self) -> None:
        self.nodes = 0

    def _count(self, tok: Token) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ParseError(f"the query has more than {MAX_NODES} terms", *_at(tok))

    def pipeline(self, c: list[Any]) -> ast.Pipeline:
        return ast.Pipeline(c[0], c[2].value.strip(), _at(c[1]))

    def spanset_op(self, c: list[Any]) -> ast.SpansetOp:
        self._count(c[1])
        return ast.SpansetOp(c[1].value, c[0], c[2], _at(c[1]))

    def paren(self, c: list[Any]) -> Any:
        return c[1]

    def filter(self, c: list[Any]) -> ast.SpansetFilter:
        self._count(c[0])
        expr = c[1] if len(c) == 3 else ast.Static("bool", True, _at(c[0]))
        return ast.SpansetFilter(expr, _at(c[0]))

    def binary(self, c: list[Any]) -> ast.FieldExpr:
        left, op, right = c
        self._count(op)
        nil_left, nil_right = _is_nil(left), _is_nil(right)
        if op.value in ("=", "!=") and (nil_left or nil_right):
            if nil_left and nil_right:
                return ast.Static("bool", False, _at(op))  # Tempo: nil compares equal to nothing
            field = right if nil_left else left
            return ast.Binary(op.value, field, ast.Static("nil", None, _at(op)), _at(op))
        return ast.Binary(op.value, left, right, _at(op))

    def unary(self, c: list[Any]) -> ast.FieldExpr:
        op, operand = c
        self._count(op)
        if (
            op.value == "-"
            and isinstance(operand, ast.Static)
            and operand.type in ("int", "float", "duration")
            and isinstance(operand.value, int | float)
        ):
            return ast.Static(operand.type, -operand.value, _at(op))
        return ast.Unary(op.value, operand, _at(op))

    def string(self, c: list[Token]) -> ast.Static:
        self._count(c[0])
        try:
            return ast.Static("string", unquote(c[0]), _at(c[0]))
        except LogQLParseError as e:
            raise ParseError(e.reason, *_at(c[0])) from None

    def int(self, c: list[Token]) -> ast.Static:
        self._count(c[0])
        value = int(c[0].value)
        if value > INT64_MAX:
            raise ParseError(f'strconv.Atoi: parsing "{c[0].value}": value out of range', *_at(c[0]))
        return ast.Static("int", value, _at(c[0]))

    def float(self, c: list[Token]) -> ast.Static:
        self._count(c[0])
        return ast.Static("float", float(c[0].value), _at(c[0]))

    def duration(self, c: list[Token]) -> ast.Static:
        self._count(c[0])
        ns = parse_duration_ns(c[0].value)
        if ns > INT64_MAX:
            raise ParseError(f"duration {c[0].value} is out of range", *_at(c[0]))
        return ast.Static("duration", ns, _at(c[0]))

    def attribute(self, c: list[Token]) -> ast.Attribute:
        tok = c[0]
        self._count(tok)
        scope, _, raw = tok.value.partition(".")
        name = _attribute_name(raw, tok)
        if not name:
            raise ParseError("syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER", *_at(tok))
        return ast.Attribute(scope, name, _at(tok))

    def scoped(self, c: list[Token]) -> ast.Intrinsic:
        self._count(c[0])
        scope, _, name = c[0].value.partition(":")
        if name not in SCOPED_INTRINSICS.get(scope, ()):
            raise ParseError(f"syntax error: {scope}:{name} is not an intrinsic of scope {scope}", *_at(c[0]))
        return ast.Intrinsic(name, scope, _at(c[0]))

    def word(self, c: list[Token]) -> ast.FieldExpr:
        tok = c[0]
        self._count(tok)
        w, at = tok.value, _at(tok)
        if w in INTRINSICS:
            return ast.Intrinsic(w, "", at)
        if w in ("true", "false"):
            return ast.Static("bool", w == "true", at)
        if w == "nil":
            return ast.Static("nil", None, at)
        if w in STATUS:
            return ast.Static("status", w, at)
        if w in KIND:
            return ast.Static("kind", w, at)
        if w in ("minInt", "maxInt"):
            return ast.Static("int", -INT64_MAX - 1 if w == "minInt" else INT64_MAX, at)
        raise ParseError(f"unknown identifier: {w}", *at)


def _is_nil(e: ast.FieldExpr) -> bool:
    return isinstance(e, ast.Static) and e.type == "nil"


_PARSER = Lark(
    (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8"),
    parser="lalr",
    lexer="contextual",
    propagate_positions=False,
    maybe_placeholders=False,
)


def parse(text: str) -> ast.Query:
    """The syntax tree of a TraceQL query; ParseError says what is wrong and where."""
    if not isinstance(text, str):
        raise ParseError(f"a query must be a string, got {type(text).__name__}")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_BYTES:
        raise ParseError(f"the query is longer than {MAX_INPUT_BYTES} bytes")
    if not text.strip():
        raise ParseError("syntax error: unexpected $end, expecting { or (", 1, len(text) + 1)
    return _Transform(_Build()).transform(_parse_tree(text))


def _parse_tree(text: str) -> Any:
    try:
        return _PARSER.parse(text)
    except UnexpectedCharacters as e:
        # lark's base class declares `pos_in_stream = None`, so mypy reads None; the lexer sets the int
        pos = cast(int, e.pos_in_stream)
        shown = text[pos] if pos < len(text) else "$end"
        raise ParseError(f"syntax error: unexpected {shown}", e.line, e.column) from None
    except UnexpectedEOF as e:
        raise ParseError(_expecting("$end", set(e.expected)), *_end(text)) from None
    except UnexpectedToken as e:
        if e.token.type == "$END":
            raise ParseError(_expecting("$end", e.expected), *_end(text)) from None
        word = e.token.value if e.token.type == "WORD" else None
        # the contextual lexer's fallback may read the rest as a pipeline's tail: name its first rune instead
        shown = e.token.value[0] if e.token.type == "REST" else _DISPLAY.get(e.token.type, e.token.type)
        reason = _expecting(shown, e.expected)
        if e.token.type == "PIPE":
            reason += " (pipelines are outside observ's TraceQL subset)"
        if word and word in _FUNCTIONS:
            reason += f" ({word}() is a pipeline or metrics function, which observ's TraceQL subset does not run)"
        raise ParseError(reason, e.line, e.column) from None
    except UnexpectedInput as e:  # pragma: no cover - lark raises the three above
        raise ParseError(f"syntax error: {e}", getattr(e, "line", 0), getattr(e, "column", 0)) from None


_FUNCTIONS = frozenset(
    {"count", "avg", "max", "min", "sum", "by", "coalesce", "select", "rate", "count_over_time", "min_over_time",
     "max_over_time", "avg_over_time", "sum_over_time", "quantile_over_time", "histogram_over_time", "compare",
     "topk", "bottomk"}
)  # fmt: skip


def _expecting(unexpected: str, expected: set[str] | frozenset[str] | None) -> str:
    names = sorted({_DISPLAY.get(t, t) for t in expected or ()} - {"pipeline"})
    if names and len(names) <= 4:
        return f"syntax error: unexpected {unexpected}, expecting {' or '.join(names)}"
    return f"syntax error: unexpected {unexpected}"


def _end(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


class _Transform:
    """Walks lark's tree bottom-up without recursion and calls _Build's method named by each rule."""

    def __init__(self, build: _Build) -> None:
        self.build = build

    def transform(self, tree: Tree) -> Any:
        done: dict[int, Any] = {}
        stack: list[tuple[Any, bool]] = [(tree, False)]
        while stack:
            node, expanded = stack.pop()
            if not isinstance(node, Tree):
                continue
            if not expanded:
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.children))
                continue
            children = [done.pop(id(ch)) if isinstance(ch, Tree) else ch for ch in node.children]
            done[id(node)] = getattr(self.build, str(node.data))(children)
        return done[id(tree)]
