"""LogQL parser: the trees it builds, Loki's rules and error wording, and that no input escapes ParseError."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observ.logql.errors import ParseError
from observ.logql.syntax import ast
from observ.logql.syntax.format import format_expr
from observ.logql.syntax.parser import MAX_DEPTH, parse, parse_selector

TESTDATA = Path(__file__).with_name("testdata")


def load_canonical() -> list[tuple[str, str]]:
    """Pairs of (query, canonical form) from testdata/canonical.txt."""
    pairs = []
    for block in TESTDATA.joinpath("canonical.txt").read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith("# ")]
        if lines:
            query, canonical = lines
            assert canonical.startswith("=> ")
            pairs.append((query, canonical[3:]))
    return pairs


CANONICAL = load_canonical()

M = ast.Matcher
EQ, NEQ, RE, NRE = ast.MatchOp.EQ, ast.MatchOp.NEQ, ast.MatchOp.RE, ast.MatchOp.NRE
APP = ast.Selector((M("app", EQ, "api"),))
LOG = ast.LogExpr(APP)
FIVE_MIN = 300 * 10**9


def rate(log: ast.LogExpr = LOG, op: str = "rate", **kw: object) -> ast.RangeAggregation:
    return ast.RangeAggregation(op, ast.LogRange(log, FIVE_MIN, **kw))  # type: ignore[arg-type]


def lf(*stages: ast.Stage) -> ast.LogExpr:
    return ast.LogExpr(APP, stages)


def lfilter(expr: ast.LabelFilterExpr) -> ast.LogExpr:
    return lf(ast.LabelFilter(expr))


def s(name: str, value: str, op: ast.MatchOp = EQ) -> ast.StringLabelFilter:
    return ast.StringLabelFilter(M(name, op, value))


TREES: list[tuple[str, ast.Expr]] = [
    ('{app="api"}', LOG),
    (
        '{app=~"a|b", env!="dev", x!~"y.*"}',
        ast.LogExpr(ast.Selector((M("app", RE, "a|b"), M("env", NEQ, "dev"), M("x", NRE, "y.*")))),
    ),
    ('{app="a\\tb\\u00e9\\x41\\101\\\\"}', ast.LogExpr(ast.Selector((M("app", EQ, "a\tbéAA\\"),)))),
    ("{app=`raw\\d\r`}", ast.LogExpr(ast.Selector((M("app", EQ, "raw\\d"),)))),
    ('{app="api"} # comment\n |= "x" # another', lf(ast.LineFilter(ast.LineFilterOp.CONTAINS, ("x",)))),
    (
        '{app="api"} |= "a" or "b" !~ "c"',
        lf(ast.LineFilter(ast.LineFilterOp.CONTAINS, ("a", "b")), ast.LineFilter(ast.LineFilterOp.NOT_MATCH, ("c",))),
    ),
    (
        '{app="api"} |> "<_> x" !> "y" != "z" |~ "w"',
        lf(
            ast.LineFilter(ast.LineFilterOp.PATTERN, ("<_> x",)),
            ast.LineFilter(ast.LineFilterOp.NOT_PATTERN, ("y",)),
            ast.LineFilter(ast.LineFilterOp.NOT_CONTAINS, ("z",)),
            ast.LineFilter(ast.LineFilterOp.MATCH, ("w",)),
        ),
    ),
    (
        '{app="api"} | json | json a, b="c.d" | unpack',
        lf(ast.JsonParser(), ast.JsonParser((("a", "a"), ("b", "c.d"))), ast.UnpackParser()),
    ),
    ('{app="api"} | logfmt --keep-empty x', lf(ast.LogfmtParser(keep_empty=True, params=(("x", "x"),)))),
    (
        '{app="api"} | regexp "(?P<a>.)" | pattern "<b> <_>" | decolorize',
        lf(ast.RegexpParser("(?P<a>.)"), ast.PatternParser("<b> <_>"), ast.Decolorize()),
    ),
    (
        '{app="api"} | line_format "{{.a}}" | label_format x=y, z="{{.w}}"',
        lf(
            ast.LineFormat("{{.a}}"),
            ast.LabelFormat(
                (ast.LabelFormatItem("x", "y", template=False), ast.LabelFormatItem("z", "{{.w}}", template=True))
            ),
        ),
    ),
    (
        '{app="api"} | drop a, b=~"c" | keep d',
        lf(
            ast.DropLabels((ast.LabelRef("a"), ast.LabelRef("b", M("b", RE, "c")))),
            ast.KeepLabels((ast.LabelRef("d"),)),
        ),
    ),
    ('{app="api"} | status >= 500', lfilter(ast.NumberLabelFilter("status", ast.CmpOp.GTE, 500.0))),
    ('{app="api"} | status = -1.5e1', lfilter(ast.NumberLabelFilter("status", ast.CmpOp.EQ, -15.0))),
    ('{app="api"} | latency > 250ms', lfilter(ast.DurationLabelFilter("latency", ast.CmpOp.GT, 0.25))),
    ('{app="api"} | latency != -1h30m', lfilter(ast.DurationLabelFilter("latency", ast.CmpOp.NEQ, -5400.0))),
    ('{app="api"} | size <= 20MB', lfilter(ast.BytesLabelFilter("size", ast.CmpOp.LTE, 20e6))),
    ('{app="api"} | size == 1.5KiB', lfilter(ast.BytesLabelFilter("size", ast.CmpOp.EQ, 1536.0))),
    (
        '{app="api"} | a="1" or b="2" and c="3"',
        lfilter(ast.LabelFilterOr(s("a", "1"), ast.LabelFilterAnd(s("b", "2"), s("c", "3")))),
    ),
    (
        '{app="api"} | a="1" and b="2" or c="3"',
        lfilter(ast.LabelFilterOr(ast.LabelFilterAnd(s("a", "1"), s("b", "2")), s("c", "3"))),
    ),
    # Loki's yacc grammar gives ',' and juxtaposition no precedence: what follows them binds first.
    (
        '{app="api"} | a="1", b="2" or c="3"',
        lfilter(ast.LabelFilterAnd(s("a", "1"), ast.LabelFilterOr(s("b", "2"), s("c", "3")))),
    ),
    (
        '{app="api"} | a="1" b="2" or c="3"',
        lfilter(ast.LabelFilterAnd(s("a", "1"), ast.LabelFilterOr(s("b", "2"), s("c", "3")))),
    ),
    (
        '{app="api"} | a="1" or b="2", c="3"',
        lfilter(ast.LabelFilterOr(s("a", "1"), ast.LabelFilterAnd(s("b", "2"), s("c", "3")))),
    ),
    (
        '{app="api"} | (a="1" or b="2") c!~"3"',
        lfilter(ast.LabelFilterAnd(ast.LabelFilterOr(s("a", "1"), s("b", "2")), s("c", "3", NRE))),
    ),
    ('{app="api"} | a="1" | b="2"', lf(ast.LabelFilter(s("a", "1")), ast.LabelFilter(s("b", "2")))),
    ('rate({app="api"}[5m])', rate()),
    ('rate({app="api"}[5m] offset 1h)', rate(offset_ns=3600 * 10**9)),
    (
        'count_over_time({app="api"}[5m] offset -1m |= "x")',
        rate(lf(ast.LineFilter(ast.LineFilterOp.CONTAINS, ("x",))), "count_over_time", offset_ns=-60 * 10**9),
    ),
    ('count_over_time(({app="api"} | json)[5m])', rate(lf(ast.JsonParser()), "count_over_time")),
    (
        'sum_over_time({app="api"} | unwrap bytes(size) | __error__="" | size > 1 [5m])',
        rate(
            LOG,
            "sum_over_time",
            unwrap=ast.Unwrap("size", "bytes", (s("__error__", ""), ast.NumberLabelFilter("size", ast.CmpOp.GT, 1.0))),
        ),
    ),
    (
        'avg_over_time({app="api"}[5m] | unwrap duration_seconds(d))',
        rate(LOG, "avg_over_time", unwrap=ast.Unwrap("d", "duration_seconds")),
    ),
    (
        'quantile_over_time(0.95, {app="api"} | unwrap x [5m]) by (a, b)',
        ast.RangeAggregation(
            "quantile_over_time", ast.LogRange(LOG, FIVE_MIN, unwrap=ast.Unwrap("x")), 0.95, ast.Grouping(("a", "b"))
        ),
    ),
    (
        'max_over_time without (a) ({app="api"} | unwrap x [5m])',
        ast.RangeAggregation(
            "max_over_time",
            ast.LogRange(LOG, FIVE_MIN, unwrap=ast.Unwrap("x")),
            None,
            ast.Grouping(("a",), without=True),
        ),
    ),
    ('sum by (a) (rate({app="api"}[5m]))', ast.VectorAggregation("sum", rate(), ast.Grouping(("a",)))),
    ('sum(rate({app="api"}[5m])) without ()', ast.VectorAggregation("sum", rate(), ast.Grouping((), without=True))),
    ('topk(3, rate({app="api"}[5m]))', ast.VectorAggregation("topk", rate(), None, 3.0)),
    (
        "1 + 2 * 3",
        ast.BinaryOp("+", ast.NumberLiteral(1), ast.BinaryOp("*", ast.NumberLiteral(2), ast.NumberLiteral(3))),
    ),
    (
        "2 ^ 3 ^ 2",
        ast.BinaryOp("^", ast.NumberLiteral(2), ast.BinaryOp("^", ast.NumberLiteral(3), ast.NumberLiteral(2))),
    ),
    (
        "1 - 2 - 3",
        ast.BinaryOp("-", ast.BinaryOp("-", ast.NumberLiteral(1), ast.NumberLiteral(2)), ast.NumberLiteral(3)),
    ),
    ("-1 ^ 2", ast.BinaryOp("^", ast.NumberLiteral(-1), ast.NumberLiteral(2))),
    (
        "(1 + 2) * -3",
        ast.BinaryOp("*", ast.BinaryOp("+", ast.NumberLiteral(1), ast.NumberLiteral(2)), ast.NumberLiteral(-3)),
    ),
    (
        'rate({app="api"}[5m]) > bool 1 and vector(1) or vector(2)',
        ast.BinaryOp(
            "or",
            ast.BinaryOp(
                "and", ast.BinaryOp(">", rate(), ast.NumberLiteral(1), return_bool=True), ast.VectorLiteral(1)
            ),
            ast.VectorLiteral(2),
        ),
    ),
    (
        'rate({app="api"}[5m]) / on (a) group_left (b) rate({app="api"}[5m])',
        ast.BinaryOp(
            "/", rate(), rate(), matching=ast.VectorMatching(on=True, labels=("a",), card="group_left", include=("b",))
        ),
    ),
    (
        'rate({app="api"}[5m]) - ignoring (a) group_right rate({app="api"}[5m])',
        ast.BinaryOp("-", rate(), rate(), matching=ast.VectorMatching(labels=("a",), card="group_right")),
    ),
    ('label_replace(rate({app="api"}[5m]), "d", "$1", "s", "(.*)")', ast.LabelReplace(rate(), "d", "$1", "s", "(.*)")),
    ('SUM BY (a) (RATE({app="api"}[5m]))', ast.VectorAggregation("sum", rate(), ast.Grouping(("a",)))),
    (
        '{json="x", by="y", sum="z"} | count > 2',
        ast.LogExpr(
            ast.Selector((M("json", EQ, "x"), M("by", EQ, "y"), M("sum", EQ, "z"))),
            (ast.LabelFilter(ast.NumberLabelFilter("count", ast.CmpOp.GT, 2.0)),),
        ),
    ),
    ('{app="api"} | unwrap_x="1"', lfilter(s("unwrap_x", "1"))),
]


@pytest.mark.parametrize(("query", "tree"), TREES, ids=[q for q, _ in TREES])
def test_tree(query: str, tree: ast.Expr) -> None:
    assert parse(query) == tree


@pytest.mark.parametrize(("query", "canonical"), CANONICAL, ids=[q for q, _ in CANONICAL])
def test_canonical_form(query: str, canonical: str) -> None:
    expr = parse(query)
    assert format_expr(expr) == canonical
    assert parse(canonical) == expr


def test_tables_are_large_enough() -> None:
    assert len(TREES) + len(CANONICAL) >= 120
    assert len(INVALID) >= 40


EMPTY = "queries require at least one regexp or equality matcher that does not have an empty-compatible value"

INVALID: list[tuple[str, str, int, int]] = [
    ("{a=b}", "syntax error: unexpected IDENTIFIER, expecting STRING", 1, 4),
    ('{a="b"', "syntax error: unexpected $end, expecting } or ,", 1, 7),
    ('{a="b"} |=', "syntax error: unexpected $end, expecting STRING or ip", 1, 11),
    ('{a="b"}\n| json |', "syntax error: unexpected $end", 2, 9),
    ('{a=""}', EMPTY, 0, 0),
    ('{a=~".*"}', EMPTY, 0, 0),
    ('{a!="x", b=~"y*"}', EMPTY, 0, 0),
    ("{}", EMPTY, 0, 0),
    ('{a!~"x"}', EMPTY, 0, 0),
    ('rate({a=""}[5m])', EMPTY, 0, 0),
    ('{a="b"} + 1', "unexpected type for left leg of binary operation (+): *syntax.MatchersExpr", 0, 0),
    ('1 + {a="b"} |= "x"', "unexpected type for right leg of binary operation (+): *syntax.PipelineExpr", 0, 0),
    ('sum({a="b"})', "syntax error: unexpected {", 1, 5),
    ('label_replace({a="b"}, "a", "b", "c", "d")', "syntax error: unexpected {", 1, 15),
    ('rate({a="b"})', "syntax error: unexpected )", 1, 13),
    ('{a="b"}[5m]', "syntax error: unexpected RANGE", 1, 8),
    ('count_over_time({a="b"}[5m]) offset 1h', "syntax error: unexpected offset", 1, 30),
    ('sum_over_time({a="b"}[5m])', "invalid aggregation sum_over_time without unwrap", 0, 0),
    ('rate_counter({a="b"}[5m])', "invalid aggregation rate_counter without unwrap", 0, 0),
    ('count_over_time({a="b"} | unwrap x [5m])', "invalid aggregation count_over_time with unwrap", 0, 0),
    ('bytes_rate({a="b"} | unwrap x [5m])', "invalid aggregation bytes_rate with unwrap", 0, 0),
    ('quantile_over_time({a="b"} | unwrap x [5m])', "parameter required for operation quantile_over_time", 0, 0),
    ('rate(0.5, {a="b"}[5m])', "parameter 0.5 not supported for operation rate", 0, 0),
    ('count_over_time({a="b"}[5m]) by (x)', "grouping not allowed for count_over_time aggregation", 0, 0),
    ('sum_over_time({a="b"} | unwrap x [5m]) by (x)', "grouping not allowed for sum_over_time aggregation", 0, 0),
    ('rate({a="b"} | unwrap x | json [5m])', "syntax error: unexpected RANGE", 1, 32),
    ('{a="b', "literal not terminated", 1, 4),
    ("{a=`b", "literal not terminated", 1, 4),
    ('{a="b"}[5m', "missing closing ']' in duration", 1, 8),
    ('rate({a="b"}[5x])', 'not a valid duration string: "5x"', 1, 13),
    ('rate({a="b"}[1.5m])', 'not a valid duration string: "1.5m"', 1, 13),
    ('rate({a="b"}[ 5m ])', 'not a valid duration string: " 5m "', 1, 13),
    ('rate({a="b"}[])', "empty duration string", 1, 13),
    ('{a=~"("}', "error parsing regexp: missing closing ): `(`", 0, 0),
    ('{a="b"} |~ "a)"', "error parsing regexp: unexpected ): `a)`", 1, 12),
    ('{a="b"} | x=~"(?=y)"', "error parsing regexp: invalid or unsupported Perl syntax: `(?=`", 0, 0),
    ('{a="b"} | drop x=~"\\\\1"', "error parsing regexp: invalid escape sequence: `\\1`", 0, 0),
    ('topk(x, rate({a="b"}[1m]))', "syntax error: unexpected IDENTIFIER", 1, 6),
    ('topk(1.5, rate({a="b"}[1m]))', "invalid parameter topk(1.5,", 0, 0),
    ('bottomk(0, rate({a="b"}[1m]))', "invalid parameter (must be greater than 0) bottomk(0", 0, 0),
    ('topk(rate({a="b"}[1m]))', "parameter required for operation topk", 0, 0),
    ('sum(2, rate({a="b"}[1m]))', "unsupported parameter for operation sum(2,", 0, 0),
    ('sort by (a) (rate({a="b"}[1m]))', "sort and sort_desc doesn't allow grouping by ", 0, 0),
    ('sum(rate({a="b"}[1m])) by (x) by (y)', "syntax error: unexpected by", 1, 31),
    ('{a="b"} @', "syntax error: unexpected IDENTIFIER", 1, 9),
    ("1 and 2", "unexpected literal for left leg of logical/set binary operation (and): 1.000000", 0, 0),
    (
        'rate({a="b"}[1m]) unless (1 + 1)',
        "unexpected literal for right leg of logical/set binary operation (unless): 2.000000",
        0,
        0,
    ),
    ('rate({a="b"}[5m]) + bool 1', "bool modifier can only be used on comparison operators", 0, 0),
    ('rate({a="b"}[5m]) and on (x) group_left rate({a="c"}[5m])', 'no grouping allowed for "and" operation', 0, 0),
    ('{a="\\q"}', "invalid syntax", 1, 4),
    ('{a="\\xzz"}', "invalid syntax", 1, 4),
    ('{a="\\400"}', "invalid syntax", 1, 4),
    ('{a="\\ud800"}', "invalid syntax", 1, 4),
    ('{a="b\\\'"}', "invalid syntax", 1, 4),
    ('{a="\\xff"}', "invalid UTF-8 rune", 1, 4),
    ('{a="b"} | regexp "(a)"', "invalid regexp parser: at least one named capture must be supplied", 1, 18),
    (
        '{a="b"} | pattern "<a><b>"',
        "invalid pattern parser: found consecutive capture '<a><b>': invalid expression",
        1,
        19,
    ),
    ('{a="b"} | pattern "abc"', "invalid pattern parser: at least one capture is required", 1, 19),
    ('{a="b"} |> "<a> x"', "named captures are not allowed", 1, 12),
    (
        'label_replace(rate({a="b"}[5m]), "1x", "", "a", ".*")',
        "invalid destination label name in label_replace(): 1x",
        0,
        0,
    ),
    (
        'label_replace(rate({a="b"}[5m]), "x", "", "a", "(")',
        "invalid regex in label_replace: error parsing regexp",
        0,
        0,
    ),
    ('sum by (a (rate({a="b"}[5m]))', "syntax error: unexpected (, expecting , or )", 1, 11),
    ('sum(rate({a="b"}[5m])', "syntax error: unexpected $end, expecting )", 1, 22),
    ("vector(x)", "syntax error: unexpected IDENTIFIER, expecting NUMBER or + or -", 1, 8),
    ('{a="b"} | label_format a=1', "syntax error: unexpected NUMBER, expecting IDENTIFIER or STRING", 1, 26),
    ('{a="b"} | drop', "syntax error: unexpected $end, expecting IDENTIFIER", 1, 15),
    ("1e400", 'unable to parse literal as a float: strconv.ParseFloat: parsing "1e400": value out of range', 0, 0),
    ('{a="b"} | json | x > 5mb', "syntax error: unexpected $end", 1, 25),
]


@pytest.mark.parametrize(("query", "message", "line", "col"), INVALID, ids=[q for q, *_ in INVALID])
def test_invalid(query: str, message: str, line: int, col: int) -> None:
    with pytest.raises(ParseError) as info:
        parse(query)
    assert message in info.value.reason
    assert (info.value.line, info.value.col) == (line, col)
    where = f" at line {line}, col {col}" if (line, col) != (0, 0) else " "  # Loki: `parse error : ...` then
    assert str(info.value).startswith(f"parse error{where}: ")


def test_semantic_errors_wait_for_the_syntax() -> None:
    """Like Loki, a syntax error later in the text wins over a rule broken earlier."""
    with pytest.raises(ParseError, match="unexpected \\$end"):
        parse('{a=""} |=')


def test_depth_is_bounded() -> None:
    chain = "1" + " + 1" * MAX_DEPTH
    with pytest.raises(ParseError, match="too deeply nested") as info:
        parse(chain)
    assert (info.value.line, info.value.col) == (0, 0)
    assert isinstance(parse("1" + " + 1" * (MAX_DEPTH - 2)), ast.BinaryOp)
    assert parse("(" * 5000 + "1" + ")" * 5000) == ast.NumberLiteral(1)


def test_input_size_is_bounded() -> None:
    with pytest.raises(ParseError, match=r"input size too long \(131085 > 131072\)"):
        parse('{a="b"} |= "' + "x" * 131072 + '"')


def test_parse_selector() -> None:
    assert parse_selector('{app="api", env=~"p.*"}') == ast.Selector((M("app", EQ, "api"), M("env", RE, "p.*")))
    assert parse_selector('{app="api"} |= "x" | json') == APP
    assert parse_selector("{}", validate=False) == ast.Selector(())
    assert parse_selector('{a=~".*"}', validate=False) == ast.Selector((M("a", RE, ".*"),))
    with pytest.raises(ParseError, match="empty-compatible"):
        parse_selector("{}")
    with pytest.raises(ParseError, match="only label matchers is supported"):
        parse_selector('rate({app="api"}[5m])')
    with pytest.raises(ParseError, match="syntax error"):
        parse_selector("app")


def test_parse_errors_are_loki_shaped() -> None:
    with pytest.raises(ParseError) as info:
        parse('{app="api"} | json | status >= 500 | line_format')
    assert str(info.value) == "parse error at line 1, col 49: syntax error: unexpected $end, expecting STRING"


QUERY_ALPHABET = st.sampled_from(
    list('{}()[]|=!~<>"`,.-+*/%^#\\ \n\t') + list("abx_019")
    + ['"x"', "`y`", "[5m]", "5ms", "10MB", "1e3", "json", "logfmt", "unwrap", "by", "or", "and", "bool", "on",
       "group_left", "offset", "sum", "rate", "topk", "vector", "label_replace", "__error__", "ip", "(?i)", "\\1"]
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_any_text_fails_only_with_parse_error(text: str) -> None:
    with contextlib.suppress(ParseError):
        parse(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(QUERY_ALPHABET, max_size=40).map("".join))
def test_token_soup_fails_only_with_parse_error(text: str) -> None:
    try:
        expr = parse(text)
    except ParseError:
        return
    assert parse(format_expr(expr)) == expr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([q for q, _ in CANONICAL]), st.data())
def test_mutated_queries_fail_only_with_parse_error(query: str, data: st.DataObject) -> None:
    """Cut, duplicate and splice valid queries: every result parses or raises ParseError, and round-trips."""
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(query)))
        end = data.draw(st.integers(start, min(len(query), start + 6)))
        insert = data.draw(st.one_of(QUERY_ALPHABET, st.just(query[start:end] * 2), st.just("")))
        query = query[:start] + insert + query[end:]
    try:
        expr = parse(query)
    except ParseError:
        return
    assert parse(format_expr(expr)) == expr


@pytest.mark.parametrize(
    ("query", "reason", "col"),
    [('{a="\ud800"}', "invalid UTF-8 rune", 4), ("\udfff", "syntax error: unexpected IDENTIFIER", 1), ("\x00", "", 1)],
)
def test_text_that_is_not_valid_utf8(query: str, reason: str, col: int) -> None:
    """Python strings can hold lone surrogates that Go's UTF-8 source never could: refused, not crashed on."""
    with pytest.raises(ParseError) as info:
        parse(query)
    assert reason in info.value.reason
    assert info.value.col == col
