"""LogQL text → syntax tree (observ/logql/syntax/ast.py), with Loki's rules and error wording.

`parse(text)` returns a LogExpr or a SampleExpr; `parse_selector(text)` the selector of `match[]` /
`query` parameters. Every fault is a ParseError(reason, line, col) worded like Loki's parser.

lark's LALR parser runs the callbacks below as it reduces (no parse tree, no recursion), so deep input
cannot overflow the stack; the finished tree is then bounded to MAX_DEPTH levels for everyone who walks
it recursively. Lexical faults (bad strings, regexes, durations) fail at once, like Loki's lexer;
semantic faults (wrong operand types, bad parameters, empty-compatible selectors) are collected and
raised only once the whole text parsed, so a syntax error further on still wins, as in Loki. Unlike
Loki, those semantic errors carry the position of the offending operator or selector.

Not folded, unlike Loki: `1 + 1` stays a BinaryOp (Loki reduces it to 2), so every tree round-trips
through the formatter; the engine evaluates literal-only operations itself.
"""

from __future__ import annotations

import math
import re
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from observ.gocompat.durations import parse_duration_ns
from observ.gocompat.humanize import BYTE_SIZES
from observ.gocompat.strconv import go_quote
from observ.logql.errors import LogQLError, ParseError
from observ.logql.goregexp import compile_regex
from observ.logql.log.pattern import PatternMatcher
from observ.logql.log.regexp import RegexpExtractor
from observ.logql.syntax import ast

MAX_INPUT_BYTES = 128 * 1024
"""Loki's maxInputSize."""
MAX_DEPTH = 200
"""Nesting bound of the tree, so recursive consumers (formatter, engine, dataclass eq) never overflow."""

EMPTY_COMPATIBLE = (
    "queries require at least one regexp or equality matcher that does not have an empty-compatible value. "
    'For instance, app=~".*" does not meet this requirement, but app=~".+" will'
)
_MAX_INT64 = 2**63 - 1
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

# --- error wording (goyacc's verbose errors over Loki's token names) ------------------------------

_DISPLAY = {
    "NAME": "IDENTIFIER", "STRING": "STRING", "NUMBER": "NUMBER", "DURATION": "DURATION", "BYTES": "BYTES",
    "RANGE": "RANGE", "FLAG": "PARSER_FLAG", "EQ": "=", "NEQ": "!=", "RE": "=~", "NRE": "!~", "NPA": "!>",
    "PIPE_EXACT": "|=", "PIPE_MATCH": "|~", "PIPE_PATTERN": "|>", "PIPE": "|", "LBRACE": "{", "RBRACE": "}",
    "LPAR": "(", "RPAR": ")", "COMMA": ",", "BY": "by", "WITHOUT": "without", "BOOL": "bool", "OFFSET": "offset",
    "ON": "on", "IGNORING": "ignoring", "GROUP_LEFT": "group_left", "GROUP_RIGHT": "group_right", "OR": "or",
    "AND": "and", "UNLESS": "unless", "ADD": "+", "SUB": "-", "MUL": "*", "DIV": "/", "MOD": "%", "POW": "^",
    "CMP_EQ": "==", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<=", "JSON": "json", "LOGFMT": "logfmt",
    "REGEXP": "regexp", "PATTERN": "pattern", "UNPACK": "unpack", "LINE_FORMAT": "line_format",
    "LABEL_FORMAT": "label_format", "DECOLORIZE": "decolorize", "DROP": "drop", "KEEP": "keep", "UNWRAP": "unwrap",
    "IP": "ip", "VECTOR": "VECTOR", "LABEL_REPLACE": "label_replace", "$END": "$end",
}  # fmt: skip
_CONV_DISPLAY = {"bytes": "BYTES_CONV", "duration": "DURATION_CONV", "duration_seconds": "DURATION_SECONDS_CONV"}
_RANGE_DISPLAY = (
    "COUNT_OVER_TIME", "RATE", "RATE_COUNTER", "BYTES_OVER_TIME", "BYTES_RATE", "AVG_OVER_TIME", "SUM_OVER_TIME",
    "MIN_OVER_TIME", "MAX_OVER_TIME", "STDVAR_OVER_TIME", "STDDEV_OVER_TIME", "QUANTILE_OVER_TIME",
    "FIRST_OVER_TIME", "LAST_OVER_TIME", "ABSENT_OVER_TIME",
)  # fmt: skip
_VECTOR_DISPLAY = ("SUM", "SORT", "SORT_DESC", "AVG", "MAX", "MIN", "COUNT", "STDDEV", "STDVAR", "BOTTOMK", "TOPK")
_EXPANDED = {"RANGE_OP": _RANGE_DISPLAY, "VECTOR_OP": _VECTOR_DISPLAY, "CONV_OP": tuple(_CONV_DISPLAY.values())}
_LOKI_TOKENS = (
    "BYTES", "IDENTIFIER", "STRING", "NUMBER", "PARSER_FLAG", "DURATION", "RANGE", "=", "=~", "!~", "!>", "{", "}",
    ",", "|~", "|=", "|>", "(", ")", "by", "without", "COUNT_OVER_TIME", "RATE", "RATE_COUNTER", "SUM", "SORT",
    "SORT_DESC", "AVG", "MAX", "MIN", "COUNT", "STDDEV", "STDVAR", "BOTTOMK", "TOPK", "BYTES_OVER_TIME", "BYTES_RATE",
    "bool", "json", "regexp", "logfmt", "|", "line_format", "label_format", "unwrap", "AVG_OVER_TIME",
    "SUM_OVER_TIME", "MIN_OVER_TIME", "MAX_OVER_TIME", "STDVAR_OVER_TIME", "STDDEV_OVER_TIME", "QUANTILE_OVER_TIME",
    "BYTES_CONV", "DURATION_CONV", "DURATION_SECONDS_CONV", "FIRST_OVER_TIME", "LAST_OVER_TIME", "ABSENT_OVER_TIME",
    "VECTOR", "label_replace", "unpack", "offset", "pattern", "ip", "on", "ignoring", "group_left", "group_right",
    "decolorize", "drop", "keep", "or", "and", "unless", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "^",
)  # fmt: skip
"""Loki's token declaration order, which goyacc lists expected tokens in."""
_LOKI_ORDER = {name: i for i, name in enumerate(_LOKI_TOKENS)}


def _token_display(tok: Token) -> str:
    if tok.type in ("RANGE_OP", "VECTOR_OP"):
        return tok.value.upper()
    if tok.type == "CONV_OP":
        return _CONV_DISPLAY[tok.value.lower()]
    return _DISPLAY.get(tok.type, tok.type)


def _syntax_error(unexpected: str, expected: set[str]) -> str:
    """goyacc names at most four expected tokens, in declaration order, and never `$end`."""
    names: list[str] = []
    for term in expected:
        names.extend(_EXPANDED.get(term, (_DISPLAY.get(term, term),)))
    names = sorted({n for n in names if n != "$end"}, key=lambda n: _LOKI_ORDER.get(n, len(_LOKI_ORDER)))
    reason = f"syntax error: unexpected {unexpected}"
    if 0 < len(names) <= 4:
        reason += ", expecting " + " or ".join(names)
    return reason


def _at(tok: Token) -> tuple[int, int]:
    """A token's position; lark types it optional for tokens it did not lex, which never reach here."""
    return (tok.line or 0, tok.column or 0)


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _from_lark(error: UnexpectedInput, text: str) -> ParseError:
    if isinstance(error, UnexpectedToken):
        tok = error.token
        line, col = _end_position(text) if tok.type == "$END" else _at(tok)
        return ParseError(_syntax_error(_token_display(tok), set(error.expected)), line, col)
    if not isinstance(error, UnexpectedCharacters):  # lark's LALR raises only the two kinds above
        return ParseError("syntax error: unexpected $end", *_end_position(text))
    if error.char in '"`':
        return ParseError("literal not terminated", error.line, error.column)
    if error.char == "[":
        return ParseError("missing closing ']' in duration", error.line, error.column)
    return ParseError(_syntax_error("IDENTIFIER", set(error.allowed or ())), error.line, error.column)


# --- literals ------------------------------------------------------------------------------------

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_HEX = frozenset("0123456789abcdefABCDEF")
_SURROGATE = re.compile("[\ud800-\udfff]")


def unquote(tok: Token) -> str:
    """Go's strconv.Unquote for "interpreted" and `raw` strings (raw ones drop carriage returns)."""
    raw = tok.value
    body = raw[1:-1]
    if raw[0] == "`":
        out = body.replace("\r", "")
    elif "\\" not in body:
        out = body
    else:
        out = _unescape(body, tok)
    if _SURROGATE.search(out):
        raise ParseError("invalid UTF-8 rune", *_at(tok))
    return out


def _unescape(body: str, tok: Token) -> str:
    pieces: list[str] = []
    pending = bytearray()  # \x and octal escapes are bytes; runs of them must decode as UTF-8

    def flush() -> None:
        if pending:
            try:
                pieces.append(pending.decode("utf-8"))
            except UnicodeDecodeError:
                raise ParseError("invalid UTF-8 rune", *_at(tok)) from None
            pending.clear()

    bad = ParseError("invalid syntax", *_at(tok))
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            flush()
            pieces.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            raise bad
        esc = body[i + 1]
        if esc in _ESCAPES:
            flush()
            pieces.append(_ESCAPES[esc])
            i += 2
        elif esc == "x":
            digits = body[i + 2 : i + 4]
            if len(digits) != 2 or not set(digits) <= _HEX:
                raise bad
            pending.append(int(digits, 16))
            i += 4
        elif esc in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
                raise bad
            pending.append(int(digits, 8))
            i += 4
        elif esc in "uU":
            size = 4 if esc == "u" else 8
            digits = body[i + 2 : i + 2 + size]
            if len(digits) != size or not set(digits) <= _HEX:
                raise bad
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise bad
            flush()
            pieces.append(chr(code))
            i += 2 + size
        else:
            raise bad
    flush()
    return "".join(pieces)


def _number(tok: Token, what: str = "literal") -> float:
    """A number Go's ParseFloat refuses is a fault of the expression: Loki gives no position."""
    value = float(tok.value)
    if math.isinf(value):
        raise ParseError(
            f'unable to parse {what} as a float: strconv.ParseFloat: parsing "{tok.value}": value out of range'
        )
    return value


_PROM_DURATION = re.compile("".join(f"(?:([0-9]+){unit})?" for unit in ("y", "w", "d", "h", "m", "s", "ms")))
_PROM_UNITS = (365 * 86400 * 10**9, 7 * 86400 * 10**9, 86400 * 10**9, 3600 * 10**9, 60 * 10**9, 10**9, 10**6)


def _range(tok: Token) -> int:
    """`[5m]`: Prometheus' model.ParseDuration (integer units y w d h m s ms, largest first)."""
    text = tok.value[1:-1]
    if text == "":
        raise ParseError("empty duration string", *_at(tok))
    if text == "0":
        return 0
    m = _PROM_DURATION.fullmatch(text)
    if not m or not any(m.groups()):
        raise ParseError(f"not a valid duration string: {go_quote(text)}", *_at(tok))
    ns = sum(int(g) * unit for g, unit in zip(m.groups(), _PROM_UNITS, strict=True) if g)
    if ns > _MAX_INT64:
        raise ParseError("duration out of range", *_at(tok))
    return ns


def _duration(tok: Token) -> int:
    ns = parse_duration_ns(tok.value)
    if abs(ns) > _MAX_INT64:
        raise ParseError(f"not a valid duration string: {go_quote(tok.value)}", *_at(tok))
    return ns


_SIZE = re.compile(r"([0-9.]+)([A-Za-z]+)")


def _bytes(tok: Token) -> float:
    """A size literal in bytes, with go-humanize's units. Loki's lexer keeps whole bytes (ParseBytes gives a
    uint64); the fraction is kept here, so that every tree `format` prints parses back to itself."""
    m = _SIZE.fullmatch(tok.value)
    size = BYTE_SIZES.get(m.group(2).lower()) if m else None
    if m is None or size is None:
        raise ParseError(f"invalid bytes value: {go_quote(tok.value)}", *_at(tok))
    return float(m.group(1)) * size


# --- regular expressions (Go's syntax, compiled by RE2) --------------------------------------------------------


def _regex(pattern: str, tok: Token | None, prefix: str = "") -> Any:
    """`tok` None: a fault Loki finds while building the expression (matchers, label_replace), without position."""
    try:
        return compile_regex(pattern)
    except LogQLError as e:
        raise ParseError(prefix + str(e), *(_at(tok) if tok else ())) from None


def matches_empty(matcher: ast.Matcher) -> bool:
    """Whether the matcher accepts an absent label (Loki's SplitFiltersAndMatchers)."""
    if matcher.op is ast.MatchOp.EQ:
        return matcher.value == ""
    if matcher.op is ast.MatchOp.NEQ:
        return matcher.value != ""
    hit = compile_regex(matcher.value).fullmatch("") is not None
    return hit if matcher.op is ast.MatchOp.RE else not hit


# --- pipeline stage arguments ----------------------------------------------------------------------


def _check_stage(build: Any, pattern: str, tok: Token, prefix: str) -> None:
    """Build the pipeline's own matcher once, so the parser refuses exactly what the pipeline would."""
    try:
        build(pattern)
    except LogQLError as e:
        raise ParseError(prefix + str(e), *_at(tok)) from None


def _line_pattern(pattern: str) -> PatternMatcher:
    return PatternMatcher(pattern, line_filter=True)


# --- label filter chains ---------------------------------------------------------------------------

_LF_PREC = {"and": 2, "or": 1}  # ',' and juxtaposition have no precedence in Loki's grammar: yacc shifts them


def _combine_label_filters(items: list[Any]) -> ast.LabelFilterExpr:
    """Resolve `a or b, c d and e` exactly as Loki's yacc grammar does (operator-precedence parse)."""
    operands: list[ast.LabelFilterExpr] = [items[0]]
    operators: list[str] = []

    def reduce() -> None:
        op = operators.pop()
        right = operands.pop()
        left = operands.pop()
        operands.append(ast.LabelFilterOr(left, right) if op == "or" else ast.LabelFilterAnd(left, right))

    i = 1
    while i < len(items):
        item = items[i]
        if isinstance(item, Token):
            op = "," if item.type == "COMMA" else item.value.lower()
            i += 1
        else:
            op = ","
        while operators and operators[-1] in _LF_PREC and op in _LF_PREC and _LF_PREC[operators[-1]] >= _LF_PREC[op]:
            reduce()
        operators.append(op)
        operands.append(items[i])
        i += 1
    while operators:
        reduce()
    return operands[0]


# --- tree building ---------------------------------------------------------------------------------

_MATCH_OPS = {"EQ": ast.MatchOp.EQ, "NEQ": ast.MatchOp.NEQ, "RE": ast.MatchOp.RE, "NRE": ast.MatchOp.NRE}
_CMP_OPS = {
    "GT": ast.CmpOp.GT, "GTE": ast.CmpOp.GTE, "LT": ast.CmpOp.LT, "LTE": ast.CmpOp.LTE,
    "NEQ": ast.CmpOp.NEQ, "EQ": ast.CmpOp.EQ, "CMP_EQ": ast.CmpOp.EQ,
}  # fmt: skip
_LINE_OPS = {
    "PIPE_EXACT": ast.LineFilterOp.CONTAINS, "NEQ": ast.LineFilterOp.NOT_CONTAINS,
    "PIPE_MATCH": ast.LineFilterOp.MATCH, "NRE": ast.LineFilterOp.NOT_MATCH,
    "PIPE_PATTERN": ast.LineFilterOp.PATTERN, "NPA": ast.LineFilterOp.NOT_PATTERN,
}  # fmt: skip
_COMPARISONS = frozenset({"==", "!=", ">", ">=", "<", "<="})
_SET_OPS = frozenset({"and", "or", "unless"})
_GROUPING_RANGE_OPS = frozenset(
    {"avg_over_time", "stddev_over_time", "stdvar_over_time", "quantile_over_time", "max_over_time",
     "min_over_time", "first_over_time", "last_over_time"}
)  # fmt: skip


class _Offset(int):
    """`offset d` in nanoseconds (a distinct type so range callbacks can tell it from other children)."""


class _State:
    """Per-parse bookkeeping, reached from the shared callbacks through a context variable.

    Facts about nodes are keyed by id() and keep the node itself alive, so an id is never reused while
    the parse runs (a literal inside `vector(1)` is dropped, and its id could otherwise come back).
    """

    __slots__ = ("_pos", "_scalars", "deferred", "validate")

    def __init__(self, validate: bool) -> None:
        self.validate = validate
        self.deferred: list[ParseError] = []
        self._pos: dict[int, tuple[object, tuple[int, int]]] = {}  # selector or log expr -> position of its `{`
        self._scalars: dict[int, tuple[object, float]] = {}  # literal-only subtree -> its value

    def set_pos(self, node: object, pos: tuple[int, int]) -> None:
        self._pos[id(node)] = (node, pos)

    def pos(self, node: object) -> tuple[int, int]:
        return self._pos.get(id(node), (None, (0, 0)))[1]

    def set_scalar(self, node: object, value: float) -> None:
        self._scalars[id(node)] = (node, value)

    def scalar(self, node: object) -> float | None:
        hit = self._scalars.get(id(node))
        return None if hit is None else hit[1]

    def defer(self, reason: str) -> None:
        """A rule broken by a whole expression: Loki reports it without a position (`parse error : ...`)."""
        self.deferred.append(ParseError(reason))


_STATE: ContextVar[_State] = ContextVar("logql_parse_state")


def _names(children: list[Any]) -> tuple[str, ...]:
    return tuple(c.value for c in children if isinstance(c, Token) and c.type == "NAME")


def _fold(op: str, a: float, b: float) -> float:
    """Loki's MergeBinOp on two literals: only needed to print the value in an error message."""
    try:
        match op:
            case "+":
                return a + b
            case "-":
                return a - b
            case "*":
                return a * b
            case "/":
                return a / b if b else math.nan
            case "%":
                return math.fmod(a, b) if b else math.nan
            case "^":
                return math.pow(a, b)
    except (OverflowError, ValueError):
        return math.nan
    return float({"==": a == b, "!=": a != b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}.get(op, False))


def _go_float(v: float) -> str:
    """Go's %f."""
    if math.isnan(v):
        return "NaN"
    return ("+Inf" if v > 0 else "-Inf") if math.isinf(v) else f"{v:f}"


class _Builder:
    """lark callbacks, one per grammar rule (or alias); each gets the rule's children."""

    # -- top level and binary operations

    def start(self, c: list[Any]) -> ast.Expr:
        return c[0]

    def paren(self, c: list[Any]) -> ast.Expr:
        return c[1]

    def bin_mod(self, c: list[Any]) -> tuple[Token | None, ast.VectorMatching]:
        bool_tok = next((x for x in c if isinstance(x, Token)), None)
        matching = next((x for x in c if isinstance(x, ast.VectorMatching)), ast.VectorMatching())
        return bool_tok, matching

    def match_clause(self, c: list[Any]) -> ast.VectorMatching:
        card, include = "", ()
        if len(c) == 3:
            card, include = c[2]
        return ast.VectorMatching(on=c[0].type == "ON", labels=c[1], card=card, include=include)

    def group_clause(self, c: list[Any]) -> tuple[str, tuple[str, ...]]:
        return c[0].value.lower(), c[1] if len(c) > 1 else ()

    def label_list(self, c: list[Any]) -> tuple[str, ...]:
        return _names(c)

    def grouping(self, c: list[Any]) -> ast.Grouping:
        return ast.Grouping(labels=c[1], without=c[0].type == "WITHOUT")

    def binop(self, c: list[Any]) -> ast.BinaryOp:
        left, op_tok, (bool_tok, matching), right = c
        op = op_tok.value.lower()
        state = _STATE.get()
        for side, leg in (("left", left), ("right", right)):
            if isinstance(leg, ast.LogExpr):
                kind = "PipelineExpr" if leg.pipeline else "MatchersExpr"
                state.defer(f"unexpected type for {side} leg of binary operation ({op}): *syntax.{kind}")
        lval, rval = state.scalar(left), state.scalar(right)
        if op in _SET_OPS:
            for side, val in (("left", lval), ("right", rval)):
                if val is not None:
                    state.defer(
                        f"unexpected literal for {side} leg of logical/set binary operation ({op}): {_go_float(val)}"
                    )
            if matching.card:
                state.defer(f'no grouping allowed for "{op}" operation')
        if bool_tok is not None and op not in _COMPARISONS:
            state.defer("bool modifier can only be used on comparison operators")
        node = ast.BinaryOp(op, left, right, return_bool=bool_tok is not None, matching=matching)
        if lval is not None and rval is not None:
            state.set_scalar(node, _fold(op, lval, rval))
        return node

    # -- literals and functions

    def literal(self, c: list[Any]) -> ast.NumberLiteral:
        value = _number(c[-1])
        node = ast.NumberLiteral(-value if c[0].type == "SUB" else value)
        _STATE.get().set_scalar(node, node.value)
        return node

    def vector_lit(self, c: list[Any]) -> ast.VectorLiteral:
        return ast.VectorLiteral(c[2].value)

    def label_replace(self, c: list[Any]) -> ast.LabelReplace:
        expr = self._metric(c[2])
        dst, repl, src, regex = (unquote(t) for t in c[4:11:2])
        if not _LABEL_NAME.fullmatch(dst):
            _STATE.get().defer(f"invalid destination label name in label_replace(): {dst}")
        _regex(f"^(?:{regex})$", None, "invalid regex in label_replace: ")
        return ast.LabelReplace(expr, dst, repl, src, regex)

    def _metric(self, expr: ast.Expr) -> ast.SampleExpr:
        """Loki's grammar wants a metric expression here, so a log query is a syntax error at its `{`."""
        if isinstance(expr, ast.LogExpr):
            line, col = _STATE.get().pos(expr)
            raise ParseError("syntax error: unexpected {", line, col)
        return expr

    def range_agg(self, c: list[Any]) -> ast.RangeAggregation:
        op_tok = c[0]
        op = op_tok.value.lower()
        grouping = next((x for x in c if isinstance(x, ast.Grouping)), None)
        log_range = next(x for x in c if isinstance(x, ast.LogRange))
        param_tok = next((x for x in c if isinstance(x, Token) and x.type == "NUMBER"), None)
        state = _STATE.get()
        param = None
        if param_tok is not None:
            if op != "quantile_over_time":
                state.defer(f"parameter {param_tok.value} not supported for operation {op}")
            param = _number(param_tok, "parameter")
        elif op == "quantile_over_time":
            state.defer(f"parameter required for operation {op}")
        if grouping is not None and op not in _GROUPING_RANGE_OPS:
            state.defer(f"grouping not allowed for {op} aggregation")
        elif log_range.unwrap is not None and op not in ast.UNWRAPPED_RANGE_OPS:
            state.defer(f"invalid aggregation {op} with unwrap")
        elif log_range.unwrap is None and op not in ast.LOG_RANGE_OPS:
            state.defer(f"invalid aggregation {op} without unwrap")
        return ast.RangeAggregation(op, log_range, param, grouping)

    def vector_agg(self, c: list[Any]) -> ast.VectorAggregation:
        op_tok = c[0]
        op = op_tok.value.lower()
        grouping = next((x for x in c if isinstance(x, ast.Grouping)), None)
        param_tok = next((x for x in c if isinstance(x, Token) and x.type == "NUMBER"), None)
        expr = self._metric(next(x for x in c[1:] if not isinstance(x, (Token, ast.Grouping))))
        state = _STATE.get()
        param = None
        if op in ("topk", "bottomk"):
            if param_tok is None:
                state.defer(f"parameter required for operation {op}")
            elif not param_tok.value.isdigit() or int(param_tok.value) > _MAX_INT64:
                state.defer(f"invalid parameter {op}({param_tok.value},")
            elif int(param_tok.value) <= 0:
                state.defer(f"invalid parameter (must be greater than 0) {op}({param_tok.value}")
            else:
                param = float(int(param_tok.value))
        elif param_tok is not None:
            state.defer(f"unsupported parameter for operation {op}({param_tok.value},")
        if op in ("sort", "sort_desc") and grouping is not None and grouping.labels:
            state.defer("sort and sort_desc doesn't allow grouping by ")
        return ast.VectorAggregation(op, expr, grouping, param)

    # -- log ranges

    def offset(self, c: list[Any]) -> _Offset:
        return _Offset(_duration(c[1]))

    def unwrap(self, c: list[Any]) -> ast.Unwrap:
        if c[2].type == "CONV_OP":
            label, conversion, rest = c[4].value, c[2].value.lower(), c[6:]
        else:
            label, conversion, rest = c[2].value, "", c[3:]
        return ast.Unwrap(label, conversion, tuple(x for x in rest if not isinstance(x, Token)))

    def _log_range(self, c: list[Any]) -> ast.LogRange:
        selector = next(x for x in c if isinstance(x, ast.Selector))
        pipeline = next((x for x in c if isinstance(x, tuple)), ())
        unwrap = next((x for x in c if isinstance(x, ast.Unwrap)), None)
        offset = next((x for x in c if isinstance(x, _Offset)), _Offset(0))
        range_tok = next(x for x in c if isinstance(x, Token) and x.type == "RANGE")
        return ast.LogRange(ast.LogExpr(selector, pipeline), _range(range_tok), int(offset), unwrap)

    range_plain = range_first = range_paren = _log_range

    def range_nested(self, c: list[Any]) -> ast.LogRange:
        return c[1]

    # -- log queries

    def log_expr(self, c: list[Any]) -> ast.LogExpr:
        node = ast.LogExpr(c[0], c[1] if len(c) > 1 else ())
        state = _STATE.get()
        state.set_pos(node, state.pos(c[0]))
        return node

    def selector(self, c: list[Any]) -> ast.Selector:
        node = ast.Selector(tuple(x for x in c if isinstance(x, ast.Matcher)))
        state = _STATE.get()
        state.set_pos(node, (c[0].line, c[0].column))
        if state.validate and all(matches_empty(m) for m in node.matchers):
            state.defer(EMPTY_COMPATIBLE)
        return node

    def matcher(self, c: list[Any]) -> ast.Matcher:
        name, op_tok, value_tok = c
        value = unquote(value_tok)
        op = _MATCH_OPS[op_tok.type]
        if op in (ast.MatchOp.RE, ast.MatchOp.NRE):
            _regex(value, None)
        return ast.Matcher(name.value, op, value)

    def pipeline(self, c: list[Any]) -> tuple[ast.Stage, ...]:
        return (c[0],) if len(c) == 1 else (*c[0], c[1])

    def line_filter(self, c: list[Any]) -> ast.LineFilter:
        op = _LINE_OPS[c[0].type]
        values = [x for x in c[1:] if isinstance(x, _Str | ast.IpPattern)]
        strings = [x for x in values if isinstance(x, _Str)]
        if op in (ast.LineFilterOp.MATCH, ast.LineFilterOp.NOT_MATCH):
            for value in strings:
                _regex(value, value.tok)
        elif op in (ast.LineFilterOp.PATTERN, ast.LineFilterOp.NOT_PATTERN):
            for value in strings:
                _check_stage(_line_pattern, value, value.tok, "")
        return ast.LineFilter(op, tuple(str(v) if isinstance(v, _Str) else v for v in values))

    def filter_value(self, c: list[Any]) -> _Str | ast.IpPattern:
        """A string, or `ip("…")`, whose pattern and operator are checked when the pipeline is built (logql/ip.py)."""
        if c[0].type == "IP":
            return ast.IpPattern(unquote(c[2]))
        return _Str(unquote(c[0]), c[0])

    def json_stage(self, c: list[Any]) -> ast.JsonParser:
        return ast.JsonParser(c[2] if len(c) > 2 else ())

    def logfmt_stage(self, c: list[Any]) -> ast.LogfmtParser:
        flags = {x.value for x in c if isinstance(x, Token) and x.type == "FLAG"}
        params = c[-1] if isinstance(c[-1], tuple) else ()
        return ast.LogfmtParser(strict="--strict" in flags, keep_empty="--keep-empty" in flags, params=params)

    def extractions(self, c: list[Any]) -> tuple[tuple[str, str], ...]:
        return tuple(x for x in c if isinstance(x, tuple))

    def extraction(self, c: list[Any]) -> tuple[str, str]:
        return (c[0].value, unquote(c[2]) if len(c) > 1 else c[0].value)

    def regexp_stage(self, c: list[Any]) -> ast.RegexpParser:
        pattern = unquote(c[2])
        _check_stage(RegexpExtractor, pattern, c[2], "invalid regexp parser: ")
        return ast.RegexpParser(pattern)

    def pattern_stage(self, c: list[Any]) -> ast.PatternParser:
        pattern = unquote(c[2])
        _check_stage(PatternMatcher, pattern, c[2], "invalid pattern parser: ")
        return ast.PatternParser(pattern)

    def unpack_stage(self, c: list[Any]) -> ast.UnpackParser:
        return ast.UnpackParser()

    def decolorize_stage(self, c: list[Any]) -> ast.Decolorize:
        return ast.Decolorize()

    def line_format_stage(self, c: list[Any]) -> ast.LineFormat:
        return ast.LineFormat(unquote(c[2]))

    def label_format_stage(self, c: list[Any]) -> ast.LabelFormat:
        return ast.LabelFormat(tuple(x for x in c if isinstance(x, ast.LabelFormatItem)))

    def label_fmt(self, c: list[Any]) -> ast.LabelFormatItem:
        dst, _, value = c
        if value.type == "NAME":
            return ast.LabelFormatItem(dst.value, value.value, template=False)
        return ast.LabelFormatItem(dst.value, unquote(value), template=True)

    def named(self, c: list[Any]) -> ast.LabelRef:
        if isinstance(c[0], ast.Matcher):
            return ast.LabelRef(c[0].name, c[0])
        return ast.LabelRef(c[0].value)

    def drop_stage(self, c: list[Any]) -> ast.DropLabels:
        return ast.DropLabels(tuple(x for x in c if isinstance(x, ast.LabelRef)))

    def keep_stage(self, c: list[Any]) -> ast.KeepLabels:
        return ast.KeepLabels(tuple(x for x in c if isinstance(x, ast.LabelRef)))

    def label_filter_stage(self, c: list[Any]) -> ast.LabelFilter:
        return ast.LabelFilter(c[1])

    # -- label filters

    def lf_expr(self, c: list[Any]) -> ast.LabelFilterExpr:
        return c[0] if len(c) == 1 else _combine_label_filters(c)

    def lf_string(self, c: list[Any]) -> ast.StringLabelFilter:
        return ast.StringLabelFilter(c[0])

    def lf_duration(self, c: list[Any]) -> ast.DurationLabelFilter:
        return ast.DurationLabelFilter(c[0].value, _CMP_OPS[c[1].type], _duration(c[2]) / 1e9)

    def lf_bytes(self, c: list[Any]) -> ast.BytesLabelFilter:
        return ast.BytesLabelFilter(c[0].value, _CMP_OPS[c[1].type], _bytes(c[2]))

    def lf_number(self, c: list[Any]) -> ast.NumberLabelFilter:
        return ast.NumberLabelFilter(c[0].value, _CMP_OPS[c[1].type], c[2].value)

    def lf_ip(self, c: list[Any]) -> ast.IpLabelFilter:
        return ast.IpLabelFilter(c[0].value, _MATCH_OPS[c[1].type], unquote(c[4]))

    def lf_paren(self, c: list[Any]) -> ast.LabelFilterExpr:
        return c[1]


class _Str(str):
    """A line-filter value that remembers its token, for the position of a regex error."""

    tok: Token

    def __new__(cls, value: str, tok: Token) -> _Str:
        inst = super().__new__(cls, value)
        inst.tok = tok
        return inst


_PARSER = Lark(
    (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8"),
    parser="lalr",
    lexer="contextual",
    maybe_placeholders=False,
    transformer=_Builder(),
)


# --- public API ------------------------------------------------------------------------------------


def parse(text: str) -> ast.Expr:
    """Parse a LogQL query; every fault is a ParseError worded like Loki's."""
    return _parse(text, validate=True)


@lru_cache(maxsize=512)
def parse_cached(text: str) -> ast.Expr:
    """`parse`, remembered: the API and the engine read the same text once (the trees are frozen)."""
    return parse(text)


def parse_selector(text: str, validate: bool = True) -> ast.Selector:
    """The stream selector of `match[]` (/series) or `query` (/labels): `{...}` or a whole log query.

    `validate=False` skips the rule that one matcher must not match the empty string.
    """
    expr = _parse(text, validate=validate)
    if not isinstance(expr, ast.LogExpr):
        raise ParseError("only label matchers is supported")
    return expr.selector


def _parse(text: str, validate: bool) -> ast.Expr:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size >= MAX_INPUT_BYTES:
        raise ParseError(f"input size too long ({size} > {MAX_INPUT_BYTES})")
    state = _State(validate)
    token = _STATE.set(state)
    try:
        # _Builder runs as the parser's transformer, so parse() returns its AST; lark types it as a Tree
        expr = cast(ast.Expr, _PARSER.parse(text))
    except UnexpectedInput as e:
        raise _from_lark(e, text) from None
    finally:
        _STATE.reset(token)
    if state.deferred:
        raise state.deferred[0]
    _check_depth(expr)
    return expr


def _check_depth(expr: ast.Expr) -> None:
    stack: list[tuple[Any, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"query is too deeply nested (more than {MAX_DEPTH} levels)")
        for name in node.__dataclass_fields__:
            child = getattr(node, name)
            if isinstance(child, tuple):
                stack.extend((x, depth + 1) for x in child if hasattr(x, "__dataclass_fields__"))
            elif hasattr(child, "__dataclass_fields__"):
                stack.append((child, depth + 1))
