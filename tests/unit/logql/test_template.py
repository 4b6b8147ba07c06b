"""The Go text/template engine of line_format / label_format.

Expected outputs are the examples of Loki's docs/sources/query/template_functions.md ("doc") where it gives
one, else what Go's text/template + sprig print (Go's %v for floats: `1e+06`, `124`).
"""

from __future__ import annotations

import pytest

from observ.logql.errors import LimitError, LogQLError, QueryTimeout
from observ.logql.log.template import TemplateError, compile_template

LABELS = {
    "path": "/api v1/users",
    "request_method": "get",
    "err": "ErrTimeout x",
    "status": "200",
    "duration": "3000",
    "ip": "1.1.1.1",
    "cluster": "prod-cluster",
    "queries": '[{"query":"a"},{"query":"b"}]',
    "from": "1679577215",
    "foo": "2021-11-02T10:20:30.123456789Z",
    "empty": "",
    "some_label": "xxabcbc",
    "query": "l1\nl2",
    "size": "1.5KiB",
    "took": "1m30s",
}
TS = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z
LINE = "The Line"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # doc: introduction
        ("{{ .path }}", "/api v1/users"),
        ('{{ .path | replace " " "_" | trunc 5 | upper }}', "/API_"),
        ('{{ if and (contains "he" "hello") (contains "llo" "hello") }} yes {{end}}', " yes "),
        ('{{ if or (contains "he" "hello") (contains "llo" "hello") }} yes {{end}}', " yes "),
        (
            '{{ if contains "ErrTimeout" .err }} timeout {{else if contains "he" "hello"}} yes {{else}} no {{end}}',
            " timeout ",
        ),
        ('{{ if contains "nope" .err }} timeout {{else if contains "he" "hello"}} yes {{else}} no {{end}}', " yes "),
        # doc: __line__, __timestamp__
        ("{{ __line__ | lower }}", "the line"),
        ("{{ __line__ }}", LINE),
        ("{{ __timestamp__ }}", "2023-11-14 22:13:20.123456789 +0000 UTC"),
        ('{{ __timestamp__ | date "2006-01-02T15:04:05.00Z-07:00" }}', "2023-11-14T22:13:20.12Z+00:00"),
        ("{{ __timestamp__ | unixEpoch }}", "1700000000"),
        # doc: regexReplaceAll / regexReplaceAllLiteral
        ('{{ regexReplaceAll "(a*)bc" .some_label "${1}a" }}', "xxaaa"),
        ('{{ regexReplaceAllLiteral "(ts=)" "ts=1 ts=2" "timestamp=" }}', "timestamp=1 timestamp=2"),
        ('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "$1W" }}', "---"),
        ('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}', "-W-xxW-"),
        # doc: lower, upper, title, trunc, substr, replace, trim*
        ('{{ lower  "HELLO"}}', "hello"),
        ('{{ upper  "hello"}}', "HELLO"),
        ("{{.request_method | upper}}", "GET"),
        ('{{ title "hello world"}}', "Hello World"),
        ('{{ trunc 5 "hello world"}}', "hello"),
        ('{{ trunc -5 "hello world"}}', "world"),
        ("{{ .path | trunc 2 }}", "/a"),
        ('{{ substr 0 5 "hello world"}}', "hello"),
        ('{{ substr 6 11 "hello world"}}', "world"),
        ('{{ .cluster | replace "-cluster" "" }}', "prod"),
        ('{{ replace "hello" "world" "hello world" }}', "world world"),
        ('{{ trim "   hello    " }}', "hello"),
        ('{{ trimAll "$" "$5.00" }}', "5.00"),
        ('{{ trimSuffix "-" "hello-" }}', "hello"),
        ('{{ trimPrefix "-" "-hello" }}', "hello"),
        ('{{ .path | trimPrefix "/" }}', "api v1/users"),
        # doc: alignLeft / alignRight
        ('{{ alignLeft 5 "hello world"}}', "hello"),
        ('{{ alignLeft 5 "hi"}}', "hi   "),
        ('{{ alignRight 5 "hello world"}}', "world"),
        ('{{ alignRight 5 "hi"}}', "   hi"),
        # doc: indent, nindent, repeat
        ("{{ indent 4 .query }}", "    l1\n    l2"),
        ("{{ nindent 4 .query }}", "\n    l1\n    l2"),
        ('{{ repeat 3 "hello" }}', "hellohellohello"),
        # doc: contains, eq, hasPrefix, hasSuffix
        ('{{ if contains "ErrTimeout" .err }} timeout {{end}}', " timeout "),
        ('{{ if eq "ErrTimeout x" .err }} timeout {{end}}', " timeout "),
        ('{{ if eq "hello" "hello" }} yes {{end}}', " yes "),
        ('{{ if hasSuffix "x" .err }} timeout {{end}}', " timeout "),
        ('{{ if hasPrefix "he" "hello" }} yes {{end}}', " yes "),
        # doc: math
        ("{{ add 3 2 5 }}", "10"),
        ("{{ sub 5 2 }}", "3"),
        ("{{ mul 5 2 3}}", "30"),
        ("{{ div 10 2}}", "5"),
        ("{{ div -7 2 }}", "-3"),
        ("{{ addf 3.5 2 5 }}", "10.5"),
        ("{{ addf 1.1 2.2 }}", "3.3"),
        ("{{ subf  5.5 2 1.5 }}", "2"),
        ("{{ mulf 5.5 2 2.5 }}", "27.5"),
        ("{{ divf 10 2 4}}", "1.25"),
        ("{{ mod 10 3}}", "1"),
        ("{{ max 1 2 3 }}", "3"),
        ("{{ min 1 2 3 }}", "1"),
        ("{{ maxf 1 2.5 3 }}", "3"),
        ("{{ minf 1 2.5 3 }}", "1"),
        ("{{ ceil 123.001 }}", "124"),
        ("{{ floor 123.9999 }}", "123"),
        ("{{ round 123.555555 3 }}", "123.556"),
        ("{{ round 123.88571428571 5 .2 }}", "123.88572"),
        ("{{ round 123.88571428571 5 }}", "123.88571"),
        ('{{ "3" | int }}', "3"),
        ('{{ "3.5" | float64 }}', "3.5"),
        ('{{ "0x10" | int }} {{ "10.0" | int }} {{ "x" | int }}', "16 10 0"),
        ("{{ div .duration 1000 }}", "3"),
        ("{{ mulf 1000000 1 }}", "1e+06"),
        # doc: fromJson, default, count, urlencode/urldecode, b64
        ("{{ range $q := fromJson .queries }} {{ $q.query }} {{ end }}", " a  b "),
        ('{{ (fromJson "{\\"foo\\": 55}").foo }}', "55"),
        ('{{ fromJson "not json" }}', "<nil>"),
        ('{{ default "-" "" }}', "-"),
        ('{{ default "-" "foo" }}', "foo"),
        ('{{ .missing | default "-" }}', "-"),
        ('{{ count "a|b" "abab" }}', "4"),
        ('{{ count "o" "foo" }}', "2"),
        ("{{ .path | urlencode }}", "%2Fapi+v1%2Fusers"),
        ('{{ "%2Fapi+v1%2Fusers" | urldecode }}', "/api v1/users"),
        ('{{ b64enc "hello" }}', "aGVsbG8="),
        ('{{ "aGVsbG8=" | b64dec }}', "hello"),
        # doc: bytes, duration
        ("{{ .size | bytes }}", "1536"),
        ("{{ .took | duration_seconds }}", "90"),
        ('{{ duration "250ms" }}', "0.25"),
        # doc: dates
        ('{{ toDate "2006-01-02" "2021-11-02" }}', "2021-11-02 00:00:00 +0000 UTC"),
        ('{{ toDateInZone "2006-01-02" "UTC" "2021-11-02" }}', "2021-11-02 00:00:00 +0000 UTC"),
        ('{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpoch }}', "1635848430"),
        ('{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochMillis }}', "1635848430123"),
        ('{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochNanos }}', "1635848430123456789"),
        ('from="{{date "2006-01-02" (unixToTime .from)}}"', 'from="2023-03-23"'),
        ('{{ date "Mon Jan _2 3:04PM MST 2006" __timestamp__ }}', "Tue Nov 14 10:13PM UTC 2023"),
        ('{{ toDate "2006-01-02" "garbage" }}', "0001-01-01 00:00:00 +0000 UTC"),
        ('{{ date "2006" now | len }}', "4"),
        # Go text/template builtins and syntax
        ('{{ printf "%s %d %v %.2f %5s|%-5s|%q" "a" 3 true 3.14159 "x" "y" "z" }}', 'a 3 true 3.14     x|y    |"z"'),
        ('{{ printf "%d" .status }}', "%!d(string=200)"),
        ('{{ printf "%d" (int .status) }}', "200"),
        ('{{ printf "%s" }}', "%!s(MISSING)"),
        ('{{ printf "%s" "a" "b" }}', "a%!(EXTRA string=b)"),
        ('{{ if eq .status "200" }}ok{{ else }}ko{{ end }}', "ok"),
        ("{{ if .empty }}y{{ else }}n{{ end }}", "n"),
        ("{{ if not .empty }}y{{ end }}", "y"),
        ("{{ if .missing }}y{{ else }}n{{ end }}", "n"),
        ("{{ .missing }}|", "|"),
        ("{{ len .path }} {{ len .missing }}", "13 0"),
        ('{{ or .empty "dflt" }} {{ and "a" .empty "c" }}|', "dflt |"),
        ('{{ lt 1 2 }} {{ gt 2.5 1.5 }} {{ le "a" "b" }} {{ ge 1 1 }} {{ ne 1 2 }}', "true true true true true"),
        ('{{ eq .status "1" "200" }}', "true"),
        ('{{ print 1 2 "a" "b" 3 }}', "1 2ab3"),
        ('{{ println "a" 1 }}', "a 1\n"),
        ('{{ index . "status" }}', "200"),
        ("{{ html \"<a href='x'>\" }}", "&lt;a href=&#39;x&#39;&gt;"),
        ("{{- .ip -}}   \n  {{- .status }}", "1.1.1.1200"),
        ("a {{/* a comment */}} b", "a  b"),
        ("a {{- /* trimmed */ -}} b", "ab"),
        ('{{ $x := .status }}{{ $x }}{{ $x = "z" }}{{ $x }}', "200z"),
        ("{{ with .path }}{{ . }}{{ end }}{{ with .empty }}x{{ else }}none{{ end }}", "/api v1/usersnone"),
        ("{{ range $i, $v := fromJson .queries }}{{ $i }}={{ $v.query }};{{ end }}", "0=a;1=b;"),
        ('{{ range fromJson .queries }}{{ if eq .query "a" }}{{ continue }}{{ end }}{{ .query }}{{ end }}', "b"),
        ('{{ range fromJson "[]" }}x{{ else }}empty{{ end }}', "empty"),
        ("{{ 1e3 }} {{ 3 }} {{ 0x10 }} {{ 'a' }} {{ 1.5 }} {{ -2 }}", "1000 3 16 97 1.5 -2"),
        ('{{ "a\\tb" }} {{ `raw\\t` }}', "a\tb raw\\t"),
        ('{{ ToUpper .request_method }} {{ ToLower "ABC" }}', "GET abc"),
        ('{{ Replace "aaa" "a" "b" 2 }} {{ Trim "xxhixx" "x" }} {{ TrimSpace "  x " }}', "bba hi x"),
        ("{{ .__error__ }}", ""),
    ],
)
def test_render(text: str, expected: str) -> None:
    assert compile_template(text)(LABELS, LINE, TS) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ Title .path }}", 'template: line:1: function "Title" not defined'),
        ("{{ nope }}", 'template: line:1: function "nope" not defined'),
        ("{{ .a ", "template: line:1: unclosed action"),
        ("{{ if .a }}x", "template: line:1: unexpected EOF in if"),
        ("{{ $y }}", 'template: line:1: undefined variable "$y"'),
        ("{{ end }}", "template: line:1: unexpected {{end}}"),
        ("{{ .a | 3 }}", "template: line:1: non executable command in pipeline stage 2"),
        ("{{ break }}", "template: line:1: {{break}} outside {{range}}"),
        ('{{ template "x" }}', "template: line:1: {{template}} is not supported"),
        ('{{ "unterminated }}', "template: line:1: unterminated quoted string"),
        ("{{ .a }}\n{{ .b", "template: line:2: unclosed action"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    """Go's parser errors; Loki reports them when the query is built (HTTP 400)."""
    with pytest.raises(LogQLError) as e:
        compile_template(text)
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ eq .status 200 }}", "at <eq .status 200>: error calling eq: incompatible types for comparison"),
        ("{{ div 1 0 }}", "at <div 1 0>: error calling div: runtime error: integer divide by zero"),
        ('{{ trunc "a" "b" }}', 'at <trunc "a" "b">: expected integer; found "a"'),
        ("{{ .path.x }}", "at <.path.x>: can't evaluate field x in type string"),
        ("{{ upper 1 }}", "at <upper 1>: expected string; found 1"),
        ('{{ .status | trunc "x" }}', 'at <trunc "x">: expected integer; found "x"'),
        ('{{ unixToTime "12" }}', "error calling unixToTime: unable to parse time '12': %!w(<nil>)"),
        ('{{ bytes "12XB" }}', "error calling bytes: unhandled size name: xb"),
        ('{{ urldecode "%zz" }}', 'error calling urldecode: invalid URL escape "%zz"'),
        ("{{ lt true false }}", "error calling lt: invalid type for comparison"),
        ("{{ .status 1 }}", "at <.status 1>: status is not a method but has arguments"),
        ("{{ upper }}", "wrong number of args for upper: want 1 got 0"),
    ],
)
def test_exec_errors(text: str, message: str) -> None:
    """Execution errors become `TemplateFormatErr` with Go's message as `__error_details__`."""
    with pytest.raises(TemplateError) as e:
        compile_template(text)(LABELS, LINE, TS)
    assert str(e.value).startswith("template: line:1:")
    assert message in str(e.value)


def test_simple_key() -> None:
    """Loki copies the label for a template that is exactly `{{.name}}` (LineFormatter.simpleKey)."""
    assert compile_template("{{.message}}").simple_key == "message"
    assert compile_template("{{ .message }}").simple_key == "message"
    assert compile_template("{{.a.b}}").simple_key is None
    assert compile_template("x{{.message}}").simple_key is None


def test_label_template_name() -> None:
    with pytest.raises(TemplateError, match=r'^template: label:1:3: executing "label"'):
        compile_template("{{ div 1 0 }}", "label")({}, "", 0)


@pytest.mark.parametrize(
    "text",
    [
        '{{ repeat 100000000 "x" }}',
        '{{ printf "%09999999d" 1 }}',  # a width Go accepts (below its tooLarge limit), still past the line size
        '{{ repeat 200000 "a" | replace "a" "bb" }}',
        '{{ regexReplaceAll "" (repeat 1000 "a") (repeat 1000 "b") }}',
        "{{ indent 100000000 .status }}",
        "{{ alignLeft 100000000 .status }}",
        '{{ $x := repeat 200000 "x" }}{{ $x }}{{ $x }}',  # each value fits, the line does not
        '{{ range (fromJson .queries) }}{{ repeat 200000 "y" }}{{ end }}',
    ],
)
def test_templates_that_would_allocate_past_the_line_size_refuse_the_query(text: str) -> None:
    """Lines are capped at Loki's max_line_size: past it the query is refused, before anything big is built."""
    with pytest.raises(LimitError, match="exceeds the max line size"):
        compile_template(text)(LABELS, LINE, TS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ printf "%0999999999d" 5 }}', "%!(NOVERB)%!(EXTRA int=5)"),  # Go's fmt: tooLarge width
        ('{{ printf "%.99999999f|%d" 1.5 2 }}', "%!(NOVERB)%!(EXTRA float64=1.5, int=2)"),
        ('{{ printf "%*d" 99999999 5 }}', "%!(BADWIDTH)5"),
        ('{{ printf "%05d" 42 }}', "00042"),
    ],
)
def test_printf_refuses_huge_widths_as_go_does(text: str, expected: str) -> None:
    assert compile_template(text)(LABELS, LINE, TS) == expected


def test_regex_functions_check_the_deadline_while_they_loop() -> None:
    """A 250 KB value holds 250,000 matches of `a`: the query's deadline is checked while they are replaced."""
    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise QueryTimeout("query timed out after 1s")

    with pytest.raises(QueryTimeout):
        compile_template('{{ regexReplaceAll "a" (repeat 250000 "a") "b" }}')(LABELS, LINE, TS, check)
    assert calls == 4
