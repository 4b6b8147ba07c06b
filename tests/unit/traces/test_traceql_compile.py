"""TraceQL -> SpanQuery: Tempo's test_examples.yaml (grafana/tempo pkg/traceql) sorted into what observ runs and
what it refuses, spanset algebra, literal folding, type errors, and errors that name their place."""

from __future__ import annotations

import pytest

from observ.traces.query import MAX_CONDITIONS, AllOf, AnyOf, Condition
from observ.traces.traceql.compile import compile_query, spansets
from observ.traces.traceql.errors import InvalidQuery, TraceQLError, Unsupported
from observ.traces.traceql.parser import parse


def c(tag: str, op: str, value: object) -> Condition:
    return Condition(tag=tag, op=op, value=value)  # type: ignore[arg-type]


def sets(text: str) -> list[object] | None:
    return spansets(parse(text))  # type: ignore[return-value]


# test_examples.yaml `valid:` queries inside observ's subset: they compile
RUNS = [
    "{ true }", "{ !true }", "{ true && false }", "{ true || false }", "{ 1 = 2 }", "{ 1 != 2 }", "{ 1 > 2 }",
    "{ 1 >= 2 }", "{ 1 < 2 }", "{ 1 <= 2 }", "{ -1 = 2 }", '{ "test" =~ "test" }', '{ "test" !~ "test" }',
    '{ "test" = "test" }', '{ "test" != "test" }', "{ .a = 2 }", "{ .a != 2 }", "{ .a > 2 }", "{ .a >= 2 }",
    "{ .a < 2 }", "{ .a <= 2 }", '{ .a =~ "test" }', '{ .a !~ "test" }', '{ .a = "test" }', '{ .a != "test" }',
    "{ resource.a != 3 }", "{ span.a != 3 }", "{ status = ok }", "{ status = unset }", "{ status = error }",
    "{ status != error }", '{ statusMessage = "status message" }', '{ statusMessage = "" }',
    '{ statusMessage =~ ".*" }', '{ statusMessage != "" }', "{ kind = internal }", "{ kind = client }",
    "{ kind = consumer }", "{ traceDuration > 1s }", '{ rootServiceName = "foo" }', '{ rootName != "foo" }',
    "{ duration > 1s }", "{ 1 < 1h }", "{ 1 <= 1.1 }", "{ span.foo != 3.0 }", '{ ."foo bar" = "v" }',
    '{ span."foo bar" = "v" }', '{ resource."foo bar" = "v" }', '{ ."foo\\" = \\"bar" = "v" }', '{ ."a\\\\b" = "v" }',
    '{ ."a\\"b" = "v" }', '{ ."foo\tbar" = "v" }', '{ ."foo\nbar" = "v" }', '{ ." x" = "v" }',
    "{ trace:duration > 2s }", '{ trace:rootName = "a" }', '{ trace:rootService = "a" }', "{ span:duration > 2s }",
    "{ span:status = error }", "{ span:kind = client }", '{ span:statusMessage = "status message" }',
    "{ true } && { true }", "{ true } || { true }", '{.attr="a" || .attr="b"}', "{.attr=1 || .attr=2}",
    "{.attr=1.1 || .attr=2.2}", '{.attr!="a" && .attr!="b"}', "{.attr!=1 && .attr!=2}", "{.attr!=1.1 && .attr!=1.1}",
    '{.attr=~"a.*" || .attr=~"b.*"}', '{.attr!~"a.*" && .attr!~"b.*"}', '{ .http.status >= "200" }',
    "{ nil != nil }", "{ nil = nil }",
]  # fmt: skip

# test_examples.yaml `valid:` queries outside it: refused with a TraceQLError, never run half-understood
REFUSED = [
    "{ .a }", "{ !.a }", "{ .a && false }", "{ .a || true }", "{ -.a = 2 }",
    '{ !("test" != .c || ((true && .b) || 3 < .a)) }', '{ event.foo = "bar" }', '{ link.foo = "bar" }',
    '{ instrumentation.foo = "bar" }', '{ trace:id = "aasdf4ergf" }', '{ span:id = "61626364656667" }',
    '{ span:parentID = "84737586494" }', '{ event:name = "exception" }', "{ event:timeSinceStart > 1s }",
    '{ link:traceID = "f1f1f1f1f1f1ff1f1f1f1f1f1f1f1f1" }', '{ link:spanID = "f1f1f1f1f1f1f1f1" }',
    '{ instrumentation:name = "grpc" }', '{ instrumentation:version = "v3.34" }', "{ 1 + 1 = 2 }", "{ 1 - 1 = 2 }",
    "{ 1 * 1 = 2 }", "{ 1 / 1 = 2 }", "{ 1 ^ 1 = 2 }", "{ .a + 1 = 2 }", "{ .a - 1 = 2 }", "{ .a * 1 = 2 }",
    "{ .a / 1 = 2 }", "{ .a ^ 1 = 2 }", "{ duration > 1s * 2s }", "{ duration < (10s * 20s) }", "{ 1 * 1h = 1 }",
    "{ 1 / 1.1 = 1 }", "{ true } >> { true }", "{ true } << { true }", "{ true } > { true }", "{ true } < { true }",
    "{ true } ~ { true }", "{ true } !> { true }", "{ true } !< { true }", "{ true } !~ { true }",
    "{ true } !>> { true }", "{ true } !<< { true }", "{ true } &> { true }", "{ true } &< { true }",
    "{ true } &~ { true }", "{ true } &>> { true }", "{ true } &<< { true }",
    "({ true } | count() > 1 | { false }) >> ({ true } | count() > 1 | { false })", "avg(.field) > 1",
    "max(duration) >= 1s", "{ true } | max(duration) = 1h", "{ true } | max(.a) = 1", "select(.a)",
    "{} | select(.a,.b,.c)", "{ true } | { .a }", "{ true } | count() = 1", "count() = 1 | { true }",
    "({ true } | count() > 1 | { false }) && ({ true } | count() > 1 | { false })", "{ true } | coalesce()",
    "{ true } | by(.a)", "{} | rate()", "{} | count_over_time() by (name) with(sample=0.1)",
    "{} | quantile_over_time(duration, 0, 0.9, 1) by (span.http.path)", "{} | rate() | topk(10)",
    "({} | rate()) + ({} | rate())", "({} | rate()) * 100", "{ nestedSetLeft > 3 }",
    "{ } >> { kind = server } | select(nestedSetLeft, nestedSetRight, nestedSetParent)", "{ .foo != nil }",
    "{ name != nil }", "{ parent.a != 3 }", "{ parent.duration = 1h }", "{ childCount > 2 }",
]  # fmt: skip

# test_examples.yaml `parse_fails:` (those about spanset filters and spanset expressions) and `validate_fails:`
INVALID = [
    "true", "[ true ]", "( true )", "{ . }", "{ < }", "{ .a < }", "{ .a < 3", "{ (.a < 3 }", "{ attribute = 4 }",
    "{ .attribute == 4 }", "{} | rate() == 42", "{ span. }", "{ true } + { true }", "{ true } - { true }",
    "{ true } * { true }", "{ true } / { true }", "{ true } ^ { true }", "{ true } = { true }", "{ true } <= { true }",
    "{ true } >= { true }", "coalesce() | { true }", "count() > 3 && { true }", "{ true } | count()",
    "({ true }) + (count()) = 1", "{ trace:status = error }", "{ trace:kind = server }", '{ trace:name = "a" }',
    '{ trace:rootServiceName = "a" }', '{ span:rootName = "bar" }', "{} > 10", "{} == 10", "2 * 3", "3 = 2",
    "{ status }", "{ kind }", "{ ok }", "{ 1.1 }", "{ 1h }", '{ "foo" }', "{ 1 + 1 }", '{ 1 + "foo" = 1 }',
    "{ 1 - true = 1 }", "{ 1 / ok = 1 }", "{ 1 ^ name = 1 }", '{ 1 = "foo" }', "{ 1 != true }", "{ 1 > ok }",
    "{ 1 = name }", "{ 1 =~ 2}", "{ 1 !~ 2}", '{ 1 && "foo" }', "{ 1 || ok }", "{ true || 1.1 }", "{ status > ok }",
    "{ kind < consumer }", '{ traceDuration > "test" }', "{ rootServiceName = 1 }", "{ rootName != 3.2 }",
    '{ "foo" = span:childCount }', "{ span:status = nil }", "{ nil = span:status }",
    "{ resource.service.name = nil }", '{ span.foo =~ "[" }', '{ span.foo !~ "[" }', "{ -true }",
    '{ -"foo" = "bar" }', "{ -ok = status }", '{ -name = "foo" }', '{ !"foo" = "bar" }', "{ !ok = status }",
    "{ !consumer = kind }", '{ !name = "foo" }', "{ !1 = 1 }", "{ !1h = 1 }", "{ !1.1 = 1.1 }",
    '{ nestedSetLeft = "foo" }', "{ nestedSetRight = false }",
]  # fmt: skip


@pytest.mark.parametrize("text", RUNS)
def test_queries_of_the_subset_compile(text: str) -> None:
    q = compile_query(parse(text), 0, 10**18, 20, 3)
    assert q is None or q.start_ns == 0


@pytest.mark.parametrize("text", REFUSED + INVALID)
def test_queries_outside_the_subset_or_invalid_are_refused(text: str) -> None:
    with pytest.raises(TraceQLError):
        compile_query(parse(text), 0, 10**18, 20, 3)


A, B, C = c(".a", "=", 1), c("span.b", "=", "x"), c("status", "=", "error")
ALGEBRA = [
    ("{}", []),
    ("{ .a = 1 }", [A]),
    ('{ resource.service.name = "checkout" && status = error }',
     [AllOf(all=[c("resource.service.name", "=", "checkout"), C])]),
    ('{ .a = 1 || span.b = "x" || status = error }', [AnyOf(any=[A, B, C])]),
    ('{ .a = 1 && (span.b = "x" || status = error) }', [AllOf(all=[A, AnyOf(any=[B, C])])]),
    ('{ .a = 1 } && { span.b = "x" }', [A, B]),
    ('{ .a = 1 } || { span.b = "x" }', [AnyOf(any=[A, B])]),
    ('({ .a = 1 } && { span.b = "x" }) || { status = error }', [AnyOf(any=[A, C]), AnyOf(any=[B, C])]),
    ("{ .a = 1 } && { .a = 1 }", [A]),
    ("{ .a = 1 } || { .a = 1 }", [A]),
    ("{ .a = 1 } || { false }", [A]),
    ("{ .a = 1 } && { true }", [A]),
    ("{ .a = 1 } || { true }", []),
    ("{ .a = 1 && true }", [A]),
    ("{ .a = 1 || false }", [A]),
    ("{ .a = 1 && 1 < 2 }", [A]),
    ("{ .a = 1 } && { false }", None),
    ("{ .a = 1 && false }", None),
    ("{ 1 > 2 }", None),
    ('{ "abc" =~ "a.*" }', []),
    ("{ 3 < .a }", [c(".a", ">", 3)]),
    ('{ "GET /" = name }', [c("name", "=", "GET /")]),
    ("{ duration >= 1.5s }", [c("duration", ">=", 1_500_000_000)]),
    ("{ duration > 100 }", [c("duration", ">", 100)]),
    ("{ span:duration > 2m }", [c("duration", ">", 120_000_000_000)]),
    ("{ trace:duration > 1s }", [c("traceDuration", ">", 10**9)]),
    ('{ trace:rootService = "a" && trace:rootName = "b" }',
     [AllOf(all=[c("rootServiceName", "=", "a"), c("rootName", "=", "b")])]),
    ("{ kind = server && span:status != ok }", [AllOf(all=[c("kind", "=", "server"), c("status", "!=", "ok")])]),
    ('{ span."a b" = true && .c = -2.5 }', [AllOf(all=[c("span.a b", "=", True), c(".c", "=", -2.5)])]),
    ('{ resource.span.x =~ "a|b" }', [c("resource.span.x", "=~", "a|b")]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), ALGEBRA)
def test_spansets_in_conjunctive_normal_form(text: str, expected: list[object] | None) -> None:
    assert sets(text) == expected


def test_the_query_carries_the_window_limit_and_spans_per_spanset() -> None:
    q = compile_query(parse("{ .a = 1 }"), 5, 10, 7, 2)
    assert q is not None and (q.start_ns, q.end_ns, q.limit, q.spans_per_trace, q.spansets) == (5, 10, 7, 2, [A])
    assert compile_query(parse("{ false }"), 5, 10, 7, 2) is None


ERRORS = [
    ("{ .a = 1 } | count() > 1", Unsupported, "unsupported TraceQL at line 1, col 12: pipelines (`| count() > 1`)"),
    ("{ .a = 1 } >> { .b = 2 }", Unsupported, "col 12: structural operator `>>` (descendant) is not supported"),
    ("{ .a = 1 } ~ { .b = 2 }", Unsupported, "col 12: structural operator `~` (sibling) is not supported"),
    ("{ .a + 1 = 2 }", Unsupported, "col 6: arithmetic (`+`) is not supported"),
    ("{ !(.a = 1) }", Unsupported, "col 3: negation `!`, use `!=` or `!~` is not supported"),
    ("{ .a = .b }", Unsupported, "col 6: comparing two fields is not supported"),
    ("{ .a != nil }", Unsupported, "col 6: existence tests (`.a != nil`) are not supported"),
    ('{ parent.a = "x" }', Unsupported, "col 3: `parent.` attributes are not supported"),
    ('{ event:name = "x" }', Unsupported, "col 3: the intrinsic `event:name` is not supported"),
    ("{ status > ok }", InvalidQuery, "invalid TraceQL query at line 1, col 10: status compares only with = and !="),
    ("{ .a = error }", InvalidQuery, "col 6: `error` is a status, it compares only with status"),
    ("{ status = 2 }", InvalidQuery, "col 10: status compares with a status name (`status = error`)"),
    ("{ kind = ok }", InvalidQuery, "col 8: `ok` is a status, it compares only with status"),
    ("{ .a > 1s }", InvalidQuery, "col 6: a duration compares only with duration or traceDuration"),
    ('{ duration > "1s" }', InvalidQuery, "col 12: duration compares with a duration (`100ms`)"),
    ("{ name = 1 }", InvalidQuery, "col 8: name is a string"),
    ('{ .a > true }', InvalidQuery, "col 6: .a > True: booleans compare only with = and !="),
    ('{ span.foo =~ "(" }', InvalidQuery, "col 15: error parsing regexp '(': missing ): ("),
    ('{ name =~ "a{1001}" }', InvalidQuery, "col 11: error parsing regexp 'a{1001}': invalid repetition size"),
    ('{ "a" =~ "[" }', InvalidQuery, "col 10: error parsing regexp '[': missing ]: ["),
    ("{ 1 = true }", InvalidQuery, "col 5: cannot compare a int with a bool"),
    ("{ 1.1 }", InvalidQuery, "col 3: a spanset filter must be a condition, `1.1` is a float"),
    ("{ .a }", InvalidQuery, "col 3: a spanset filter must be a condition: compare `.a` with a value"),
    ("{ .a = 1 }\n&& { .b > 1 }\n>> {}", Unsupported, "line 3, col 1: structural operator"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "kind", "message"), ERRORS)
def test_refusals_say_what_and_where(text: str, kind: type[Exception], message: str) -> None:
    with pytest.raises(kind) as e:
        compile_query(parse(text), 0, 10**18, 20, 3)
    assert message in str(e.value)


def test_too_many_conditions_are_refused() -> None:
    many = " || ".join(f".a = {i}" for i in range(MAX_CONDITIONS + 1))
    with pytest.raises(InvalidQuery, match=f"a search takes at most {MAX_CONDITIONS} conditions"):
        compile_query(parse(f"{{ {many} }}"), 0, 10**18, 20, 3)
    nine = " && ".join(f"{{ .a = {i} }}" for i in range(9))
    with pytest.raises(Unsupported, match=f"`\\|\\|` between spansets expands past {MAX_CONDITIONS} conditions"):
        spansets(parse(f"({nine}) || ({nine})"))


def test_a_catastrophic_regex_compiles_to_re2() -> None:
    """RE2 has no backtracking: `(a+)+$` is linear, so it is accepted as it is."""
    assert sets('{ name =~ "(a+)+$" }') == [c("name", "=~", "(a+)+$")]
