"""LogQL formatter: canonical text that parses back to the very same tree, for any tree the parser can build."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observ.gocompat.strconv import go_quote
from observ.logql.syntax import ast
from observ.logql.syntax.format import format_expr, format_number
from observ.logql.syntax.parser import parse

# --- strategies: trees the parser can produce ------------------------------------------------------

STAGE_KEYWORDS = {"json", "logfmt", "regexp", "pattern", "unpack", "decolorize", "line_format", "label_format",
                  "drop", "keep", "unwrap", "and", "or"}  # fmt: skip
names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,6}", fullmatch=True)
# Loki's lexer always reads these as keywords where a stage may start, so no label filter can name them.
filter_names = names.filter(lambda n: n.lower() not in STAGE_KEYWORDS)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
regexes = st.sampled_from(["a", ".+", "(?i)err", "x|y", "[0-9]{2,3}", "\\d+\\.\\w*", "^GET", "(?P<a>b)?c$", "é.*"])
finite = st.floats(allow_nan=False, allow_infinity=False)
durations_ns = st.integers(-(10**15), 10**15)
ranges_ns = st.integers(0, 10**10).map(lambda ms: ms * 10**6)
cmp_ops = st.sampled_from(list(ast.CmpOp))


@st.composite
def matchers(draw: st.DrawFn, name: st.SearchStrategy[str] = names) -> ast.Matcher:
    op = draw(st.sampled_from(list(ast.MatchOp)))
    value = draw(regexes if op in (ast.MatchOp.RE, ast.MatchOp.NRE) else texts)
    return ast.Matcher(draw(name), op, value)


@st.composite
def selectors(draw: st.DrawFn) -> ast.Selector:
    """The first matcher is non-empty equality: Loki refuses selectors that match every stream."""
    first = ast.Matcher(draw(names), ast.MatchOp.EQ, draw(texts.filter(bool)))
    return ast.Selector((first, *draw(st.lists(matchers(), max_size=3))))


label_filter_atoms = st.one_of(
    matchers(filter_names).map(ast.StringLabelFilter),
    st.builds(ast.NumberLabelFilter, filter_names, cmp_ops, finite),
    st.builds(ast.DurationLabelFilter, filter_names, cmp_ops, durations_ns.map(lambda ns: ns / 1e9)),
    st.builds(
        ast.BytesLabelFilter, filter_names, cmp_ops, st.one_of(st.integers(0, 10**22).map(float), finite.map(abs))
    ),
)
label_filters = st.recursive(
    label_filter_atoms,
    lambda inner: st.builds(ast.LabelFilterAnd, inner, inner) | st.builds(ast.LabelFilterOr, inner, inner),
    max_leaves=6,
)
# after `| json` a binary operator may follow, so `and`, `or` and `unless` read as one there
extraction_names = names.filter(lambda n: n.lower() not in ("and", "or", "unless"))
extractions = st.lists(st.tuples(extraction_names, texts), max_size=3).map(tuple)
label_refs = st.one_of(names.map(ast.LabelRef), matchers().map(lambda m: ast.LabelRef(m.name, m)))


@st.composite
def line_filters(draw: st.DrawFn) -> ast.LineFilter:
    op = draw(st.sampled_from(list(ast.LineFilterOp)))
    if op in (ast.LineFilterOp.MATCH, ast.LineFilterOp.NOT_MATCH):
        values = regexes
    elif op in (ast.LineFilterOp.PATTERN, ast.LineFilterOp.NOT_PATTERN):
        values = st.sampled_from(["<_> error", "GET <_>", "x"])
    else:
        values = texts
    return ast.LineFilter(op, tuple(draw(st.lists(values, min_size=1, max_size=3))))


stages = st.one_of(
    line_filters(),
    st.builds(ast.JsonParser, extractions),
    st.builds(ast.LogfmtParser, st.booleans(), st.booleans(), extractions),
    st.sampled_from(["(?P<a>.*)", "(?P<x>\\w+) (?P<y>\\d+)"]).map(ast.RegexpParser),
    st.sampled_from(["<a> <_>", "<_> - <b>"]).map(ast.PatternParser),
    st.just(ast.UnpackParser()),
    st.just(ast.Decolorize()),
    texts.map(ast.LineFormat),
    st.lists(
        st.one_of(st.builds(ast.LabelFormatItem, names, names, st.just(False)),
                  st.builds(ast.LabelFormatItem, names, texts, st.just(True))),
        min_size=1, max_size=3,
    ).map(lambda items: ast.LabelFormat(tuple(items))),
    st.lists(label_refs, min_size=1, max_size=3).map(lambda refs: ast.DropLabels(tuple(refs))),
    st.lists(label_refs, min_size=1, max_size=3).map(lambda refs: ast.KeepLabels(tuple(refs))),
    label_filters.map(ast.LabelFilter),
)  # fmt: skip


def _unambiguous(pipeline: tuple[ast.Stage, ...]) -> bool:
    """`| drop a != "x"` always reads as a matcher, so no text gives a bare name followed by that line filter."""
    return not any(
        isinstance(a, ast.DropLabels | ast.KeepLabels) and a.labels[-1].matcher is None
        and isinstance(b, ast.LineFilter) and b.op in (ast.LineFilterOp.NOT_CONTAINS, ast.LineFilterOp.NOT_MATCH)
        for a, b in itertools.pairwise(pipeline)
    )  # fmt: skip


log_exprs = st.builds(ast.LogExpr, selectors(), st.lists(stages, max_size=4).map(tuple).filter(_unambiguous))
groupings = st.builds(ast.Grouping, st.lists(names, max_size=3).map(tuple), st.booleans())
unwraps = st.builds(
    ast.Unwrap, names, st.sampled_from(["", "bytes", "duration", "duration_seconds"]),
    st.lists(label_filters, max_size=2).map(tuple),
)  # fmt: skip
GROUPING_OPS = ["avg_over_time", "stddev_over_time", "stdvar_over_time", "quantile_over_time", "max_over_time",
                "min_over_time", "first_over_time", "last_over_time"]  # fmt: skip


@st.composite
def range_aggregations(draw: st.DrawFn) -> ast.RangeAggregation:
    unwrapped = draw(st.booleans())
    op = draw(st.sampled_from(sorted(ast.UNWRAPPED_RANGE_OPS if unwrapped else ast.LOG_RANGE_OPS)))
    log_range = ast.LogRange(
        draw(log_exprs),
        draw(ranges_ns),
        draw(st.one_of(st.just(0), durations_ns)),
        draw(unwraps) if unwrapped else None,
    )
    param = draw(st.floats(0, 1)) if op == "quantile_over_time" else None
    grouping = draw(st.one_of(st.none(), groupings)) if op in GROUPING_OPS else None
    return ast.RangeAggregation(op, log_range, param, grouping)


literals = finite.map(ast.NumberLiteral)


def sample_exprs(inner: st.SearchStrategy[ast.SampleExpr]) -> st.SearchStrategy[ast.SampleExpr]:
    return st.one_of(vector_aggregations(inner), binary_ops(inner), label_replaces(inner))


@st.composite
def vector_aggregations(draw: st.DrawFn, inner: st.SearchStrategy[ast.SampleExpr]) -> ast.VectorAggregation:
    op = draw(st.sampled_from(sorted(ast.VECTOR_OPS)))
    param = float(draw(st.integers(1, 10**6))) if op in ("topk", "bottomk") else None
    grouping = draw(st.one_of(st.none(), groupings))
    if op in ("sort", "sort_desc") and grouping is not None:
        grouping = ast.Grouping((), grouping.without)
    return ast.VectorAggregation(op, draw(inner), grouping, param)


def _scalar(e: ast.SampleExpr) -> bool:
    return isinstance(e, ast.NumberLiteral) or (isinstance(e, ast.BinaryOp) and _scalar(e.left) and _scalar(e.right))


@st.composite
def binary_ops(draw: st.DrawFn, inner: st.SearchStrategy[ast.SampleExpr]) -> ast.BinaryOp:
    op = draw(st.sampled_from(["or", "and", "unless", "==", "!=", ">", ">=", "<", "<=", "+", "-", "*", "/", "%", "^"]))
    set_op = op in ("or", "and", "unless")
    leg = inner.filter(lambda e: not _scalar(e)) if set_op else inner
    matching = ast.VectorMatching()
    if draw(st.booleans()):
        card = "" if set_op else draw(st.sampled_from(["", "group_left", "group_right"]))
        include = draw(st.lists(names, max_size=2).map(tuple)) if card else ()
        matching = ast.VectorMatching(draw(st.booleans()), draw(st.lists(names, max_size=2).map(tuple)), card, include)
        if not matching.on and not matching.labels and not card:
            matching = ast.VectorMatching()  # `ignoring ()` alone is the default and is not written
    return_bool = op in ("==", "!=", ">", ">=", "<", "<=") and draw(st.booleans())
    return ast.BinaryOp(op, draw(leg), draw(leg), return_bool, matching)


@st.composite
def label_replaces(draw: st.DrawFn, inner: st.SearchStrategy[ast.SampleExpr]) -> ast.LabelReplace:
    return ast.LabelReplace(draw(inner), draw(names), draw(texts), draw(names), draw(regexes))


sample_trees = st.recursive(
    st.one_of(range_aggregations(), literals, finite.map(ast.VectorLiteral)), sample_exprs, max_leaves=5
)


# --- tests ------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_exprs)
def test_log_queries_round_trip(expr: ast.LogExpr) -> None:
    assert parse(format_expr(expr)) == expr


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample_trees)
def test_metric_queries_round_trip(expr: ast.SampleExpr) -> None:
    assert parse(format_expr(expr)) == expr


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (
            ast.BinaryOp("-", ast.NumberLiteral(1), ast.BinaryOp("-", ast.NumberLiteral(2), ast.NumberLiteral(3))),
            "1 - (2 - 3)",
        ),
        (
            ast.BinaryOp("^", ast.BinaryOp("^", ast.NumberLiteral(2), ast.NumberLiteral(3)), ast.NumberLiteral(2)),
            "(2 ^ 3) ^ 2",
        ),
        (
            ast.BinaryOp("*", ast.BinaryOp("or", ast.VectorLiteral(1), ast.VectorLiteral(2)), ast.NumberLiteral(-1)),
            "(vector(1) or vector(2)) * -1",
        ),
        (
            ast.BinaryOp(
                "/",
                ast.VectorLiteral(1),
                ast.BinaryOp("+", ast.VectorLiteral(2), ast.NumberLiteral(1)),
                matching=ast.VectorMatching(on=True, labels=("a",), card="group_left"),
            ),
            "vector(1) / on (a) group_left () (vector(2) + 1)",
        ),
        (
            ast.BinaryOp(
                "+",
                ast.VectorLiteral(1),
                ast.VectorLiteral(2),
                matching=ast.VectorMatching(card="group_right", include=("b", "c")),
            ),
            "vector(1) + ignoring () group_right (b, c) vector(2)",
        ),
        (ast.VectorAggregation("topk", ast.VectorLiteral(1), ast.Grouping(()), 5.0), "topk by () (5, vector(1))"),
        (ast.NumberLiteral(1e6), "1e+06"),
        (ast.NumberLiteral(-0.25), "-0.25"),
    ],
)
def test_hand_built_trees(expr: ast.Expr, text: str) -> None:
    assert format_expr(expr) == text
    assert parse(text) == expr


@pytest.mark.parametrize(
    ("stage", "text"),
    [
        (
            ast.LabelFilter(
                ast.LabelFilterAnd(
                    ast.StringLabelFilter(ast.Matcher("a", ast.MatchOp.EQ, "1")),
                    ast.LabelFilterOr(
                        ast.NumberLabelFilter("b", ast.CmpOp.GT, 2.0), ast.DurationLabelFilter("c", ast.CmpOp.LT, 0.25)
                    ),
                )
            ),
            '| a="1" and (b > 2 or c < 250ms)',
        ),
        (
            ast.LabelFilter(
                ast.LabelFilterOr(
                    ast.LabelFilterAnd(
                        ast.BytesLabelFilter("s", ast.CmpOp.GTE, 20e6), ast.BytesLabelFilter("t", ast.CmpOp.EQ, 1.5)
                    ),
                    ast.BytesLabelFilter("u", ast.CmpOp.NEQ, 3 * 1024.0),
                )
            ),
            "| s >= 20MB and t == 1.5B or u != 3KiB",
        ),
        (ast.LineFilter(ast.LineFilterOp.NOT_CONTAINS, ('a"b', "\x00\t")), '!= "a\\"b" or "\\x00\\t"'),
        (ast.JsonParser((("a", "b.c"), ("d", ""))), '| json a="b.c", d=""'),
        (ast.LogfmtParser(strict=True, keep_empty=True), "| logfmt --strict --keep-empty"),
        (
            ast.DropLabels((ast.LabelRef("a"), ast.LabelRef("b", ast.Matcher("b", ast.MatchOp.NRE, "x")))),
            '| drop a, b!~"x"',
        ),
        (
            ast.LabelFormat((ast.LabelFormatItem("a", "b", False), ast.LabelFormatItem("c", "{{.d}}", True))),
            '| label_format a=b, c="{{.d}}"',
        ),
    ],
)
def test_stages(stage: ast.Stage, text: str) -> None:
    expr = ast.LogExpr(ast.Selector((ast.Matcher("app", ast.MatchOp.EQ, "x"),)), (stage,))
    assert format_expr(expr) == '{app="x"} ' + text
    assert parse(format_expr(expr)) == expr


def test_log_range_layout() -> None:
    expr = parse('avg_over_time({a="b"}[90s] offset -1h | json | unwrap duration(d) | d > 1s) by (x)')
    assert format_expr(expr) == 'avg_over_time({a="b"} | json | unwrap duration(d) | d > 1s[1m30s] offset -1h) by (x)'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", '"plain"'),
        ('q"b\\s', '"q\\"b\\\\s"'),
        ("é☃", '"é☃"'),
        ("\n\x7f\u200b\U0001f600", '"\\n\\x7f\\u200b😀"'),
    ],
)
def test_strings_are_quoted_like_go(value: str, text: str) -> None:
    assert go_quote(value) == text
    expr = ast.LogExpr(ast.Selector((ast.Matcher("a", ast.MatchOp.EQ, value),)))
    assert parse(format_expr(expr)) == expr


@given(finite)
def test_numbers_parse_back_exactly(value: float) -> None:
    assert parse(format_number(value)) == ast.NumberLiteral(value)


def test_non_finite_numbers_have_no_literal() -> None:
    with pytest.raises(ValueError, match="no literal"):
        format_number(float("inf"))
