"""The per-line pipeline end to end: LogQL text (through the parser) -> Pipeline -> exact line and labels.

Expected values come from Loki's documentation (docs/sources/query/log_queries/_index.md, cited as
"doc: <section>") or Loki's own tests (pkg/logql/log/*_test.go, cited by test name); the rest follow the
Loki 3 source the pipeline mirrors (pkg/logql/log/parser.go, label_filter.go, fmt.go, drop_labels.go).
"""

from __future__ import annotations

from typing import Any

import pytest

from observ.logql.errors import LogQLError, QueryTimeout
from observ.logql.log.pipeline import Pipeline
from observ.logql.syntax import ast
from observ.logql.syntax.parser import parse

SEL = '{job="varlogs"}'
DOC_JSON = (
    '{"protocol": "HTTP/2.0", "servers": ["129.0.1.1","10.2.1.3"], "request": {"time": "6.032", "method": "GET", '
    '"host": "foo.grafana.net", "size": "55", "headers": {"Accept": "*/*", "User-Agent": "curl/7.68.0"}}, '
    '"response": {"status": 401, "size": "228", "latency_seconds": "6.031"}}'
)
DOC_LOGFMT = 'at=info method=GET path=/ host=grafana.net fwd="124.133.124.161" service=8ms status=200'
NGINX = (
    '0.191.12.2 - - [10/Jun/2021:09:14:29 +0000] "GET /api/plugins/versioncheck HTTP/1.1" 200 2 "-" '
    '"Go-http-client/2.0" "13.76.247.102, 34.120.177.193" "TLSv1.2" "US" ""'
)
LOKI_METRICS = "level=info ts=2020-10-18T18:04:22.147378997Z caller=metrics.go:81 status=200"
LOKI_QUERY = (
    "level=info ts=2020-10-18T18:04:22.147378997Z caller=metrics.go:81 org_id=29 traceID=29a0f088b047eb8c "
    'latency=fast query="{stream=\\"stdout\\",pod=\\"loki-canary-xmjzp\\"}" query_type=limited range_type=range '
    "length=20s step=1s duration=58.126671ms status=200 throughput_mb=2.496547 total_bytes_mb=0.145116"
)
NESTED = '{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}}}'
DROP_DOC = '{"level": "info", "method": "GET", "path": "/", "host": "grafana.net", "status": "200"}'
NOT_JSON_OBJECT = "Value looks like object, but can't find closing '}' symbol"
SAME = "<the input line>"


def run(query: str, line: str, labels: dict[str, str] | None = None, ts: int = 0) -> Any:
    expr = parse(f"{SEL} {query}" if query else SEL)
    assert isinstance(expr, ast.LogExpr)
    given = dict(labels or {})
    out = Pipeline(expr.pipeline).process(ts, line, given)
    assert given == (labels or {}), "the pipeline must not modify its input labels"
    return out


CASES: list[tuple[str, str, str, dict[str, str], tuple[str, dict[str, str]] | None]] = [
    # --- line filters (doc: Line filter expression) ---
    ("contains", '|= "error"', "an error here", {}, ("an error here", {})),
    ("contains-miss", '|= "error"', "all good", {}, None),
    ("chained", '|= "error" != "timeout"', "error: timeout", {}, None),
    ("chained-pass", '|= "error" != "timeout"', "error: refused", {}, ("error: refused", {})),
    ("not-contains", '!= "kafka.server:type=ReplicaManager"', "kafka.server:type=ReplicaManager x", {}, None),
    ("regex", '|~ "tsdb-ops.*io:2003"', "x tsdb-ops-1.io:2003 y", {}, ("x tsdb-ops-1.io:2003 y", {})),
    ("regex-backtick", "|~ `error=\\w+`", "status error=timeout", {}, ("status error=timeout", {})),
    ("regex-miss", "|~ `error=\\w+`", "status error= ", {}, None),
    ("regex-case", '|~ "(?i)ERROR"', "an Error", {}, ("an Error", {})),
    ("regex-case-sensitive", '|~ "ERROR"', "an Error", {}, None),
    ("not-regex", '!~ "ERR(OR)?"', "ERR", {}, None),
    ("or-values", '|= "foo" or "bar"', "xx bar", {}, ("xx bar", {})),
    ("or-values-negated", '!= "foo" or "bar"', "xx bar", {}, None),
    ("or-values-negated-pass", '!= "foo" or "bar"', "xx baz", {}, ("xx baz", {})),
    ("pattern-filter", '|> "<_> bar <_>"', "foo bar baz", {}, ("foo bar baz", {})),
    ("pattern-filter-anchored-end", '|> "<_> bar"', "foo bar baz", {}, None),
    ("pattern-filter-negated", '!> "<_> baz"', "foo bar baz", {}, None),
    ("empty-contains", '|= ""', "anything", {}, ("anything", {})),
    # --- json (doc: JSON) ---
    (
        "json-doc",
        "| json",
        DOC_JSON,
        {},
        (
            DOC_JSON,
            {
                "protocol": "HTTP/2.0",
                "request_time": "6.032",
                "request_method": "GET",
                "request_host": "foo.grafana.net",
                "request_size": "55",
                "request_headers_Accept": "*/*",
                "request_headers_User_Agent": "curl/7.68.0",
                "response_status": "401",
                "response_size": "228",
                "response_latency_seconds": "6.031",
            },
        ),
    ),
    ("json-doc-sanitize", "| json", '{ "a.b": {"c": "d"}, "e": "f" }', {}, (SAME, {"a_b_c": "d", "e": "f"})),
    (
        "json-params-doc",
        '| json first_server="servers[0]", ua="request.headers[\\"User-Agent\\"]"',
        DOC_JSON,
        {},
        (DOC_JSON, {"first_server": "129.0.1.1", "ua": "curl/7.68.0"}),
    ),
    (
        "json-params-object-doc",
        '| json server_list="servers", headers="request.headers"',
        DOC_JSON,
        {},
        (
            DOC_JSON,
            {"server_list": '["129.0.1.1","10.2.1.3"]', "headers": '{"Accept": "*/*", "User-Agent": "curl/7.68.0"}'},
        ),
    ),
    ("json-shorthand-doc", "| json servers", DOC_JSON, {}, (DOC_JSON, {"servers": '["129.0.1.1","10.2.1.3"]'})),
    ("json-params-missing", '| json a="x.y", b="nope"', '{"x": {"y": 1}}', {}, (SAME, {"a": "1", "b": ""})),
    ("json-params-not-json", '| json a="x"', "plain", {}, ("plain", {"__error__": "JSONParserErr"})),
    (
        "json-not-object",
        "| json",
        "INFO GET / loki.net 200",
        {},
        ("INFO GET / loki.net 200", {"__error__": "JSONParserErr", "__error_details__": NOT_JSON_OBJECT}),
    ),
    (
        "json-partial-before-error",
        "| json",
        '{"a": "b", "c": tru}',
        {},
        (SAME, {"a": "b", "__error__": "JSONParserErr", "__error_details__": "Unknown value type"}),
    ),
    ("json-error-filtered", '| json | __error__=""', "not json", {}, None),
    (
        "json-error-kept",
        '| json | __error__!=""',
        "not json",
        {},
        (SAME, {"__error__": "JSONParserErr", "__error_details__": NOT_JSON_OBJECT}),
    ),
    (
        "json-extracted-suffix",
        "| json",
        '{"level": "error", "msg": "boom"}',
        {"level": "info"},
        (SAME, {"level": "info", "level_extracted": "error", "msg": "boom"}),
    ),
    (
        "json-renames-a-metadata-collision",
        "| json",
        '{"trace_id": "abc"}',
        {"service": "api", "trace_id": "0af7651916cd43dd8448eb211c80319c"},
        (SAME, {"service": "api", "trace_id": "0af7651916cd43dd8448eb211c80319c", "trace_id_extracted": "abc"}),
    ),
    # --- logfmt (doc: logfmt) ---
    (
        "logfmt-doc",
        "| logfmt",
        DOC_LOGFMT,
        {},
        (
            DOC_LOGFMT,
            {
                "at": "info",
                "method": "GET",
                "path": "/",
                "host": "grafana.net",
                "fwd": "124.133.124.161",
                "service": "8ms",
                "status": "200",
            },
        ),
    ),
    (
        "logfmt-params-doc",
        '| logfmt host, fwd_ip="fwd"',
        DOC_LOGFMT,
        {},
        (DOC_LOGFMT, {"host": "grafana.net", "fwd_ip": "124.133.124.161"}),
    ),
    ("logfmt-params-missing", "| logfmt host, nope", "host=a", {}, ("host=a", {"host": "a", "nope": ""})),
    ("logfmt-lenient-doc", "| logfmt", "=value foo=bar=buzz ok=1", {}, (SAME, {"ok": "1"})),
    (
        "logfmt-strict-doc",
        "| logfmt --strict",
        "a=1 foo=bar=buzz ok=1",
        {},
        (
            SAME,
            {
                "a": "1",
                "__error__": "LogfmtParserErr",
                "__error_details__": "logfmt syntax error at pos 12 : unexpected '='",
            },
        ),
    ),
    (
        "logfmt-strict-quote-in-key-doc",
        "| logfmt --strict",
        'fo"o=bar',
        {},
        (SAME, {"__error__": "LogfmtParserErr", "__error_details__": "logfmt syntax error at pos 3 : unexpected '\"'"}),
    ),
    ("logfmt-standalone-key", "| logfmt", "a=1 flag", {}, (SAME, {"a": "1"})),
    ("logfmt-keep-empty-doc", "| logfmt --keep-empty", "a=1 flag b=", {}, (SAME, {"a": "1", "flag": "", "b": ""})),
    ("logfmt-quoted-escapes", "| logfmt", 'msg="say \\"hi\\"\\n" x=1', {}, (SAME, {"msg": 'say "hi"\n', "x": "1"})),
    ("logfmt-sanitize", "| logfmt", "http.status=200 1st=x", {}, (SAME, {"http_status": "200", "_1st": "x"})),
    (
        "logfmt-extracted-suffix",
        "| logfmt",
        "level=debug",
        {"level": "info"},
        (SAME, {"level": "info", "level_extracted": "debug"}),
    ),
    # --- regexp (doc: Regular expression) ---
    (
        "regexp-doc",
        '| regexp "(?P<method>\\\\w+) (?P<path>[\\\\w|/]+) \\\\((?P<status>\\\\d+?)\\\\) (?P<duration>.*)"',
        "POST /api/prom/api/v1/query_range (200) 1.5s",
        {},
        (
            "POST /api/prom/api/v1/query_range (200) 1.5s",
            {"method": "POST", "path": "/api/prom/api/v1/query_range", "status": "200", "duration": "1.5s"},
        ),
    ),
    ("regexp-no-match", '| regexp "(?P<n>\\\\d+)"', "no digits", {}, ("no digits", {})),
    ("regexp-optional-group", '| regexp "a(?P<x>b)?(?P<y>c)"', "ac", {}, ("ac", {"x": "", "y": "c"})),
    # --- pattern (doc: Pattern) ---
    (
        "pattern-nginx-doc",
        '| pattern "<ip> - - <_> \\"<method> <uri> <_>\\" <status> <size> <_> \\"<agent>\\" <_>"',
        NGINX,
        {},
        (
            NGINX,
            {
                "ip": "0.191.12.2",
                "method": "GET",
                "uri": "/api/plugins/versioncheck",
                "status": "200",
                "size": "2",
                "agent": "Go-http-client/2.0",
            },
        ),
    ),
    (
        "pattern-msg-doc",
        '| pattern `<_> msg="<method> <path> (<status>) <latency>"`',
        'level=debug ts=2021-06-10T09:24:13.472094048Z caller=logging.go:66 traceID=0568b66ad2d9294c msg="POST '
        '/loki/api/v1/push (204) 16.652862ms"',
        {},
        (
            'level=debug ts=2021-06-10T09:24:13.472094048Z caller=logging.go:66 traceID=0568b66ad2d9294c msg="POST '
            '/loki/api/v1/push (204) 16.652862ms"',
            {"method": "POST", "path": "/loki/api/v1/push", "status": "204", "latency": "16.652862ms"},
        ),
    ),
    ("pattern-anchored-start", '| pattern "foo <x>"', "bar foo 1", {}, ("bar foo 1", {})),
    ("pattern-keeps-earlier-value", '| json | pattern "<msg> <_>"', '{"msg": "a b"}', {}, (SAME, {"msg": "a b"})),
    # --- unpack (doc: unpack) ---
    (
        "unpack-doc",
        "| unpack",
        '{"container": "myapp", "pod": "pod-3223f", "_entry": "original log message"}',
        {},
        ("original log message", {"container": "myapp", "pod": "pod-3223f"}),
    ),
    ("unpack-without-entry", "| unpack", '{"a": "b"}', {}, ('{"a": "b"}', {})),
    (
        "unpack-not-object",
        "| unpack",
        "plain",
        {},
        ("plain", {"__error__": "JSONParserErr", "__error_details__": "expecting json object(6), but it is not"}),
    ),
    ("unpack-then-logfmt", "| unpack | logfmt", '{"app": "x", "_entry": "k=v"}', {}, ("k=v", {"app": "x", "k": "v"})),
    # --- decolorize (doc: Removing color codes) ---
    ("decolorize", "| decolorize", "\x1b[31mred\x1b[0m text", {}, ("red text", {})),
    # --- line_format (doc: Line format expression) ---
    (
        "line-format-doc",
        '| logfmt | line_format "{{.query}} {{.duration}}"',
        'query="sum(x)" duration=1s',
        {},
        ("sum(x) 1s", {"query": "sum(x)", "duration": "1s"}),
    ),
    (
        "line-format-math-doc",
        '| logfmt | line_format "{{.ip}} {{.status}} {{div .duration 1000}}"',
        "ip=1.1.1.1 status=200 duration=3000",
        {},
        ("1.1.1.1 200 3", {"ip": "1.1.1.1", "status": "200", "duration": "3000"}),
    ),
    ("line-format-simple-missing", '| line_format "{{.nope}}"', "line", {}, ("", {})),
    ("line-format-line-fn", '| line_format "{{ __line__ | upper }}!"', "abc", {}, ("ABC!", {})),
    (
        "line-format-error-label",
        '| json | line_format "{{.__error__}}!"',
        "x",
        {},
        ("JSONParserErr!", {"__error__": "JSONParserErr", "__error_details__": NOT_JSON_OBJECT}),
    ),
    (
        "line-format-exec-error",
        '| line_format "{{ div 1 0 }}"',
        "keep me",
        {},
        (
            "keep me",
            {
                "__error__": "TemplateFormatErr",
                "__error_details__": 'template: line:1:3: executing "line" at <div 1 0>: '
                "error calling div: runtime error: integer divide by zero",
            },
        ),
    ),
    (
        "line-format-then-filter",
        '| logfmt | line_format "{{.msg}}" |= "boom"',
        'msg="it went boom"',
        {},
        ("it went boom", {"msg": "it went boom"}),
    ),
    # --- label_format (doc: Labels format expression) ---
    ("label-format-rename-doc", "| label_format dst=src", "l", {"src": "v"}, ("l", {"dst": "v"})),
    ("label-format-template-doc", '| label_format dst="{{.src}}"', "l", {"src": "v"}, ("l", {"src": "v", "dst": "v"})),
    ("label-format-rename-missing", "| label_format dst=nope", "l", {"a": "1"}, ("l", {"a": "1"})),
    ("label-format-same-name", "| label_format a=a", "l", {"a": "1"}, ("l", {})),
    (
        "label-format-two-templates-one-snapshot",
        '| label_format a="x", b="{{.a}}"',
        "l",
        {"a": "1"},
        ("l", {"a": "x", "b": "1"}),
    ),
    (
        "label-format-chained",
        '| label_format a="x" | label_format b="{{.a}}"',
        "l",
        {"a": "1"},
        ("l", {"a": "x", "b": "x"}),
    ),
    # --- drop / keep (doc: Drop Labels expression, Keep Labels expression) ---
    (
        "drop-doc",
        '| json | drop level, method="GET"',
        DROP_DOC,
        {},
        (DROP_DOC, {"path": "/", "host": "grafana.net", "status": "200"}),
    ),
    (
        "drop-regex-doc",
        '| json | drop level, path, app=~"some-api.*"',
        '{"app": "some-api-service", "level": "info", "method": "GET", "path": "/", "host": "grafana.net", '
        '"status": "200"}',
        {"job": "varlogs"},
        (
            '{"app": "some-api-service", "level": "info", "method": "GET", "path": "/", "host": "grafana.net", '
            '"status": "200"}',
            {"host": "grafana.net", "job": "varlogs", "method": "GET", "status": "200"},
        ),
    ),
    (
        "drop-error-doc",
        "| json | drop __error__, __error_details__",
        "INFO GET / loki.net 200",
        {},
        ("INFO GET / loki.net 200", {}),
    ),
    ("drop-error-keeps-details", "| json | drop __error__", "x", {}, ("x", {"__error_details__": NOT_JSON_OBJECT})),
    (
        "keep-doc",
        '| json | keep level, method="GET"',
        DROP_DOC,
        {"job": "varlogs"},
        (DROP_DOC, {"level": "info", "method": "GET"}),
    ),
    (
        "keep-doc-no-match",
        '| json | keep level, method="GET"',
        DROP_DOC.replace("GET", "POST"),
        {},
        (DROP_DOC.replace("GET", "POST"), {"level": "info"}),
    ),
    (
        "keep-never-drops-errors",
        "| json | keep a",
        "x",
        {"a": "1", "b": "2"},
        ("x", {"a": "1", "__error__": "JSONParserErr", "__error_details__": NOT_JSON_OBJECT}),
    ),
    # --- label filters (doc: Label filter expression) ---
    ("label-filter-doc", "| logfmt | duration > 10s and throughput_mb < 500", LOKI_QUERY, {}, None),
    (
        "label-filter-doc-pass",
        "| logfmt | duration > 10s and throughput_mb < 500",
        "duration=11s throughput_mb=2.496547",
        {},
        (SAME, {"duration": "11s", "throughput_mb": "2.496547"}),
    ),
    ("label-filter-number", "| json | status >= 500", '{"status": 503}', {}, (SAME, {"status": "503"})),
    ("label-filter-number-drop", "| json | status >= 500", '{"status": 200}', {}, None),
    ("label-filter-missing-label", "| json | status >= 500", '{"code": 503}', {}, None),
    (
        "label-filter-not-a-number",
        "| logfmt | status >= 500",
        "status=abc",
        {},
        (
            SAME,
            {
                "status": "abc",
                "__error__": "LabelFilterErr",
                "__error_details__": 'strconv.ParseFloat: parsing "abc": invalid syntax',
            },
        ),
    ),
    ("label-filter-string", '| logfmt | method =~ "GET|PUT"', "method=PUT", {}, (SAME, {"method": "PUT"})),
    ("label-filter-string-anchored", '| logfmt | method =~ "GE"', "method=GET", {}, None),
    ("label-filter-string-absent", '| logfmt | method = ""', "a=1", {}, (SAME, {"a": "1"})),
    ("label-filter-duration", "| logfmt | took >= 250ms", "took=1.5s", {}, (SAME, {"took": "1.5s"})),
    ("label-filter-bytes", "| logfmt | size > 1KB", "size=1.5KiB", {}, (SAME, {"size": "1.5KiB"})),
    ("label-filter-or", '| logfmt | a="x" or b="y"', "a=z b=y", {}, (SAME, {"a": "z", "b": "y"})),
    ("label-filter-parens", '| logfmt | (a="x" or b="y") and c="z"', "a=x c=w", {}, None),
]


@pytest.mark.parametrize(("query", "line", "labels", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pipeline(query: str, line: str, labels: dict[str, str], expected: tuple[str, dict[str, str]] | None) -> None:
    if expected is not None and expected[0] == SAME:
        expected = (line, expected[1])
    assert run(query, line, labels) == expected


def test_json_numbers_keep_their_spelling() -> None:
    """jsonparser hands Loki the number's text: `1.50` stays `1.50`, `1e3` stays `1e3`; null is skipped."""
    out = run("| json", '{"a": 1.50, "b": 1e3, "c": -0, "d": true, "e": null, "f": [1], "g": 2.5}')
    assert out is not None
    assert out[1] == {"a": "1.50", "b": "1e3", "c": "-0", "d": "true", "g": "2.5"}


def test_drop_labels_pipeline_loki_fixture() -> None:
    """Loki's TestDropLabelsPipeline "drop __error__ with matching value": logfmt --strict | json | drop ..."""
    query = '| logfmt --strict | json | drop __error__="LogfmtParserErr", status="200", app'
    assert run(query, LOKI_METRICS) == (
        LOKI_METRICS,
        {
            "level": "info",
            "ts": "2020-10-18T18:04:22.147378997Z",
            "caller": "metrics.go:81",
            "__error__": "JSONParserErr",
            "__error_details__": NOT_JSON_OBJECT,
        },
    )
    assert run(query, NESTED) == (
        NESTED,
        {
            "namespace": "prod",
            "pod_uuid": "foo",
            "pod_deployment_ref": "foobar",
            "__error_details__": "logfmt syntax error at pos 2 : unexpected '\"'",
        },
    )


def test_keep_labels_pipeline_loki_fixture() -> None:
    """Loki's TestKeepLabelsPipeline "keep by matcher": only lines whose level is info keep it."""
    query = '| logfmt | keep level="info"'
    assert run(query, LOKI_METRICS) == (LOKI_METRICS, {"level": "info"})
    assert run(query, LOKI_METRICS.replace("info", "debug")) == (LOKI_METRICS.replace("info", "debug"), {})


def test_benchmark_pipeline_loki_fixture() -> None:
    """Loki's Benchmark_Pipeline stages on its line: everything passes and the line is reformatted."""
    query = (
        '|= "metrics.go" | logfmt | duration > 10ms and status == 200 '
        '| label_format caller_foo=caller, new="{{.query_type}}:{{.range_type}}" | json '
        '| __error__ = "JSONParserErr" | line_format "Q=>{{.query}},D=>{{.duration}}"'
    )
    stream = {"cluster": "ops-tool1", "name": "querier", "stream": "stderr"}
    out = run(query, LOKI_QUERY, stream)
    assert out is not None
    line, labels = out
    assert line == 'Q=>{stream="stdout",pod="loki-canary-xmjzp"},D=>58.126671ms'
    assert labels["caller_foo"] == "metrics.go:81" and "caller" not in labels
    assert labels["new"] == "limited:range"
    assert labels["__error__"] == "JSONParserErr"
    assert labels["cluster"] == "ops-tool1"


def test_line_filters_only_return_the_input_labels() -> None:
    labels = {"a": "1"}
    out = Pipeline(parse(f'{SEL} |= "x"').pipeline).process(0, "x", labels)
    assert out == ("x", labels)
    assert out[1] is labels


def test_input_labels_are_not_modified_by_label_stages() -> None:
    labels = {"a": "1", "b": "2"}
    out = Pipeline(parse(f"{SEL} | logfmt | drop a | label_format c=b").pipeline).process(0, "b=3", labels)
    assert out == ("b=3", {"b_extracted": "3", "c": "2"})
    assert labels == {"a": "1", "b": "2"}


def test_introspection() -> None:
    assert Pipeline(()).is_noop
    filters_only = Pipeline(parse(f'{SEL} |= "a" | decolorize').pipeline)
    assert not filters_only.has_parsers and not filters_only.changes_labels
    with_parser = Pipeline(parse(f"{SEL} | json").pipeline)
    assert with_parser.has_parsers and with_parser.changes_labels
    assert Pipeline(parse(f'{SEL} | line_format "x"').pipeline).changes_labels


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        (ast.LineFormat("{{ Title .a }}"), 'invalid line template: template: line:1: function "Title" not defined'),
        (ast.LineFormat("{{ .a "), "invalid line template: template: line:1: unclosed action"),
        (
            ast.LabelFormat((ast.LabelFormatItem("__error__", "x", False),)),
            "__error__ cannot be formatted",
        ),
        (
            ast.LabelFormat((ast.LabelFormatItem("a", "x", False), ast.LabelFormatItem("a", "{{.b}}", True))),
            "multiple label name 'a' not allowed in a single format operation",
        ),
        (ast.RegexpParser("(\\d+)"), "at least one named capture must be supplied"),
        (ast.PatternParser("<_> foo"), "at least one capture is required"),
        (ast.PatternParser("<a><b>"), "found consecutive capture '<a><b>': invalid expression"),
        (ast.JsonParser((("a", "b..c"),)), "cannot parse expression [b..c]: syntax error"),
        (
            ast.LineFilter(ast.LineFilterOp.MATCH, ("(?=x)",)),
            "error parsing regexp: invalid or unsupported Perl syntax",
        ),
    ],
)
def test_compile_errors(stage: ast.Stage, message: str) -> None:
    """Bad templates and expressions are query errors (HTTP 400) when the pipeline is built, not per line."""
    with pytest.raises(LogQLError) as e:
        Pipeline((stage,))
    assert str(e.value).startswith(message)


def test_the_deadline_is_checked_between_stages_and_inside_templates() -> None:
    """One line may be slow (many stages, templates calling heavy functions): the query's deadline still holds."""
    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls > 5:
            raise QueryTimeout("query timed out after 1s")

    calls_in_one_template = " ".join(['{{ repeat 3 "ab" }}'] * 20)
    log = parse('{a="b"} | line_format "' + calls_in_one_template.replace('"', '\\"') + '"')
    assert isinstance(log, ast.LogExpr)
    pipeline = Pipeline(log.pipeline, check=check)
    with pytest.raises(QueryTimeout):
        pipeline.process(0, "line", {"a": "b"})
    assert calls == 6
