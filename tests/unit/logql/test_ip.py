"""ip() line and label filters (observ/logql/log/ip.py) against Loki's own tables and a Go oracle.

Sources (grafana/loki 65e30f8488e8): pkg/logql/log/ip_test.go, the `ip(` cases of pkg/logql/syntax/parser_test.go
and ast_test.go, and the ip() scenarios of pkg/logql/internal/logqltest/testdata (testdata/ip.logqltest). The
address parsing and the scan are also checked against testdata/ip_go_oracle.json: Loki's ip.go compiled with
Go's net/netip and netipx, run on Go's own netip test strings and on generated patterns and lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observ.logql.engine import Engine
from observ.logql.errors import LogQLError, ParseError
from observ.logql.log.ip import INVALID_OPERATION, IpFilter, parse_addr, stage_error
from observ.logql.log.label_filters import LineState, compile_label_filter
from observ.logql.log.pipeline import Pipeline
from observ.logql.querier import plan_scan
from observ.logql.syntax import ast
from observ.logql.syntax.format import format_expr
from observ.logql.syntax.parser import parse
from observ.logql.unwrap import Unwrapper
from observ.model import DecodedBatch, Stream
from observ.store.logstore import LogStore
from observ.store.pushdown import compile_scan
from observ.store.querier import LogQuerier
from tests.unit.logql.test_loki_scripts import _LOAD, _check, _labels, _scenarios, _seconds

TESTDATA = Path(__file__).parent / "testdata"
EQ, NEQ = ast.MatchOp.EQ, ast.MatchOp.NEQ
CONTAINS, NOT_CONTAINS = ast.LineFilterOp.CONTAINS, ast.LineFilterOp.NOT_CONTAINS


# --- pkg/logql/log/ip_test.go ----------------------------------------------------------------------

IP_FILTER = [  # Test_IPFilter: pattern, lines, indexes of the lines that match
    ("192.168.0.1", ["vpn 192.168.0.5 connected to vm", "vpn 192.168.0.1 connected to vm", "x", "hello world!", ""],
     [1]),
    ("::1", ["vpn ::1 connected to vm", "vpn 192.168.0.1 connected to vm", "x", "hello world!", ""], [0]),
    ("::1", ["vpn connected to ::1", "::1", "vpn 192.168.0.1 connected to vm", "x", ""], [0, 1]),
    ("192.168.0.1-192.189.10.12",
     ["vpn 192.168.0.0 connected to vm", "vpn 192.168.0.0 192.168.0.1 connected to vm",
      "vpn 192.172.6.1 connected to vm", "vpn 192.255.255.255 connected to vm", "x", "hello world!", ""], [1, 2]),
    ("2001:db8::1-2001:db8::8",
     ["vpn 192.168.0.0 connected to vm", "vpn 2001:db8::2 connected to vm", "vpn 2001:db8::9 connected to vm",
      "vpn 2001:db8::5 connected to vm", "x", "hello world!", ""], [1, 3]),
    ("192.168.4.5/16",
     ["vpn 192.168.0.0 connected to vm", "vpn 192.168.0.1 connected to vm", "vpn 192.172.6.1 connected to vm",
      "vpn 192.168.255.255 connected to vm", "x", "hello world!", ""], [0, 1, 3]),
    ("2001:db8::/32",
     ["vpn 2001:db8::1 connected to vm", "vpn 2001:db9::3 connected to vm",
      "vpn 2001:dc8::1 and 2001:db8::2 connected to vm", "vpn 192.168.255.255 connected to vm", "x", "hello world!",
      ""], [0, 2]),
]  # fmt: skip


@pytest.mark.parametrize(("pattern", "lines", "expected"), IP_FILTER)
def test_ip_filter(pattern: str, lines: list[str], expected: list[int]) -> None:
    f = IpFilter(pattern)
    assert [i for i, line in enumerate(lines) if f.search(line)] == expected


def test_ip_filter_refuses_a_range_with_spaces() -> None:
    """Test_IPFilter "wrong IP range syntax extra space"; the message is Loki's `%w: %q`."""
    with pytest.raises(LogQLError, match=re.escape('ip: invalid pattern: "192.168.0.1 - 192.189.10.12"')):
        IpFilter("192.168.0.1 - 192.189.10.12")


def _label_state(labels: dict[str, str], err: str = "") -> LineState:
    st = LineState(0, "x", labels)
    st.err = err
    return st


@pytest.mark.parametrize(
    ("pattern", "op", "value", "keep"),
    [("192.168.0.1", EQ, "192.168.0.1", True), ("192.168.0.2", NEQ, "192.168.0.1", True)],
)
def test_ip_label_filter_ty(pattern: str, op: ast.MatchOp, value: str, keep: bool) -> None:
    """Test_IPLabelFilterTy: `=` and `!=` on the label value; no error is set."""
    st = _label_state({"addr": value})
    assert compile_label_filter(ast.IpLabelFilter("addr", op, pattern))(st) is keep
    assert st.err == ""


def test_ip_label_filter_ty_invalid_pattern() -> None:
    """Test_IPLabelFilterTy "pattern-invalid": a backwards range is no pattern; the stage is refused."""
    query = '{app="a"} | addr = ip("192.168.0.2-1.0.0.0")'
    err = stage_error(parse(query).pipeline)
    assert err is not None and str(err) == (
        'parse error : stage \'| addr=ip("192.168.0.2-1.0.0.0")\' : ip: invalid pattern: "192.168.0.2-1.0.0.0"'
    )


@pytest.mark.parametrize(
    ("pattern", "op", "line", "keep"),
    [("192.168.0.1", CONTAINS, "192.168.0.1", True), ("192.168.0.2", NOT_CONTAINS, "192.168.0.1", True)],
)
def test_ip_line_filter_ty(pattern: str, op: ast.LineFilterOp, line: str, keep: bool) -> None:
    """Test_IPLineFilterTy: `|=` keeps a line holding the address, `!=` one that does not."""
    assert (Pipeline([ast.LineFilter(op, (ast.IpPattern(pattern),))]).process(0, line, {}) is not None) is keep


@pytest.mark.parametrize("op", [ast.LineFilterOp.MATCH, ast.LineFilterOp.NOT_MATCH, ast.LineFilterOp.PATTERN])
def test_ip_line_filter_ty_unsupported_operations(op: ast.LineFilterOp) -> None:
    """Test_IPLineFilterTy "regex equal" / "regex not equal" (and `|>`): ip() takes only `|=` and `!=`."""
    with pytest.raises(LogQLError, match=f"^{INVALID_OPERATION}$"):
        Pipeline([ast.LineFilter(op, (ast.IpPattern("192.168.0.2"),))])


# --- Go oracle ----------------------------------------------------------------------------------------

ORACLE = json.loads((TESTDATA / "ip_go_oracle.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", ORACLE["filters"], ids=[c["pattern"] for c in ORACLE["filters"]])
def test_ip_filter_as_go(case: dict[str, object]) -> None:
    pattern = str(case["pattern"])
    if case["error"]:
        with pytest.raises(LogQLError) as info:
            IpFilter(pattern)
        assert str(info.value) == case["error"]
        return
    f = IpFilter(pattern)
    assert [f.search(str(t)) for t in case["texts"]] == case["matches"]  # type: ignore[attr-defined]


def test_parse_addr_as_go_netip() -> None:
    """netip.ParseAddr's rules: e.g. no IPv4 leading zeros, at most 4 hex digits a group, a zone only on IPv6."""
    cases = ORACLE["parse_addr"]
    assert sum(1 for c in cases if c[1] is None) > 300 and sum(1 for c in cases if c[1]) > 100
    for text, *want in cases:
        got = parse_addr(text)
        expected = None if want[0] is None else (want[0], int(want[1], 16), want[2])
        assert (None if got is None else (got.bits, got.value, got.zone)) == expected, text


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("192.168.0.1", (32, 0xC0A80001, "")),
        ("01.2.3.4", None),  # leading zero (Python's ipaddress agrees; it did not before 3.9.5)
        ("1.2.3.4.5", None),
        ("::ffff:1.2.3.4", (128, 0xFFFF01020304, "")),  # IPv4-mapped stays 128 bits: never equal to 1.2.3.4
        ("fe80::1%eth0", (128, 0xFE80 << 112 | 1, "eth0")),
        ("fe80::1%", None),
        ("%eth0", None),
        ("1:2:3:4:5:6:7:8::", None),  # :: must stand for at least one group
        ("00001::", None),
        ("::1.2.3.4", (128, 0x01020304, "")),
        ("1:2:3:4:5:6:1.2.3.4", (128, 0x0001000200030004000500060102_0304, "")),
        ("1:2:3:4:5:1.2.3.4", None),
    ],
)
def test_parse_addr_rules(text: str, parsed: tuple[int, int, str] | None) -> None:
    got = parse_addr(text)
    assert (None if got is None else tuple(got)) == parsed


@pytest.mark.parametrize(
    ("pattern", "line", "match"),
    [
        ("fe80::1%eth0", "fe80::1", False),  # a zoned address equals no address of a line (a line has no zones)
        ("fe80::1-fe80::2%eth1", "fe80::1", True),  # netipx drops the zones of a range
        ("fe80::1%eth0-fe80::2", "fe80::1", False),  # ParseAddr comes first: one address, zone "eth0-fe80::2"
        ("10.0.0.0/8", "::ffff:10.0.0.1", False),  # families differ
        ("1.2.3.4/32", "01.2.3.4 1.2.3.4", True),  # the bad first candidate is skipped
        ("1.2.3.4/00", "1.2.3.4", None),  # bits: no leading zero
        ("1.2.3.4/33", "1.2.3.4", None),
        ("::/0", "at 1::", True),
        ("10.0.0.1", "10.0.0.1:8080", True),
        ("10.0.0.1", "[::ffff:10.0.0.1]", False),
        ("2001:db8::1", "id=2001:db8::1", True),
        ("2001:db8::1", "é2001:db8::1é", True),
    ],
)
def test_patterns_and_scans(pattern: str, line: str, match: bool | None) -> None:
    if match is None:
        with pytest.raises(LogQLError, match="ip: invalid pattern"):
            IpFilter(pattern)
    else:
        assert IpFilter(pattern).search(line) is match


# --- pkg/logql/syntax/parser_test.go ---------------------------------------------------------------


def _sel(*pairs: tuple[str, str]) -> ast.Selector:
    return ast.Selector(tuple(ast.Matcher(n, EQ, v) for n, v in pairs))


def _ip_lf(pattern: str, op: ast.LineFilterOp = CONTAINS) -> ast.LineFilter:
    return ast.LineFilter(op, (ast.IpPattern(pattern),))


def _ip_label(name: str, pattern: str, op: ast.MatchOp = EQ) -> ast.LabelFilter:
    return ast.LabelFilter(ast.IpLabelFilter(name, op, pattern))


def _str_label(name: str, value: str) -> ast.LabelFilter:
    return ast.LabelFilter(ast.StringLabelFilter(ast.Matcher(name, EQ, value)))


FOO = _sel(("foo", "bar"))
LOGFMT = ast.LogfmtParser()
IP = "123.123.123.123"

PARSER_CASES = [
    ('{foo="bar"} |= "baz" |= ip("123.123.123.123")', FOO, (ast.LineFilter(CONTAINS, ("baz",)), _ip_lf(IP))),
    (
        '{ foo = "bar" , ip="foo"}|logfmt|= ip("127.0.0.1")|ip="2.3.4.5"|ip="abc"|ipaddr=ip("4.5.6.7")'
        '|ip=ip("6.7.8.9")',
        _sel(("foo", "bar"), ("ip", "foo")),
        (LOGFMT, _ip_lf("127.0.0.1"), _str_label("ip", "2.3.4.5"), _str_label("ip", "abc"),
         _ip_label("ipaddr", "4.5.6.7"), _ip_label("ip", "6.7.8.9")),
    ),
    ('{foo="bar"} |= ip("123.123.123.123")', FOO, (_ip_lf(IP),)),
    ('{foo="bar"} |= ip("123.123.123.123")|= "baz"', FOO, (_ip_lf(IP), ast.LineFilter(CONTAINS, ("baz",)))),
    (
        '{foo="bar"} |= ip("123.123.123.123")|= "baz" |=ip("123.123.123.123")',
        FOO,
        (_ip_lf(IP), ast.LineFilter(CONTAINS, ("baz",)), _ip_lf(IP)),
    ),
    ('{foo="bar"} != ip("123.123.123.123")', FOO, (_ip_lf(IP, NOT_CONTAINS),)),
    ('{foo="bar"} != ip("123.123.123.123")|= "baz"', FOO,
     (_ip_lf(IP, NOT_CONTAINS), ast.LineFilter(CONTAINS, ("baz",)))),
    (
        '{foo="bar"} != ip("123.123.123.123")|= "baz" !=ip("123.123.123.123")',
        FOO,
        (_ip_lf(IP, NOT_CONTAINS), ast.LineFilter(CONTAINS, ("baz",)), _ip_lf(IP, NOT_CONTAINS)),
    ),
    ('{ foo = "bar" }|logfmt|addr=ip("1.2.3.4")', FOO, (LOGFMT, _ip_label("addr", "1.2.3.4"))),
    ('{ foo = "bar" }|logfmt|addr!=ip("1.2.3.4")', FOO, (LOGFMT, _ip_label("addr", "1.2.3.4", NEQ))),
    (
        '{ foo = "bar" }|logfmt|level="error"|addr=ip("1.2.3.4")',
        FOO,
        (LOGFMT, _str_label("level", "error"), _ip_label("addr", "1.2.3.4")),
    ),
    (
        '{ foo = "bar" }|logfmt|level="error"|addr!=ip("1.2.3.4")',
        FOO,
        (LOGFMT, _str_label("level", "error"), _ip_label("addr", "1.2.3.4", NEQ)),
    ),
    (
        '{ foo = "bar" }|logfmt|remote_addr=ip("2.3.4.5")|level="error"|addr=ip("1.2.3.4")',
        FOO,
        (LOGFMT, _ip_label("remote_addr", "2.3.4.5"), _str_label("level", "error"), _ip_label("addr", "1.2.3.4")),
    ),
    (
        '{ foo = "bar" }|logfmt|remote_addr!=ip("2.3.4.5")|level="error"|addr!=ip("1.2.3.4")',
        FOO,
        (LOGFMT, _ip_label("remote_addr", "2.3.4.5", NEQ), _str_label("level", "error"),
         _ip_label("addr", "1.2.3.4", NEQ)),
    ),
    (
        '{ foo = "bar" }|logfmt|remote_addr=ip("2.3.4.5")|level="error"|addr!=ip("1.2.3.4")',
        FOO,
        (LOGFMT, _ip_label("remote_addr", "2.3.4.5"), _str_label("level", "error"), _ip_label("addr", "1.2.3.4", NEQ)),
    ),
    ('{ foo = "bar" }|logfmt|ip="2.3.4.5"', FOO, (LOGFMT, _str_label("ip", "2.3.4.5"))),
    ('{ foo = "bar" }|logfmt|ip="2.3.4.5"|ip="abc"', FOO,
     (LOGFMT, _str_label("ip", "2.3.4.5"), _str_label("ip", "abc"))),
    (
        '{ foo = "bar" }|logfmt|ip="2.3.4.5"|ip="abc"|ipaddr=ip("4.5.6.7")',
        FOO,
        (LOGFMT, _str_label("ip", "2.3.4.5"), _str_label("ip", "abc"), _ip_label("ipaddr", "4.5.6.7")),
    ),
    (
        '{ foo = "bar" }|logfmt|ip="2.3.4.5"|ip="abc"|ipaddr=ip("4.5.6.7")|ip=ip("6.7.8.9")',
        FOO,
        (LOGFMT, _str_label("ip", "2.3.4.5"), _str_label("ip", "abc"), _ip_label("ipaddr", "4.5.6.7"),
         _ip_label("ip", "6.7.8.9")),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("query", "selector", "pipeline"), PARSER_CASES, ids=[c[0] for c in PARSER_CASES])
def test_parser(query: str, selector: ast.Selector, pipeline: tuple[ast.Stage, ...]) -> None:
    expr = parse(query)
    assert expr == ast.LogExpr(selector, pipeline)
    assert parse(format_expr(expr)) == expr


@pytest.mark.parametrize(
    ("query", "col"),
    [
        ('{ foo = "bar" }|logfmt|addr>=ip("1.2.3.4")', 30),
        ('{ foo = "bar" }|logfmt|addr>ip("1.2.3.4")', 29),
        ('{ foo = "bar" }|logfmt|addr<=ip("1.2.3.4")', 30),
        ('{ foo = "bar" }|logfmt|addr<ip("1.2.3.4")', 29),
    ],
)
def test_parser_refuses_ip_with_comparisons(query: str, col: int) -> None:
    with pytest.raises(ParseError) as info:
        parse(query)
    assert (info.value.reason, info.value.line, info.value.col) == ("syntax error: unexpected ip", 1, col)


def test_or_chains_hold_ip_anywhere() -> None:
    """Loki's orFilter grammar: `ip()` may open, continue or close an `or` chain of any filter op."""
    expr = parse('{a="b"} |= "x" or ip("10.0.0.0/8") or "y" !~ ip("::1") or "z"')
    assert isinstance(expr, ast.LogExpr)
    assert expr.pipeline == (
        ast.LineFilter(CONTAINS, ("x", ast.IpPattern("10.0.0.0/8"), "y")),
        ast.LineFilter(ast.LineFilterOp.NOT_MATCH, (ast.IpPattern("::1"), "z")),
    )


# --- pkg/logql/syntax/ast_test.go ------------------------------------------------------------------

STRING_CASES = [  # Test_logSelectorExpr_String (ip cases): the canonical text is the query itself
    '{foo="bar", bar!="baz"} |= "" |= ip("::1")',
    '{foo="bar", bar!="baz"} |= "" != ip("127.0.0.1")',
    '{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap" | logfmt | b=ip("127.0.0.1")',
    '{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap" | logfmt | b=ip("127.0.0.1") | level="error"',
    '{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap" | logfmt --strict b="foo" | b=ip("127.0.0.1") | level="error"',
    '{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap" | logfmt | b=ip("127.0.0.1") | level="error" | c=ip("::1")',
    # TestStringer: positive or chains print as written
    '{app="foo"} |= ip("127.0.0.1") or "foo"',
    '{app="foo"} |= "foo" or ip("127.0.0.1")',
    '{app="foo"} |~ ip("127.0.0.1") or "foo"',
    '{app="foo"} |= ip("10.0.0.0/8") or ip("192.168.0.0/16") or "baz"',
    '{app="foo"} |= "baz" or ip("10.0.0.0/8") or ip("192.168.0.0/16")',
    '{app="foo"} |= "baz" or ip("10.0.0.0/8") or "qux"',
    '{app="foo"} |= ip("10.0.0.0/8") or ip("192.168.0.0/16") or ip("172.16.0.0/12") or "baz"',
]


@pytest.mark.parametrize("query", STRING_CASES)
def test_string(query: str) -> None:
    assert format_expr(parse(query)) == query


_texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_words = st.from_regex(r"[a-z]{1,6}", fullmatch=True)  # a valid regex and line-filter pattern


@st.composite
def _line_filters(draw: st.DrawFn) -> ast.LineFilter:
    """Any op with at least one ip() (the parser takes them all); strings the op's own checks accept."""
    op = draw(st.sampled_from(list(ast.LineFilterOp)))
    strings = _texts if op in (CONTAINS, NOT_CONTAINS) else _words
    values = draw(st.lists(st.one_of(strings, _texts.map(ast.IpPattern)), max_size=2))
    return ast.LineFilter(op, (ast.IpPattern(draw(_texts)), *values))


@given(
    st.lists(_line_filters(), max_size=3),
    st.lists(st.tuples(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), st.sampled_from([EQ, NEQ]), _texts)),
)
def test_format_round_trip(filters: list[ast.LineFilter], labels: list[tuple[str, ast.MatchOp, str]]) -> None:
    """Any pattern text, in a line filter or a label filter, prints and parses back to the same tree."""
    pipeline: list[ast.Stage] = list(filters)
    pipeline += [ast.LabelFilter(ast.IpLabelFilter("x" + name, op, pattern)) for name, op, pattern in labels]
    expr = ast.LogExpr(FOO, tuple(pipeline))
    assert parse(format_expr(expr)) == expr


FILTER_MATCHER = [  # Test_FilterMatcher (ip cases): query, (line, kept)
    ('{app="foo"} |= ip("127.0.0.1") or "foo"', [("foo", True), ("bar", False), ("127.0.0.2", False),
                                                 ("127.0.0.1", True)]),
    ('{app="foo"} |= ip("127.0.0.0/8") or "foo"', [("foo", True), ("bar", False), ("req from 127.0.0.2 ok", True),
                                                   ("req from 8.8.8.8 ok", False)]),
    ('{app="foo"} |= ip("10.0.0.0/8") or ip("192.168.0.0/16")', [("from 10.5.3.2", True), ("from 192.168.1.1", True),
                                                                 ("from 8.8.8.8", False)]),
    ('{app="foo"} |= "special" or ip("10.0.0.0/8") or "special2"',
     [("has special", True), ("from 10.5.3.2", True), ("has special2", True), ("nothing relevant", False)]),
    ('{app="foo"} != ip("127.0.0.1") or "foo"', [("foo", False), ("bar", True), ("127.0.0.2", True),
                                                 ("127.0.0.1", False)]),
]  # fmt: skip


@pytest.mark.parametrize(("query", "checks"), FILTER_MATCHER, ids=[q for q, _ in FILTER_MATCHER])
def test_filter_matcher(query: str, checks: list[tuple[str, bool]]) -> None:
    expr = parse(query)
    assert isinstance(expr, ast.LogExpr)
    pipeline = Pipeline(expr.pipeline)
    assert [(line, pipeline.process(0, line, {}) is not None) for line, _ in checks] == checks


# --- stage errors (ast.go MultiStageExpr.stages, logqlmodel.NewStageError) --------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{a="b"} |= "x" |= ip("bogus")', 'stage \'|= "x" |= ip("bogus")\' : ip: invalid pattern: "bogus"'),
        ('{a="b"} |~ "x" or ip("::1")', 'stage \'|~ "x" or ip("::1")\' : ip: invalid operation'),
        ('{a="b"} |> ip("::1")', "stage '|> ip(\"::1\")' : ip: invalid operation"),
        # a negated chain is nested filters in Loki, built last to first, and prints as separate filters
        ('{a="b"} != ip("one") or ip("two")', 'stage \'!= ip("one") != ip("two")\' : ip: invalid pattern: "two"'),
        ('{a="b"} |= ip("one") or ip("two")', 'stage \'|= ip("one") or ip("two")\' : ip: invalid pattern: "one"'),
        # line filters move ahead of the json parser into one stage, built last to first
        (
            '{a="b"} |= ip("one") | json |= ip("two")',
            'stage \'|= ip("one") |= ip("two")\' : ip: invalid pattern: "two"',
        ),
        # a label filter closes the run of line filters before it
        (
            '{a="b"} | json | addr=ip("one") |= ip("two")',
            'stage \'| addr=ip("one")\' : ip: invalid pattern: "one"',
        ),
        ('{a="b"} | addr != ip("")', 'stage \'| addr!=ip("")\' : ip: invalid pattern: ""'),
    ],
)
def test_stage_errors(query: str, message: str) -> None:
    expr = parse(query)  # Loki's parser takes these: the pipeline refuses them
    assert isinstance(expr, ast.LogExpr)
    with pytest.raises(ParseError) as info:
        plan_scan(expr, "t", 0, 1)
    assert str(info.value) == f"parse error : {message}"


@pytest.mark.parametrize(
    "query",
    [
        '{a="b"} | addr = ip("bogus") or addr = ip("10.0.0.0/8")',  # only a bare ip() label filter stage is checked
        'sum_over_time({a="b"} | logfmt | unwrap n | addr = ip("bogus") [1m])',  # unwrap's filters are not stages
    ],
)
def test_no_stage_error_where_loki_builds_no_ip_stage(query: str) -> None:
    expr = parse(query)
    log = expr.range.log if isinstance(expr, ast.RangeAggregation) else expr
    assert isinstance(log, ast.LogExpr) and stage_error(log.pipeline) is None


# --- label filter semantics (ip.go IPLabelFilter.filterTy) -------------------------------------------


@pytest.mark.parametrize(
    ("op", "labels", "err", "keep"),
    [
        (EQ, {"addr": "10.1.2.3"}, "", True),
        (EQ, {"addr": "client 10.1.2.3:80"}, "", True),  # an address inside the value counts
        (EQ, {"addr": "10.1.2.3x"}, "", True),  # the scan stops at the first non-IPv4 character
        (EQ, {"addr": "192.168.1.1"}, "", False),
        (NEQ, {"addr": "192.168.1.1"}, "", True),
        (NEQ, {"addr": "no address"}, "", True),
        (EQ, {}, "", False),  # a missing label fails
        (NEQ, {}, "", False),
        (EQ, {"addr": ""}, "", False),  # an empty one is there, and holds no address
        (NEQ, {"addr": ""}, "", True),
        (EQ, {}, "JSONParserErr", True),  # an entry with an error passes: only string matchers drop it
        (NEQ, {"addr": "10.1.2.3"}, "JSONParserErr", True),
    ],
)
def test_label_filter(op: ast.MatchOp, labels: dict[str, str], err: str, keep: bool) -> None:
    st = _label_state(labels, err)
    assert compile_label_filter(ast.IpLabelFilter("addr", op, "10.0.0.0/8"))(st) is keep
    assert st.err == err


@pytest.mark.parametrize("op", [EQ, NEQ])
def test_label_filter_with_a_bad_pattern_never_matches(op: ast.MatchOp) -> None:
    """Where Loki does not refuse it (inside and/or, after unwrap) a bad pattern fails every entry but errored ones."""
    test = compile_label_filter(ast.IpLabelFilter("addr", op, "bogus"))
    assert not test(_label_state({"addr": "10.1.2.3"}))
    assert test(_label_state({"addr": "10.1.2.3"}, "LabelFilterErr"))


def test_unwrap_post_filter() -> None:
    unwrap = ast.Unwrap("n", post_filters=(ast.IpLabelFilter("addr", EQ, "10.0.0.0/8"),))
    extract = Unwrapper(unwrap)
    kept = extract.extract({"n": "2", "addr": "10.0.0.1"})
    dropped = extract.extract({"n": "2", "addr": "11.0.0.1"})
    assert kept is not None and kept[0] == 2 and dropped is None


# --- pushdown ---------------------------------------------------------------------------------------


def test_ip_filters_stay_in_the_python_pipeline() -> None:
    expr = parse('{a="b"} |= "x" |= ip("10.0.0.0/8") or "y" != "z" | addr = ip("::1")')
    assert isinstance(expr, ast.LogExpr)
    scan = plan_scan(expr, "t", 0, 1)
    assert scan.rest == (expr.pipeline[1], expr.pipeline[3])
    pd = compile_scan(scan)
    assert "x" in pd.where.params and "z" in pd.where.params and "y" not in pd.where.params
    assert pd.hints.needles == ("x",)


def test_error_filter_after_an_ip_label_filter_is_still_a_no_op() -> None:
    """An ip() label filter sets no error, so a following `| __error__=""` before any parser is dropped."""
    expr = parse('{a="b"} | addr = ip("::1") | __error__=""')
    assert isinstance(expr, ast.LogExpr)
    assert plan_scan(expr, "t", 0, 1).rest == (expr.pipeline[0],)


# --- the engine: Loki's logqltest scenarios (testdata/ip.logqltest) ------------------------------------

S = 10**9
_METADATA = re.compile(r"\s*\[metadata ((?:[a-zA-Z_]\w*=\"[^\"]*\"\s*)+)\]\s*$")


def _chunks() -> list[str]:
    """The script split at `clear`: each chunk is one scenario."""
    text = (TESTDATA / "ip.logqltest").read_text(encoding="utf-8")
    return ["clear" + chunk for chunk in re.split(r"(?m)^clear$", text)[1:]]


def _store(chunk: str) -> LogStore:
    """The scenario's entries, with structured metadata from `[metadata ...]` (the shared runner takes none)."""
    rows: dict[tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], list[tuple[int, str]]] = {}
    for raw in chunk.splitlines():
        line = raw.strip()
        md = _METADATA.search(line)
        m = _LOAD.match(line[: md.start()] if md else line)
        if not m or line.startswith(("eval", "#")):
            continue
        first, every, count = _seconds(m[3]), _seconds(m[4] or "0s"), int(m[5] or 1)
        key = (tuple(sorted(_labels(m[1]).items())), tuple(sorted(_labels(md[1]).items())) if md else ())
        rows.setdefault(key, []).extend(((first + i * every) * S, m[2][1:-1]) for i in range(count))
    store = LogStore(":memory:")
    batches = []
    for i, ((labels, metadata), entries) in enumerate(rows.items()):
        entries.sort()
        n = len(entries)
        batches.append(
            DecodedBatch(
                stream=Stream(stream="", labels=labels), source=f"s{i}", observed_ts=0,
                ts=[t for t, _ in entries], level=[""] * n, trace_id=[""] * n, span_id=[""] * n,
                end=list(range(1, n + 1)), line=[text for _, text in entries],
                metadata=[dict(metadata)] * n if metadata else None,
            )
        )  # fmt: skip
    store.append(batches)
    return store


@pytest.mark.parametrize("index", range(len(_chunks())))
def test_loki_scenario(index: int, tmp_path: Path) -> None:
    chunk = _chunks()[index]
    script = tmp_path / "scenario.logqltest"
    script.write_text(re.sub(r"\[metadata [^\]]*\]", "", chunk), encoding="utf-8")
    (scenario,) = _scenarios(script)
    assert scenario.evals
    engine = Engine(LogQuerier(_store(chunk)))
    for ev in scenario.evals:
        _check(engine, ev)
