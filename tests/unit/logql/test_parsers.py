"""Line parsers against Loki's behaviour: buger/jsonparser's leniency and error texts, Loki's logfmt decoder
(pkg/logql/log/logfmt/decode.go), jsonexpr paths, the pattern matcher (pkg/logql/log/pattern/pattern_test.go
fixtures) and unpack."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observ.logql.errors import LogQLError
from observ.logql.goregexp import compile_regex
from observ.logql.log.json import JsonFields, JsonScan, json_labels, parse_json, parse_json_path
from observ.logql.log.logfmt import _LogfmtDecoder, logfmt_pairs, parse_logfmt
from observ.logql.log.names import sanitize_key
from observ.logql.log.pattern import PatternMatcher
from observ.logql.log.regexp import RegexpExtractor
from observ.logql.log.unpack import unpack

OBJECT_ERR = "Value looks like object, but can't find closing '}' symbol"
ARRAY_ERR = "Value is array, but can't find closing ']' symbol"


@pytest.mark.parametrize(
    ("line", "labels", "error"),
    [
        ('{"a":"b","n":{"c":1}}', {"a": "b", "n_c": "1"}, None),
        ('{"a": 1.50, "b": 1e3, "c": 2.5, "d": -0}', {"a": "1.50", "b": "1e3", "c": "2.5", "d": "-0"}, None),
        ('{"t": true, "f": false, "z": null, "arr": [1, {"x": 1}], "e": {}}', {"t": "true", "f": "false"}, None),
        ('{"dup": "a", "dup": "b"}', {"dup": "b"}, None),
        ('{"k.e-y": 1, " sp ": 2, "1st": 3, "ü": 4}', {"k_e_y": "1", "sp": "2", "_1st": "3", "_": "4"}, None),
        ('{"a": {"1b": {"c d": "x"}}}', {"a_1b_c_d": "x"}, None),
        ('{"a": {" ": {"b": 1}, "  ": 2}}', {"a_b": "1", "a": "2"}, None),  # blank keys add nothing to a name
        ('{"esc": "tab\\there \\u00e9 \\ud83d\\ude00"}', {"esc": "tab\there é 😀"}, None),
        ('{"lone": "\\ud800x", "ok": "y"}', {"lone": "", "ok": "y"}, None),
        ('{"bad": "a\\qb", "ok": "y"}', {"bad": "", "ok": "y"}, None),
        ('{"a": "x"} trailing text', {"a": "x"}, None),
        ('{"a": 01, "b": 1., "c": -Infinity}', {"a": "01", "b": "1.", "c": "-Infinity"}, None),
        ('{"a": "b",}', {"a": "b"}, None),
        ('  {"a":"b"}  ', {"a": "b"}, None),
        ("hello world", {}, OBJECT_ERR),
        ("", {}, OBJECT_ERR),
        ('["a"]', {}, OBJECT_ERR),
        ('"str"', {}, OBJECT_ERR),
        ("{", {}, "Malformed JSON error"),
        ('{"a"', {}, "Malformed JSON error"),
        ('{"a":1', {"a": "1"}, ARRAY_ERR),
        ('{"a":"x" "b":1}', {"a": "x"}, OBJECT_ERR),
        ('{"a":"b", "c": tru}', {"a": "b"}, "Unknown value type"),
        ('{"a": NaN}', {}, "Unknown value type"),
        ('{"a": "unterminated}', {}, "Value is string, but can't find closing '\"' symbol"),
        ('{"a": [1, 2}', {}, ARRAY_ERR),
        ('{"o": {"x": 1}, "p": {"y": 2', {"o_x": "1"}, OBJECT_ERR),
        ('{"k\\q": 1}', {}, "Encountered an invalid escape sequence in a string"),
        ('{"ctl": "a\tb"}', {"ctl": "a\tb"}, None),
        ('{"rune": "a\ufffdb"}', {"rune": "a b"}, None),
    ],
)
def test_json(line: str, labels: dict[str, str], error: str | None) -> None:
    """jsonparser (as Loki runs it): lenient, arrays and nulls skipped, labels set before an error survive."""
    out: dict[str, str] = {}
    assert json_labels(line, out) == error
    assert out == labels


def test_json_extracted_suffix_and_metadata() -> None:
    out: dict[str, str] = {}
    json_labels(
        '{"level": "x", "trace_id": "t", "a": {"level": "y"}}', out, {"level": "info", "trace_id": "m"}, {"trace_id"}
    )
    assert out == {"level_extracted": "x", "trace_id": "t", "a_level": "y"}


def test_parse_json_raises_with_jsonparser_message() -> None:
    assert parse_json('{"a": {"b": 2}}') == {"a_b": "2"}
    with pytest.raises(ValueError, match="Value looks like object"):
        parse_json("nope")


@pytest.mark.parametrize(
    ("key", "name"),
    [("a", "a"), ("a.b", "a_b"), (" a ", "a"), ("9lives", "_9lives"), ("dash-ed", "dash_ed"), ("", ""), ("é", "_")],
)
def test_sanitize_key(key: str, name: str) -> None:
    assert sanitize_key(key) == name


@pytest.mark.parametrize(
    ("expr", "path"),
    [
        ("a", ["a"]),
        ("a.b", ["a", "b"]),
        ('a["b c"]', ["a", "b c"]),
        ("list[0]", ["list", 0]),
        ('my.list[0]["field"]', ["my", "list", 0, "field"]),
        ("[1].x", [1, "x"]),
        ('request.headers["User-Agent"]', ["request", "headers", "User-Agent"]),
    ],
)
def test_json_path(expr: str, path: list[str | int]) -> None:
    """Loki's jsonexpr grammar (doc: JSON with parameters: `my.list[0]["field"]`)."""
    assert parse_json_path(expr) == path


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("a..b", "syntax error"),
        (".a", "syntax error"),
        ("a.0", "non-integer value"),
        ("a[1.5]", "cannot use float as array index"),
        ("a[", "syntax error"),
        ("a b", "syntax error"),
        ("a-b", "unexpected char -"),
    ],
)
def test_json_path_errors(expr: str, message: str) -> None:
    with pytest.raises(LogQLError, match=message):
        parse_json_path(expr)


@pytest.mark.parametrize(
    ("line", "params", "expected"),
    [
        ('{"a": {"b": [10, 20]}}', (("x", "a.b[1]"),), [("x", "20")]),
        ('{"a": {"b": 1.50}}', (("x", "a.b"),), [("x", "1.50")]),
        ('{"a": {"b": null}}', (("x", "a.b"),), [("x", "")]),
        ('{"a": {"b":  {"c" : 1}}}', (("x", "a.b"),), [("x", '{"c" : 1}')]),
        ('{"a": true}', (("x", "a"), ("y", "nope")), [("x", "true")]),
        ('[{"k": "v"}]', (("x", "[0].k"),), [("x", "v")]),
        ('{"a": "v", "broken": ', (("x", "a"),), [("x", "v")]),
    ],
)
def test_json_fields(line: str, params: tuple[tuple[str, str], ...], expected: list[tuple[str, str]]) -> None:
    """JSONExpressionParser: objects keep their JSON text, null is "" and a missing path is left to the caller."""
    assert JsonFields(params).extract(line) == expected


def test_json_fields_invalid_label_name() -> None:
    with pytest.raises(LogQLError, match="invalid extracted label name '1x'"):
        JsonFields((("1x", "a"),))


@pytest.mark.parametrize(
    ("line", "strict", "pairs", "error"),
    [
        ("a=1 b=2", False, [("a", "1"), ("b", "2")], None),
        ('a="x y" b=', False, [("a", "x y"), ("b", "")], None),
        ('a="x"b=1', False, [("a", "x"), ("b", "1")], None),
        ("flag a=1", False, [("flag", ""), ("a", "1")], None),
        ('a="q\\"uote" b="\\u00e9\\t"', False, [("a", 'q"uote'), ("b", "é\t")], None),
        ("  \t a=1 \n ", False, [("a", "1")], None),
        ("k=v=w x=1", False, [("x", "1")], "logfmt syntax error at pos 4 : unexpected '='"),
        ("k=v=w x=1", True, [], "logfmt syntax error at pos 4 : unexpected '='"),
        ("=v x=1", True, [], "logfmt syntax error at pos 1 : unexpected '='"),
        ('k"ey=1', True, [], "logfmt syntax error at pos 2 : unexpected '\"'"),
        ('a=1 b="open', True, [("a", "1")], "logfmt syntax error at pos 12 : unterminated quoted value"),
        ('a="bad\\x" c=1', False, [("c", "1")], "logfmt syntax error at pos 10 : invalid quoted value"),
        ('a="ctl\\n\x01" c=1', False, [("c", "1")], "logfmt syntax error at pos 11 : invalid quoted value"),
        ('é=1 x="é="', False, [("é", "1"), ("x", "é=")], None),
        ("k\ufffd=1 ok=2", False, [("ok", "2")], "logfmt syntax error at pos 5 : invalid key"),
        ("ü=v=w", True, [], "logfmt syntax error at pos 5 : unexpected '='"),
    ],
)
def test_logfmt_pairs(line: str, strict: bool, pairs: list[tuple[str, str]], error: str | None) -> None:
    """Loki's logfmt decoder: lenient mode skips a bad pair, strict stops there; positions are 1-based bytes."""
    assert logfmt_pairs(line, strict) == (pairs, error)


def test_parse_logfmt() -> None:
    assert parse_logfmt("a.b=1 flag c=") == {"a_b": "1"}
    assert parse_logfmt("a=1 flag c=", keep_empty=True) == {"a": "1", "flag": "", "c": ""}
    assert parse_logfmt("a=1 b=x=y", strict=False) == {"a": "1"}
    with pytest.raises(ValueError, match="unexpected '='"):
        parse_logfmt("a=1 b=x=y", strict=True)


@pytest.mark.parametrize(
    ("expr", "line", "captures", "matches"),
    [
        ("foo <foo> bar", "foo buzz bar", ["buzz"], True),
        ("foo <foo> bar<fuzz>", "foo buzz bar", ["buzz", ""], False),
        ("<foo>foo <bar> bar", "foo buzz bar", ["", "buzz"], False),
        ("<foo> bar<fuzz>", " bar", ["", ""], False),
        ("<foo>bar<baz>", " bar ", [" ", " "], True),
        ("<foo> bar<baz>", " bar ", ["", " "], False),
        ("<foo>bar <baz>", " bar ", [" ", ""], False),
        ("<foo>", " bar ", [" bar "], True),
        ("<path>?<_>", "/api/plugins/versioncheck?slugIn=x&v=7.0.0-beta1", ["/api/plugins/versioncheck"], True),
        ("<path>?<_>", "/api/plugins/status", ["/api/plugins/status"], False),
        (
            '<ip> <userid> <user> [<_>] "<method> <path> <_>" <status> <size>',
            '127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
            ["127.0.0.1", "user-identifier", "frank", "GET", "/apache_pb.gif", "200", "2326"],
            True,
        ),
        (
            "<level>  [<component>]<_> in <duration>.<_>",
            "INFO  [Service Thread] 2021-05-19 07:40:12,130 GCInspector.java:284 - ParNew GC in 248ms.  CMS Old",
            ["INFO", "Service Thread", "248ms"],
            True,
        ),
        ("<_> <id> [<level>] ", "2021-05-19T07:40:12.215792Z 42761518 [Note] Aborted", ["42761518", "Note"], False),
        ("unicode <emoji> character", "unicode 🤷 character", ["🤷"], True),
        ("unicode ▶ <what>", "unicode ▶ character", ["character"], True),
        # Test() looks for the first literal anywhere (Matches() anchors it): Loki's own asymmetry
        ("foo <x>", "xfoo y", [], True),
    ],
)
def test_pattern_fixtures(expr: str, line: str, captures: list[str], matches: bool) -> None:
    """pattern_test.go `fixtures`: Matches() captures and the Test() a `|>` filter uses."""
    m = PatternMatcher(expr)
    assert m.matches(line) == captures
    assert m.test(line) is matches


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        ("<_>", "at least one capture is required"),
        ("foo bar buzz", "at least one capture is required"),
        ("", "syntax error: unexpected $end, expecting IDENTIFIER or LITERAL"),
        ("<f><f>", "found consecutive capture '<f><f>': invalid expression"),
        ("<f> f<d><b>", "found consecutive capture '<d><b>': invalid expression"),
        ("<f> f<f>", "duplicate capture name (f): invalid expression"),
        ("f<f><_>", "found consecutive capture '<f><_>': invalid expression"),
    ],
)
def test_pattern_errors(expr: str, error: str) -> None:
    """pattern_test.go Test_Error."""
    with pytest.raises(LogQLError) as e:
        PatternMatcher(expr)
    assert str(e.value) == error


def test_pattern_line_filter() -> None:
    """pattern_test.go Test_ParseLineFilter: `<_>` matches any non-empty line, "" only the empty one."""
    assert PatternMatcher("<_>", line_filter=True).test("anything")
    assert PatternMatcher("", line_filter=True).test("")
    assert not PatternMatcher("", line_filter=True).test("x")
    with pytest.raises(LogQLError, match="named captures are not allowed: found '<foo>'"):
        PatternMatcher("<foo>", line_filter=True)


def test_regexp_extractor() -> None:
    r = RegexpExtractor(r"(?P<a>\d+)-(\w+)-(?<b>\w+)?")
    assert r.names == ("a", "b")
    assert r.extract("x 12-ab-") == [("a", "12"), ("b", "")]
    assert r.extract("none") == []
    with pytest.raises(LogQLError, match="at least one named capture must be supplied"):
        RegexpExtractor(r"(\d+)")
    with pytest.raises(LogQLError, match="error parsing regexp"):
        RegexpExtractor(r"(?P<a>\d+")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"container": "myapp", "pod": "pod-3223f", "_entry": "original log message"}',
         ("original log message", [("container", "myapp"), ("pod", "pod-3223f")], None)),
        ('{"a": "b", "n": 1, "o": {"x": "y"}}', (None, [("a", "b")], None)),
        ('{"_entry": "l\\nine", "a": "b"} tail', ("l\nine", [("a", "b")], None)),
        ("not an object", (None, [], "expecting json object(6), but it is not")),
        ('{"_entry": "x", "a": ', (None, [], "Malformed JSON error")),
    ],
)  # fmt: skip
def test_unpack(line: str, expected: tuple[str | None, list[tuple[str, str]], str | None]) -> None:
    """Promtail `pack` lines: string fields only, `_entry` becomes the line (doc: unpack)."""
    assert unpack(line) == expected


# --- the fast paths agree with the ports of Loki's Go code -------------------------------------------

_KEY = st.text(alphabet=st.sampled_from('ab.-_ 9é"\\\n'), min_size=0, max_size=4)
_NUMBER_TEXT = st.sampled_from(["0", "-0", "1", "503", "-12", "1.5", "1.50", "1e3", "2.5E-3", "0.1", "123.4", "1e+06"])


def _scalar() -> st.SearchStrategy[str]:
    strings = st.text(alphabet=st.sampled_from('aZ é"\\\t/\u00e9\ufffd'), max_size=6).map(
        lambda s: json.dumps(s, ensure_ascii=False)
    )
    return st.one_of(strings, _NUMBER_TEXT, st.sampled_from(["true", "false", "null"]))


def _json_text(depth: int) -> st.SearchStrategy[str]:
    """JSON text with numbers spelled in several ways (jsonparser keeps the spelling, so must we)."""
    value = _scalar() if depth == 0 else st.one_of(_scalar(), _json_text(depth - 1))
    # unique keys: with a duplicated key a decoded dict keeps only the last value (a documented deviation)
    members = st.lists(
        st.tuples(_KEY.map(lambda k: json.dumps(k, ensure_ascii=False)), value), max_size=5, unique_by=lambda m: m[0]
    )
    arrays = st.lists(_scalar(), max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")
    sep = st.sampled_from([",", ", ", " ,\n"])
    return st.builds(
        lambda ms, s, arr: "{" + s.join(f"{k}:{v}" for k, v in ms) + (f'{s}"arr":{arr}' if ms else "") + "}",
        members,
        sep,
        arrays,
    )


@settings(max_examples=300, deadline=None)
@given(_json_text(2))
def test_json_fast_path_matches_jsonparser_port(line: str) -> None:
    fast: dict[str, str] = {}
    err = json_labels(line, fast)
    port: dict[str, str] = {}
    JsonScan(line).object_each(0, len(line), "", port)
    assert err is None
    assert fast == port


_LOGFMT_ALPHABET = st.sampled_from(["a", "b", "=", '"', " ", "\\", "n", "é", "\t", ".", "\ufffd", "u", "0"])


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=_LOGFMT_ALPHABET, max_size=24), st.booleans())
def test_logfmt_fast_path_matches_decoder_port(line: str, strict: bool) -> None:
    assert logfmt_pairs(line, strict) == _LogfmtDecoder(line, strict).run()


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        (r"\d+", "١٢", False),  # RE2's \d is ASCII
        (r"\w+", "é", False),
        (r"(?i)straße", "STRASSE", False),
        (r"(?i)é", "É", True),
        (r"a(?i)b|c", "C", True),  # Go's flag lasts to the end of the group, across `|`
        (r"a(?i)b|c", "aB", True),
        (r"x$", "x\n", False),  # `$` is end of text without (?m)
        (r"(?m)x$", "x\ny", True),
        (r"[[:alpha:]]+\z", "abc", True),
        (r"\Qa.b\E", "axb", False),
        (r"x{,2}", "x{,2}", True),  # not a repeat in RE2: a literal
        (r"(?P<n>a)(?<m>b)", "ab", True),
        (r"\x{263a}", "☺", True),
        (r"\p{Han}+", "log 漢字", True),
        (r"^\pL+$", "Zoë", True),
        (r"\P{Greek}", "αβ", False),
    ],
)
def test_re2_translation(pattern: str, text: str, found: bool) -> None:
    assert (compile_regex(pattern).search(text) is not None) is found


@pytest.mark.parametrize(
    ("pattern", "text", "span"),
    [
        (r"(?U)a+", "aaa", (0, 1)),  # ungreedy by default
        (r"(?U)a+?", "aaa", (0, 3)),
        (r"[[:^alpha:]]+", "ab12c", (2, 4)),
        (r"[^[:^digit:]]", "x7", (1, 2)),
        (r"\pN+", "v42", (1, 3)),
    ],
)
def test_go_syntax_python_lacks(pattern: str, text: str, span: tuple[int, int]) -> None:
    """Go accepts these (Python's re does not): they match as in Go."""
    m = compile_regex(pattern).search(text)
    assert m is not None and m.span() == span


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(?=x)", "invalid or unsupported Perl syntax: `(?=`"),
        (r"(?<!x)", "invalid named capture: `(?<!x)`"),  # Go 1.22+: `(?<` opens a named group
        (r"(a)\1", "invalid escape sequence: `\\1`"),
        (r"\p{Nope}", "invalid character class range: `\\p{Nope}`"),
        (r"(a", "missing closing ): `(a`"),
        (r"a)", "unexpected ): `a)`"),
        (r"[a", "missing closing ]: `[a`"),
        (r"a**", "invalid nested repetition operator: `**`"),
        (r"*a", "missing argument to repetition operator: `*`"),
        (r"a{1001}", "invalid repeat count: `{1001}`"),
        ("a\\", "trailing backslash at end of expression: ``"),
        (r"\C", "invalid escape sequence: `\\C`"),
        (r"(?P<>a)", "invalid named capture: `(?P<>`"),
    ],
)
def test_go_refusals_with_gos_message(pattern: str, message: str) -> None:
    """What Go's regexp/syntax refuses is a query error here too, in Go's words."""
    with pytest.raises(LogQLError) as info:
        compile_regex(pattern)
    assert str(info.value) == f"error parsing regexp: {message}"


def test_any_byte_escape_inside_quoted_literal_is_text() -> None:
    assert compile_regex(r"\Q\C\E").search("a\\Cb") is not None


@pytest.mark.timeout(30)
@pytest.mark.parametrize("pattern", [r"(a|aa)+$", r"(a+)+$", r"(x+x+)+y", r"^(\w+\s?)*$"])
def test_catastrophic_patterns_run_in_linear_time(pattern: str) -> None:
    """A backtracking engine takes hours on these lines; RE2 answers at once (the timeout is only a backstop)."""
    line = "a" * 5000 + "!" if "a" in pattern else "x" * 5000
    assert compile_regex(pattern).search(line) is None or pattern.endswith("$")
