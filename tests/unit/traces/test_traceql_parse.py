"""TraceQL parsing: Tempo's own test tables (grafana/tempo pkg/traceql parse_test.go, lexer_test.go) ported where
they fall inside observ's grammar — expected trees, printed forms, error positions — plus hostile input."""

from __future__ import annotations

import pytest

from observ.traces.traceql.ast import Attribute, Binary, Intrinsic, Pipeline, SpansetFilter, SpansetOp, Static, Unary
from observ.traces.traceql.errors import ParseError
from observ.traces.traceql.parser import MAX_INPUT_BYTES, MAX_NODES, parse

HOUR, MINUTE, SECOND = 3600 * 10**9, 60 * 10**9, 10**9
DAY = 24 * HOUR


def A(name: str, scope: str = "") -> Attribute:
    return Attribute(scope, name)  # type: ignore[arg-type]


def S(type_: str, value: object) -> Static:
    return Static(type_, value)  # type: ignore[arg-type]


def B(op: str, left: object, right: object) -> Binary:
    return Binary(op, left, right)  # type: ignore[arg-type]


def F(expr: object) -> SpansetFilter:
    return SpansetFilter(expr)  # type: ignore[arg-type]


TRUE, FALSE = S("bool", True), S("bool", False)

# TestSpansetFilterOperatorPrecedence: (input, tree, Tempo's String())
PRECEDENCE = [
    ("{ .a * .b + .c }", B("+", B("*", A("a"), A("b")), A("c")), "{ (.a * .b) + .c }"),
    ("{ .a + .b * .c }", B("+", A("a"), B("*", A("b"), A("c"))), "{ .a + (.b * .c) }"),
    ("{ ( .a + .b ) * .c }", B("*", B("+", A("a"), A("b")), A("c")), "{ (.a + .b) * .c }"),
    ("{ .a + .b ^ .c }", B("+", A("a"), B("^", A("b"), A("c"))), "{ .a + (.b ^ .c) }"),
    ("{ .a = .b + .c }", B("=", A("a"), B("+", A("b"), A("c"))), "{ .a = (.b + .c) }"),
    ("{ .a + .b = .c }", B("=", B("+", A("a"), A("b")), A("c")), "{ (.a + .b) = .c }"),
    ("{ .c - -.a + .b }", B("+", B("-", A("c"), Unary("-", A("a"))), A("b")), "{ (.c - (-.a)) + .b }"),
    ("{ .c - -( .a + .b ) }", B("-", A("c"), Unary("-", B("+", A("a"), A("b")))), "{ .c - (-(.a + .b)) }"),
    ("{ .a && .b = .c }", B("&&", A("a"), B("=", A("b"), A("c"))), "{ .a && (.b = .c) }"),
    ("{ .a = .b && .c }", B("&&", B("=", A("a"), A("b")), A("c")), "{ (.a = .b) && .c }"),
    ("{ .a = .b || .c = .d}", B("||", B("=", A("a"), A("b")), B("=", A("c"), A("d"))), "{ (.a = .b) || (.c = .d) }"),
    ("{ !(.a = .b) }", Unary("!", B("=", A("a"), A("b"))), "{ !(.a = .b) }"),
    ("{ -(.a = .b) }", Unary("-", B("=", A("a"), A("b"))), "{ -(.a = .b) }"),
    # `&&` and `||` share one precedence and associate left (expr.y: `%left AND OR`)
    ("{ .a = 1 || .b = 2 && .c = 3 }", B("&&", B("||", B("=", A("a"), S("int", 1)), B("=", A("b"), S("int", 2))),
                                          B("=", A("c"), S("int", 3))), "{ ((.a = 1) || (.b = 2)) && (.c = 3) }"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "tree", "printed"), PRECEDENCE)
def test_field_expression_precedence(text: str, tree: object, printed: str) -> None:
    got = parse(text)
    assert got == F(tree)
    assert str(got) == printed
    assert parse(printed) == got  # the printed form parses back to the same tree


# TestSpansetFilterStatics (durations print as nanoseconds here, not as Go's 3h0m0s)
STATICS = [
    ("{ true }", TRUE), ("{ false }", FALSE), ('{ "true" }', S("string", "true")),
    ('{ "true\\"" }', S("string", 'true"')), ("{ `foo` }", S("string", "foo")), ("{ .foo }", A("foo")),
    ("{ duration }", Intrinsic("duration")), ("{ name }", Intrinsic("name")), ("{ parent }", Intrinsic("parent")),
    ("{ status }", Intrinsic("status")), ("{ statusMessage }", Intrinsic("statusMessage")),
    ("{ 4321 }", S("int", 4321)), ("{ maxInt }", S("int", 2**63 - 1)), ("{ minInt }", S("int", -(2**63))),
    ("{ 1.234 }", S("float", 1.234)), ("{ 3h }", S("duration", 3 * HOUR)),
    ("{ 1.5m }", S("duration", MINUTE + 30 * SECOND)), ("{ error }", S("status", "error")),
    ("{ ok }", S("status", "ok")), ("{ unset }", S("status", "unset")), ("{ unspecified }", S("kind", "unspecified")),
    ("{ internal }", S("kind", "internal")), ("{ client }", S("kind", "client")), ("{ server }", S("kind", "server")),
    ("{ producer }", S("kind", "producer")), ("{ consumer }", S("kind", "consumer")),
    ("{ }", TRUE), ("{}", TRUE), ("{ -1 }", S("int", -1)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expr"), STATICS)
def test_statics(text: str, expr: object) -> None:
    assert parse(text) == F(expr)


# TestSpansetFilterOperators: each with and without spaces where Tempo tests both
OPERATORS = [
    ("{ .a + .b }", B("+", A("a"), A("b")), False), ("{ .a - .b }", B("-", A("a"), A("b")), False),
    ("{ .a / .b }", B("/", A("a"), A("b")), False), ("{ .a % .b }", B("%", A("a"), A("b")), False),
    ("{ .a * .b }", B("*", A("a"), A("b")), False), ("{ .a = .b }", B("=", A("a"), A("b")), True),
    ("{ .a != .b }", B("!=", A("a"), A("b")), True), ("{ .a =~ .b }", B("=~", A("a"), A("b")), True),
    ("{ .a !~ .b }", B("!~", A("a"), A("b")), True), ("{ .a > .b }", B(">", A("a"), A("b")), True),
    ("{ .a >= .b }", B(">=", A("a"), A("b")), True), ("{ .a < .b }", B("<", A("a"), A("b")), True),
    ("{ .a <= .b }", B("<=", A("a"), A("b")), True), ("{ .a ^ .b }", B("^", A("a"), A("b")), True),
    ("{ .a && .b }", B("&&", A("a"), A("b")), True), ("{ .a || .b }", B("||", A("a"), A("b")), True),
    ("{ !.b }", Unary("!", A("b")), False), ("{ -.b }", Unary("-", A("b")), False),
    ("{ .a = `foo` }", B("=", A("a"), S("string", "foo")), True), ("{ .a = 3 }", B("=", A("a"), S("int", 3)), True),
    ("{ .a = 3.0 }", B("=", A("a"), S("float", 3.0)), True), ("{ .a = true }", B("=", A("a"), TRUE), True),
    ("{ .a != nil }", B("!=", A("a"), S("nil", None)), True), ("{ .a = nil }", B("=", A("a"), S("nil", None)), True),
    ("{ nil != .a }", B("!=", A("a"), S("nil", None)), False), ("{ nil != nil }", FALSE, False),
    ("{ nil = nil }", FALSE, False),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expr", "also_without_spaces"), OPERATORS)
def test_operators(text: str, expr: object, also_without_spaces: bool) -> None:
    assert parse(text) == F(expr)
    if also_without_spaces:
        assert parse(text.replace(" ", "")) == F(expr)


# TestAttributes: each is tried as `{ x }`, `{x}`, `{ (x) }` and `{ x + x }`
ATTRIBUTES = [
    ("duration", Intrinsic("duration")), ("kind", Intrinsic("kind")), (".foo", A("foo")), (".max", A("max")),
    (".status", A("status")), (".kind", A("kind")), (".foo.bar", A("foo.bar")), (".foo.bar.baz", A("foo.bar.baz")),
    (".foo.3", A("foo.3")), (".foo3", A("foo3")), (".http_status", A("http_status")),
    (".http-status", A("http-status")), (".http+", A("http+")), (".😝", A("😝")), (".http-other", A("http-other")),
    ("resource.foo.bar.baz", A("foo.bar.baz", "resource")), ("span.foo.bar", A("foo.bar", "span")),
    ("event.foo.bar", A("foo.bar", "event")), ("link.foo.bar", A("foo.bar", "link")),
    ("instrumentation.foo.bar", A("foo.bar", "instrumentation")), ('."bar z".foo', A("bar z.foo")),
    ('span."bar z".foo', A("bar z.foo", "span")), ('."bar z".foo."bar"', A("bar z.foo.bar")),
    ('.foo."bar baz"', A("foo.bar baz")), ('.foo."bar baz".bar', A("foo.bar baz.bar")),
    ('.foo."bar \\" baz"', A('foo.bar " baz')), ('.foo."bar \\\\ baz"', A("foo.bar \\ baz")),
    ('.foo."bar \\\\"." baz"', A("foo.bar \\. baz")), ('."foo.bar"', A("foo.bar")), ('."🤘"', A("🤘")),
    ("span.resource.foo", A("resource.foo", "span")), ("resource.span.foo", A("span.foo", "resource")),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expr"), ATTRIBUTES)
def test_attributes(text: str, expr: object) -> None:
    for wrapped in (f"{{ {text} }}", f"{{{text}}}", f"{{ ({text}) }}"):
        assert parse(wrapped) == F(expr), wrapped
    assert parse(f"{{ {text} + {text} }}") == F(B("+", expr, expr))


@pytest.mark.parametrize(
    "name",
    ["duration", "name", "status", "statusMessage", "kind", "parent", "traceDuration", "rootServiceName", "rootName",
     "nestedSetLeft", "nestedSetRight", "nestedSetParent"],
)  # fmt: skip
def test_intrinsics_and_attributes_of_the_same_name(name: str) -> None:
    """TestIntrinsics: `name` is the intrinsic, `.name`, `span.name`, `resource.name` are attributes."""
    assert parse(f"{{ {name} }}") == F(Intrinsic(name))
    assert parse(f"{{ .{name} }}") == F(A(name))
    assert parse(f"{{ span.{name} }}") == F(A(name, "span"))
    assert parse(f"{{ resource.{name} }}") == F(A(name, "resource"))


@pytest.mark.parametrize(
    ("text", "scope", "name"),
    [("trace:duration", "trace", "duration"), ("trace:rootName", "trace", "rootName"),
     ("trace:rootService", "trace", "rootService"), ("trace:id", "trace", "id"), ("span:duration", "span", "duration"),
     ("span:name", "span", "name"), ("span:kind", "span", "kind"), ("span:status", "span", "status"),
     ("span:statusMessage", "span", "statusMessage"), ("span:id", "span", "id"), ("span:parentID", "span", "parentID"),
     ("span:childCount", "span", "childCount"), ("event:name", "event", "name"),
     ("event:timeSinceStart", "event", "timeSinceStart"), ("link:traceID", "link", "traceID"),
     ("link:spanID", "link", "spanID"), ("instrumentation:name", "instrumentation", "name"),
     ("instrumentation:version", "instrumentation", "version")],
)  # fmt: skip
def test_scoped_intrinsics(text: str, scope: str, name: str) -> None:
    """TestLexerScopedIntrinsic."""
    assert parse(f"{{ {text} }}") == F(Intrinsic(name, scope))


@pytest.mark.parametrize(
    ("text", "ns"),
    [("1ns", 1), ("1s", SECOND), ("1us", 1000), ("1m", MINUTE), ("1h", HOUR), ("1µs", 1000), ("1y", 365 * DAY),
     ("1w", 7 * DAY), ("1d", DAY), ("1h15m30.918273645s", HOUR + 15 * MINUTE + 30 * SECOND + 918273645),
     ("100ms", 100_000_000), ("1.5s", 1_500_000_000), ("2m", 2 * MINUTE), (".5s", 500_000_000)],
)  # fmt: skip
def test_duration_literals(text: str, ns: int) -> None:
    """TestLexerParseDuration: Prometheus' units (d, w, y) and Go's (ns, us, µs, ms, s, m, h), fractions too."""
    assert parse(f"{{ duration > {text} }}") == F(B(">", Intrinsic("duration"), S("duration", ns)))


def test_not_durations() -> None:
    """TestLexerDuration's `1t` is an integer then an identifier; `.3` a float and `.24h` a duration, not
    attributes."""
    with pytest.raises(ParseError, match="col 4: syntax error: unexpected IDENTIFIER"):
        parse("{ 1t }")
    assert parse("{ .3 }") == F(S("float", 0.3))
    assert parse("{ .24h }") == F(S("duration", 24 * HOUR // 100))


# TestSpansetExpressionOperators and TestSpansetExpressionPrecedence
SPANSET_OPS = [
    ("{ true } && { false }", SpansetOp("&&", F(TRUE), F(FALSE)), "({ true }) && ({ false })"),
    ("{ true } > { false }", SpansetOp(">", F(TRUE), F(FALSE)), "({ true }) > ({ false })"),
    ("{ true } < { false }", SpansetOp("<", F(TRUE), F(FALSE)), "({ true }) < ({ false })"),
    ("{ true } >> { false }", SpansetOp(">>", F(TRUE), F(FALSE)), "({ true }) >> ({ false })"),
    ("{ true } << { false }", SpansetOp("<<", F(TRUE), F(FALSE)), "({ true }) << ({ false })"),
    ("{ true } || { false }", SpansetOp("||", F(TRUE), F(FALSE)), "({ true }) || ({ false })"),
    ("{ true } ~ { false }", SpansetOp("~", F(TRUE), F(FALSE)), "({ true }) ~ ({ false })"),
    ("({ true }) && ({ false })", SpansetOp("&&", F(TRUE), F(FALSE)), "({ true }) && ({ false })"),
    ("{ true } !> { false }", SpansetOp("!>", F(TRUE), F(FALSE)), "({ true }) !> ({ false })"),
    ("{ true } !< { false }", SpansetOp("!<", F(TRUE), F(FALSE)), "({ true }) !< ({ false })"),
    ("{ true } !>> { false }", SpansetOp("!>>", F(TRUE), F(FALSE)), "({ true }) !>> ({ false })"),
    ("{ true } !<< { false }", SpansetOp("!<<", F(TRUE), F(FALSE)), "({ true }) !<< ({ false })"),
    ("{ true } !~ { false }", SpansetOp("!~", F(TRUE), F(FALSE)), "({ true }) !~ ({ false })"),
    ("{ true } &> { false }", SpansetOp("&>", F(TRUE), F(FALSE)), "({ true }) &> ({ false })"),
    ("{ true } &< { false }", SpansetOp("&<", F(TRUE), F(FALSE)), "({ true }) &< ({ false })"),
    ("{ true } &>> { false }", SpansetOp("&>>", F(TRUE), F(FALSE)), "({ true }) &>> ({ false })"),
    ("{ true } &<< { false }", SpansetOp("&<<", F(TRUE), F(FALSE)), "({ true }) &<< ({ false })"),
    ("{ true } &~ { false }", SpansetOp("&~", F(TRUE), F(FALSE)), "({ true }) &~ ({ false })"),
    ("{ true } && { false } >> { `a` }",
     SpansetOp("&&", F(TRUE), SpansetOp(">>", F(FALSE), F(S("string", "a")))),
     "({ true }) && (({ false }) >> ({ `a` }))"),
    ("{ true } >> { false } && { `a` }",
     SpansetOp("&&", SpansetOp(">>", F(TRUE), F(FALSE)), F(S("string", "a"))),
     "(({ true }) >> ({ false })) && ({ `a` })"),
    ("{ true } >> { false } ~ { `a` }",
     SpansetOp("~", SpansetOp(">>", F(TRUE), F(FALSE)), F(S("string", "a"))),
     "(({ true }) >> ({ false })) ~ ({ `a` })"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "tree", "printed"), SPANSET_OPS)
def test_spanset_operators(text: str, tree: object, printed: str) -> None:
    got = parse(text)
    assert (got, str(got)) == (tree, printed)


def test_a_pipeline_keeps_its_tail_for_the_compiler_to_refuse() -> None:
    assert parse("{ .a = 1 } | count() > 1") == Pipeline(F(B("=", A("a"), S("int", 1))), "count() > 1")


# TestSpansetFilterErrors, TestSpansetExpressionErrors, TestAttributeNameErrors: Tempo's positions; reasons
# worded by observ where goyacc's token names differ
ERRORS = [
    ("wharblgarbl", 1, 1, "syntax error: unexpected IDENTIFIER"),
    ("{ 2 <> 3}", 1, 6, "syntax error: unexpected >"),
    ("{ 2 = .b ", 1, 10, "syntax error: unexpected $end"),
    ("{ + }", 1, 3, "syntax error: unexpected +"),
    ("{ true } &&", 1, 12, "syntax error: unexpected $end, expecting ( or {"),
    ("{ . foo }", 1, 3, "syntax error: unexpected ."),
    ("{ .foo .bar }", 1, 8, "syntax error: unexpected attribute"),
    ("", 1, 1, "syntax error: unexpected $end, expecting { or ("),
    ("   ", 1, 4, "syntax error: unexpected $end, expecting { or ("),
    ("{ attribute = 4 }", 1, 3, "unknown identifier: attribute"),
    ("{ .a = 99999999999999999999 }", 1, 8, 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
    ('{ name = "a\\qb" }', 1, 10, "invalid syntax"),
    ("{ trace:status = error }", 1, 3, "syntax error: trace:status is not an intrinsic of scope trace"),
    ("{ span:rootName = `bar` }", 1, 3, "syntax error: span:rootName is not an intrinsic of scope span"),
    ("{ .a = 1 }\n  && {", 2, 7, "syntax error: unexpected $end"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "col", "reason"), ERRORS)
def test_parse_errors_name_the_line_and_column(text: str, line: int, col: int, reason: str) -> None:
    with pytest.raises(ParseError) as e:
        parse(text)
    assert (e.value.line, e.value.col) == (line, col)
    assert e.value.reason.startswith(reason)
    assert str(e.value).startswith(f"parse error at line {line}, col {col}: {reason}")


def test_a_function_where_a_spanset_should_be_says_functions_are_not_run() -> None:
    with pytest.raises(ParseError, match=r"col 1: .*count\(\) is a pipeline or metrics function"):
        parse("count() > 3 && { true }")
    with pytest.raises(ParseError, match=r"col 13: syntax error: unexpected \|.*pipelines are outside"):
        parse("({ .a = 1 } | count() > 1) && {}")


@pytest.mark.parametrize(
    "text",
    [
        "{ " + "(.a = 1 && " * 3000 + ".a = 1" + ")" * 3000 + " }",  # 3,000 levels of nested conditions
        "{ " + " && ".join([".a = 1"] * 10_000) + " }",  # 10,000 conditions
        "{ .a = 1 } && " * 2000 + "{ .a = 1 }",  # 2,001 spansets
        "{ " + " && ".join([".a=1"] * 300) + " }",  # short, but past MAX_NODES
    ],
)
def test_hostile_queries_are_refused_while_parsing(text: str) -> None:
    with pytest.raises(ParseError, match=f"more than {MAX_NODES} terms|longer than {MAX_INPUT_BYTES} bytes"):
        parse(text)


def test_deep_parentheses_around_one_condition_parse() -> None:
    """lark's LALR stack is a list: nesting costs no recursion, and parentheses add no terms."""
    assert parse("{" + "(" * 2000 + ".a = 1" + ")" * 2000 + "}") == F(B("=", A("a"), S("int", 1)))


@pytest.mark.parametrize("value", [None, 42, b"{}", ["{}"]])
def test_a_query_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(ParseError, match="a query must be a string"):
        parse(value)  # type: ignore[arg-type]
