"""Golden log queries: each result is checked against a plain-Python evaluation over the same rows.

Every case is a LogQL query plus a hand-written `keep(entry) -> bool` that applies the same
selector and pipeline with the oracle helpers. The harness selects the rows in [start, end),
keeps the newest (or oldest) `limit` entries and compares labels, timestamps and lines exactly
(only __error_details__ values, Go error strings, are compared for presence).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.golden import oracle as o
from tests.golden.conftest import assert_log_lines, flatten_streams
from tests.golden.corpus import MINUTE, SEED, SPAN, T0, TENANT, Corpus, trace_pool
from tests.golden.oracle import Entry

Keep = Callable[[Entry], bool]


@dataclass(frozen=True)
class LogCase:
    id: str
    query: str
    matchers: tuple[tuple[str, str, str], ...]
    keep: Keep
    limit: int = 100
    direction: str = "backward"
    start: int = T0
    end: int = T0 + SPAN
    empty: bool = False
    """The right answer is no entries at all."""
    xfail: str = ""
    """A known engine bug (reported to the lead): the case fails until it is fixed, then must be unmarked."""


def everything(e: Entry) -> bool:
    return True


def sel(**kv: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((k, "=", v) for k, v in kv.items())


API = sel(service="api")
API_OUT = sel(service="api", stream="stdout")
WEB, DB, NGINX, WORKER, PACKED = (
    sel(service="web"),
    sel(service="db"),
    sel(service="nginx"),
    sel(service="worker"),
    sel(service="packed"),
)
NGINX_PATTERN = '<ip> - - [<_>] "<method> <path> <_>" <status> <size> <_>'
DB_REGEXP = r"\[(?P<pid>\d+)\] (?P<severity>[A-Z]+):\s+(?P<rest>.*)"
TRACE = trace_pool(random.Random(SEED))[0]
HAN = re.compile("[\u4e00-\u9fff]")
"""RE2's \\p{Han} for the characters the corpus has (Python's re has no \\p classes)."""


# --- per-query pipelines ---------------------------------------------------------------------------


def line_filters_chain(e: Entry) -> bool:
    return "GET" not in e.line and "500" in e.line


def json_all(e: Entry) -> bool:
    o.json_parse(e)
    return True


def json_then(pred: Keep) -> Keep:
    def run(e: Entry) -> bool:
        o.json_parse(e)
        return pred(e)

    return run


def logfmt_then(pred: Keep, strict: bool = False) -> Keep:
    def run(e: Entry) -> bool:
        o.logfmt_parse(e, strict=strict)
        return pred(e)

    return run


def json_params(e: Entry) -> bool:
    o.json_params(e, {"m": ["method"], "who": ["user", "name"], "first_tag": ["tags", 0]})
    return True


def worker_duration(e: Entry) -> bool:
    o.json_parse(e)
    return o.lbl(e, "__error__", "=", "") and o.dur(e, "duration", ">", "1m")


def worker_items(e: Entry) -> bool:
    o.json_parse(e)
    return o.lbl(e, "__error__", "=", "") and o.num(e, "items", ">", 10)


def web_status_or_duration(e: Entry) -> bool:
    o.logfmt_parse(e)
    return o.either(e, lambda x: o.num(x, "status", ">=", 400), lambda x: o.dur(x, "duration", ">", "1s"))


def db_regexp(pred: Keep) -> Keep:
    def run(e: Entry) -> bool:
        o.regexp_parse(e, DB_REGEXP)
        return pred(e)

    return run


def nginx_pattern(pred: Keep) -> Keep:
    def run(e: Entry) -> bool:
        o.pattern_parse(e, NGINX_PATTERN)
        return pred(e)

    return run


def unpack_then(pred: Keep) -> Keep:
    def run(e: Entry) -> bool:
        o.unpack(e)
        return pred(e)

    return run


def status_200_fast(e: Entry) -> bool:
    o.json_parse(e)
    return o.both(e, lambda x: o.num(x, "status", "==", 200), lambda x: o.dur(x, "latency", "<=", "100ms"))


def post_put_not_201(e: Entry) -> bool:
    o.json_parse(e)
    return o.both(e, lambda x: o.lbl(x, "method", "=~", "P.*"), lambda x: o.num(x, "status", "!=", 201))


def grouped_filter(e: Entry) -> bool:
    o.json_parse(e)
    return o.both(
        e,
        lambda x: o.either(x, lambda y: o.num(y, "status", ">=", 500), lambda y: o.dur(y, "latency", ">", "2s")),
        lambda x: o.lbl(x, "method", "!=", "GET"),
    )


def fmt_method_path(e: Entry) -> bool:
    o.json_parse(e)
    d = e.template_data()
    e.line = f"{d.get('method', '')} {d.get('path', '')} -> {d.get('status', '')}"
    return True


def rename_status(e: Entry) -> bool:
    o.logfmt_parse(e)
    o.rename(e, "http_status", "status")
    d = e.template_data()
    e.line = f"{d.get('http_status', '')} {d.get('status', '')}"
    return True


def summary_label(e: Entry) -> bool:
    o.logfmt_parse(e)
    d = e.template_data()
    e.set("summary", f"{d.get('method', '')}-{d.get('status', '')}")
    return True


def status_line_then_filter(e: Entry) -> bool:
    o.json_parse(e)
    e.line = e.template_data().get("status", "")
    return "50" in e.line


def upper_msg(e: Entry) -> bool:
    o.json_parse(e)
    e.line = e.template_data().get("msg", "").upper()
    return True


def pod_suffix(e: Entry) -> bool:
    e.set("pod", e.template_data().get("pod", "") + "-x")
    return True


def keep_three(e: Entry) -> bool:
    o.json_parse(e)
    o.keep(e, "service", "status", "method")
    return True


def drop_some(e: Entry) -> bool:
    o.json_parse(e)
    o.drop(e, "user_id", "user_name", "user_geo_country", "trace_id", "span_id", matchers=[("method", "=", "GET")])
    return True


def drop_errors(e: Entry) -> bool:
    o.json_parse(e)
    o.drop(e, "__error__", "__error_details__")
    return True


def keep_with_matcher(e: Entry) -> bool:
    o.logfmt_parse(e)
    o.keep(e, "level_extracted", matchers=[("status", "=", "500")])
    return True


def decolorized(e: Entry) -> bool:
    if "checkpoint" not in e.line:
        return False
    e.line = o.decolorize(e.line)
    return True


def if_eq_status(e: Entry) -> bool:
    o.json_parse(e)
    status = e.template_data().get("status", "")
    e.line = "ok" if status == "200" else status
    return True


def sprig_functions(e: Entry) -> bool:
    o.json_parse(e)
    d = e.template_data()
    # sprig: trunc cuts bytes (the corpus' messages are ASCII at the start), default replaces an empty value
    e.line = "|".join(
        [d.get("msg", "")[:8], d.get("service_extracted") or "none", d.get("path", "").replace("/", "_"),
         d.get("method", "").lower()]
    )  # fmt: skip
    return True


def level_and_line(e: Entry) -> bool:
    if "checkpoint" not in e.line:
        return False
    e.line = f"{e.template_data().get('level', '')}: {e.line}"
    return True


def route_label(e: Entry) -> bool:
    o.json_parse(e)
    e.set("route", re.sub("[0-9]+", "N", e.template_data().get("path", "")))
    return True


def drop_regex_matcher(e: Entry) -> bool:
    o.json_parse(e)
    o.drop(e, "user_name", matchers=[("level_extracted", "=~", "info|debug")])
    return True


def han_after_format(e: Entry) -> bool:
    o.json_parse(e)
    e.line = e.template_data().get("msg", "")
    return HAN.search(e.line) is not None


def nginx_regexp_pod(e: Entry) -> bool:
    o.regexp_parse(e, r"^(?P<pod>\S+) - - \[(?P<when>[^\]]+)\]")
    return True


def nginx_pattern_service(e: Entry) -> bool:
    o.pattern_parse(e, "<service> - - <_>")
    return True


def drop_then_json(e: Entry) -> bool:
    o.drop(e, "service")
    o.json_parse(e)
    return o.lbl(e, "service_extracted", "!=", "")


def keep_empty_flag(e: Entry) -> bool:
    o.logfmt_parse(e, keep_empty=True)
    return o.num(e, "flag", ">", 1)


CASES: list[LogCase] = [
    # stream selectors
    LogCase("selector = : newest 100 of api across its streams", '{service="api"}', API, everything),
    LogCase(
        "selector = and != : prod without api, oldest 500 (forward)",
        '{namespace="prod", service!="api"}',
        (("namespace", "=", "prod"), ("service", "!=", "api")),
        everything,
        limit=500,
        direction="forward",
    ),
    LogCase(
        "selector =~ : anchored alternation over pods",
        '{pod=~"api-.*-1|web-0"}',
        (("pod", "=~", "api-.*-1|web-0"),),
        everything,
        limit=300,
    ),
    LogCase(
        "selector !~ with a label from the labels JSON",
        '{cluster=~"eu-1|us-2", service!~"api|nginx"}',
        (("cluster", "=~", "eu-1|us-2"), ("service", "!~", "api|nginx")),
        everything,
        limit=1000,
    ),
    LogCase(
        "selector on two labels-JSON labels",
        '{team="batch", queue="high"}',
        sel(team="batch", queue="high"),
        everything,
        limit=1000,
    ),
    LogCase(
        'selector level="" matches entries without a level',
        '{namespace="data", level=""}',
        (("namespace", "=", "data"), ("level", "=", "")),
        everything,
        limit=1000,
    ),
    LogCase(
        "window: start inclusive, end exclusive (entries sit exactly on both)",
        '{service="db"}',
        DB,
        everything,
        limit=1000,
        direction="forward",
        start=T0 + 5 * MINUTE,
        end=T0 + 25 * MINUTE,
    ),
    LogCase(
        "limit applies across all streams, oldest first",
        '{namespace=~".+"}',
        (("namespace", "=~", ".+"),),
        everything,
        limit=37,
        direction="forward",
        start=T0 + 30 * MINUTE,
        end=T0 + 40 * MINUTE,
    ),
    # line filters
    LogCase('line filter |= "ERROR"', '{service="db"} |= "ERROR"', DB, lambda e: "ERROR" in e.line, limit=1000),
    LogCase(
        'line filters chained: != "GET" |= "500"',
        '{namespace="prod"} != "GET" |= "500"',
        sel(namespace="prod"),
        line_filters_chain,
        limit=1000,
    ),
    LogCase(
        "line filter |~ with an escaped dot",
        r'{service="db"} |~ "duration: [0-9]+\\.[0-9]+ ms"',
        DB,
        lambda e: o.regex(e.line, r"duration: [0-9]+\.[0-9]+ ms"),
        limit=1000,
    ),
    LogCase(
        "line filter !~ (regex, unanchored)",
        r'{service="web"} !~ "status=(2|3)\\d\\d"',
        WEB,
        lambda e: not o.regex(e.line, r"status=(2|3)\d\d"),
        limit=1000,
    ),
    LogCase(
        "line filter |> pattern",
        r'{service="nginx"} |> "<_> \"POST <_>\" <_>"',
        NGINX,
        lambda e: o.pattern_test(e.line, '<_> "POST <_>" <_>'),
        limit=1000,
    ),
    LogCase(
        "line filter !> pattern",
        r'{service="nginx"} !> "<_> \"GET <_>\" 200 <_>"',
        NGINX,
        lambda e: not o.pattern_test(e.line, '<_> "GET <_>" 200 <_>'),
        limit=1000,
    ),
    LogCase(
        'line filter with an SQL fragment "DROP TABLE logs; --"',
        '{service="db"} |= "DROP TABLE logs; --"',
        DB,
        lambda e: "DROP TABLE logs; --" in e.line,
        limit=1000,
    ),
    LogCase('line filter with unicode "✓"', '{service="worker"} |= "✓"', WORKER, lambda e: "✓" in e.line, limit=1000),
    LogCase(
        "line filter with a raw `backtick` string holding backslashes",
        r'{service="worker"} |= `C:\\temp`',
        WORKER,
        lambda e: r"C:\\temp" in e.line,
        limit=1000,
    ),
    LogCase(
        'line filter with escaped quotes "\\"status\\": 5"',
        r'{service="api"} |= "\"status\": 5"',
        API,
        lambda e: '"status": 5' in e.line,
        limit=1000,
    ),
    LogCase(
        'case-insensitive |~ "(?i)..." then |= "a" or "b"',
        '{service="db"} |~ "(?i)CHECKPOINT" |= "fail" or "complete"',
        DB,
        lambda e: o.regex(e.line, "(?i)CHECKPOINT") and o.contains(e.line, "fail", "complete"),
        limit=1000,
    ),
    LogCase(
        "decolorize strips ANSI colours", '{service="db"} |= "checkpoint" | decolorize', DB, decolorized, limit=1000
    ),
    # parsers
    LogCase(
        "json: nested keys joined with _, arrays and nulls skipped, _extracted on collisions",
        '{service="api", stream="stdout"} | json',
        API_OUT,
        json_all,
        limit=300,
    ),
    LogCase(
        "json on plain-text lines sets __error__=JSONParserErr",
        '{service="api", pod="api-7f9c-1"} | json',
        sel(service="api", pod="api-7f9c-1"),
        json_all,
        limit=400,
        start=T0 + 20 * MINUTE,
        end=T0 + 70 * MINUTE,
    ),
    LogCase(
        '__error__ != "" keeps only lines the parser failed on',
        '{service="worker"} | json | __error__ != ""',
        WORKER,
        json_then(lambda e: o.lbl(e, "__error__", "!=", "")),
        limit=1000,
    ),
    LogCase(
        "json | status >= 500 (number filter)",
        '{service="api"} | json | status >= 500',
        API,
        json_then(lambda e: o.num(e, "status", ">=", 500)),
        limit=1000,
    ),
    LogCase(
        "json | latency > 500ms (duration filter)",
        '{service="api", stream="stdout"} | json | latency > 500ms',
        API_OUT,
        json_then(lambda e: o.dur(e, "latency", ">", "500ms")),
        limit=1000,
    ),
    LogCase(
        "json | size > 20KB (bytes filter, SI units)",
        '{service="api", stream="stdout"} | json | size > 20KB',
        API_OUT,
        json_then(lambda e: o.size(e, "size", ">", "20KB")),
        limit=1000,
    ),
    LogCase(
        'json | nested label user_geo_country="DE" and method="POST"',
        '{service="api"} | json | user_geo_country="DE" and method="POST"',
        API,
        json_then(lambda e: o.lbl(e, "user_geo_country", "=", "DE") and o.lbl(e, "method", "=", "POST")),
        limit=1000,
    ),
    LogCase(
        'json with parameters: m="method", who="user.name", first_tag="tags[0]"',
        '{service="api", stream="stdout"} | json m="method", who="user.name", first_tag="tags[0]"',
        API_OUT,
        json_params,
        limit=200,
    ),
    LogCase(
        'json | __error__="" | duration > 1m on worker jobs',
        '{service="worker"} | json | __error__="" | duration > 1m',
        WORKER,
        worker_duration,
        limit=1000,
    ),
    LogCase(
        "a number filter on a non-number keeps the line with __error__=LabelFilterErr",
        '{service="worker"} | json | __error__="" | items > 10',
        WORKER,
        worker_items,
        limit=1000,
    ),
    LogCase(
        'a typed filter on a stream label before any parser sets LabelFilterErr; __error__="" then drops the line',
        '{service="api"} | level > 1 | __error__=""',
        API,
        lambda e: o.num(e, "level", ">", 1) and o.lbl(e, "__error__", "=", ""),
        limit=1000,
        empty=True,
    ),
    LogCase(
        'a typed filter on a stream label before any parser: __error__!="" keeps the lines it failed on',
        '{service="web"} | pod >= 0 | __error__!=""',
        WEB,
        lambda e: o.num(e, "pod", ">=", 0) and o.lbl(e, "__error__", "!=", ""),
        limit=1000,
    ),
    LogCase(
        "json | payload_size >= 1MiB (bytes filter, IEC units)",
        '{service="worker"} | json | payload_size >= 1MiB',
        WORKER,
        json_then(lambda e: o.size(e, "payload_size", ">=", "1MiB")),
        limit=1000,
    ),
    LogCase(
        "json | trace_id from the line is trace_id_extracted beside the structured metadata",
        '{service="api", stream="stdout"} | json | trace_id_extracted="json-trace"',
        API_OUT,
        json_then(lambda e: o.lbl(e, "trace_id_extracted", "=", "json-trace")),
        limit=1000,
    ),
    LogCase(
        "logfmt | status >= 400 or duration > 1s",
        '{service="web"} | logfmt | status >= 400 or duration > 1s',
        WEB,
        web_status_or_duration,
        limit=1000,
    ),
    LogCase(
        "logfmt: bad pairs skipped, empty values dropped, keys sanitised",
        '{service="web"} | logfmt',
        WEB,
        logfmt_then(everything),
        limit=500,
    ),
    LogCase(
        "logfmt --strict marks broken lines with LogfmtParserErr",
        '{service="web"} | logfmt --strict | __error__ != ""',
        WEB,
        logfmt_then(lambda e: o.lbl(e, "__error__", "!=", ""), strict=True),
        limit=1000,
    ),
    LogCase(
        "regexp named groups then a string filter",
        f'{{service="db"}} | regexp `{DB_REGEXP}` | severity="ERROR"',
        DB,
        db_regexp(lambda e: o.lbl(e, "severity", "=", "ERROR")),
        limit=1000,
    ),
    LogCase(
        "regexp leaves non-matching lines unlabelled",
        f'{{service="db"}} | regexp `{DB_REGEXP}`',
        DB,
        db_regexp(everything),
        limit=300,
    ),
    LogCase(
        "pattern parser then status == 404",
        f'{{service="nginx"}} | pattern `{NGINX_PATTERN}` | status == 404',
        NGINX,
        nginx_pattern(lambda e: o.num(e, "status", "==", 404)),
        limit=1000,
    ),
    LogCase(
        "pattern parser labels",
        f'{{service="nginx"}} | pattern `{NGINX_PATTERN}`',
        NGINX,
        nginx_pattern(everything),
        limit=100,
    ),
    LogCase(
        "unpack: _entry becomes the line, string fields labels",
        '{service="packed"} | unpack',
        PACKED,
        unpack_then(everything),
        limit=1000,
    ),
    LogCase(
        'unpack | env="staging"',
        '{service="packed"} | unpack | env="staging"',
        PACKED,
        unpack_then(lambda e: o.lbl(e, "env", "=", "staging")),
        limit=1000,
    ),
    # typed label filters combined
    LogCase(
        "status == 200 and latency <= 100ms",
        '{service="api"} | json | status == 200 and latency <= 100ms',
        API,
        status_200_fast,
        limit=1000,
    ),
    LogCase(
        'comma is and: method =~ "P.*", status != 201',
        '{service="api"} | json | method =~ "P.*", status != 201',
        API,
        post_put_not_201,
        limit=1000,
    ),
    LogCase(
        "parenthesised (a or b) and c",
        '{service="api", stream="stdout"} | json | (status >= 500 or latency > 2s) and method != "GET"',
        API_OUT,
        grouped_filter,
        limit=1000,
    ),
    LogCase(
        "number filter on a float field duration_ms < 5.5",
        '{service="api", stream="stdout"} | json | duration_ms < 5.5',
        API_OUT,
        json_then(lambda e: o.num(e, "duration_ms", "<", 5.5)),
        limit=1000,
    ),
    # formatting
    LogCase(
        "line_format with three labels",
        '{service="api", stream="stdout"} | json | line_format "{{.method}} {{.path}} -> {{.status}}"',
        API_OUT,
        fmt_method_path,
    ),
    LogCase(
        "label_format rename, then line_format sees the new name and not the old",
        '{service="web"} | logfmt | label_format http_status=status | line_format "{{.http_status}} {{.status}}"',
        WEB,
        rename_status,
        limit=300,
    ),
    LogCase(
        "label_format template",
        '{service="web"} | logfmt | label_format summary="{{.method}}-{{.status}}"',
        WEB,
        summary_label,
        limit=300,
    ),
    LogCase(
        "a line filter after line_format sees the formatted line",
        '{service="api", stream="stdout"} | json | line_format "{{.status}}" |= "50"',
        API_OUT,
        status_line_then_filter,
        limit=1000,
    ),
    LogCase(
        "line_format with a template function",
        '{service="api", stream="stdout"} | json | line_format "{{ ToUpper .msg }}"',
        API_OUT,
        upper_msg,
    ),
    LogCase(
        "label_format overrides a stream label",
        '{service="nginx"} | label_format pod="{{.pod}}-x"',
        NGINX,
        pod_suffix,
        limit=50,
    ),
    # drop / keep
    LogCase(
        "keep three labels (stream labels and metadata go too)",
        '{service="api", stream="stdout"} | json | keep service, status, method',
        API_OUT,
        keep_three,
        limit=300,
    ),
    LogCase(
        'drop names and a matcher method="GET"',
        '{service="api", stream="stdout"} | json | drop user_id, user_name, user_geo_country, trace_id, span_id, '
        'method="GET"',
        API_OUT,
        drop_some,
        limit=300,
    ),
    LogCase(
        "drop __error__, __error_details__",
        '{service="api"} | json | drop __error__, __error_details__',
        API,
        drop_errors,
        limit=400,
        start=T0 + 20 * MINUTE,
        end=T0 + 50 * MINUTE,
    ),
    # Loki corner cases
    LogCase(
        "json keeps numbers as written, unescapes strings, last duplicate wins, skips arrays and {}",
        '{service="worker"} |= "\\"ratio\\"" | json',
        WORKER,
        lambda e: '"ratio"' in e.line and json_all(e),
        limit=1000,
    ),
    LogCase(
        "json ignores text after the closing brace",
        '{service="worker"} |= "} trailing" | json',
        WORKER,
        lambda e: "} trailing" in e.line and json_all(e),
        limit=1000,
    ),
    LogCase(
        "json on a truncated line keeps the labels set before the error",
        '{service="worker"} |= "broken" | json',
        WORKER,
        lambda e: "broken" in e.line and json_all(e),
        limit=1000,
    ),
    LogCase(
        "json error inside a nested object keeps the earlier labels",
        '{service="worker"} |= "oops" | json',
        WORKER,
        lambda e: "oops" in e.line and json_all(e),
        limit=1000,
    ),
    LogCase(
        "Go's ParseFloat reads 1_000 as a number",
        '{service="worker"} |= "1_000" | json | items > 10',
        WORKER,
        lambda e: "1_000" in e.line and json_then(lambda x: o.num(x, "items", ">", 10))(e),
        limit=1000,
    ),
    LogCase(
        "duration filter is Go's ParseDuration: 1d is a LabelFilterErr, .5s and 1h0m0s parse",
        '{service="worker"} | json | __error__="" | duration >= 1s',
        WORKER,
        json_then(lambda e: o.lbl(e, "__error__", "=", "") and o.dur(e, "duration", ">=", "1s")),
        limit=1000,
    ),
    LogCase(
        "bytes filter with commas, spaces and lower-case units",
        '{service="worker"} | json | __error__="" | payload_size > 1MB',
        WORKER,
        json_then(lambda e: o.lbl(e, "__error__", "=", "") and o.size(e, "payload_size", ">", "1MB")),
        limit=1000,
    ),
    LogCase(
        "logfmt --keep-empty: a standalone key is present and empty, so a number filter errors",
        '{service="web"} | logfmt --keep-empty | flag > 1',
        WEB,
        keep_empty_flag,
        limit=1000,
    ),
    LogCase(
        "without --keep-empty the standalone key is absent: nothing passes",
        '{service="web"} | logfmt | flag > 1',
        WEB,
        logfmt_then(lambda e: o.num(e, "flag", ">", 1)),
        empty=True,
    ),
    LogCase(
        "regexp capture named like a stream label gets _extracted",
        r'{service="nginx"} | regexp `^(?P<pod>\S+) - - \[(?P<when>[^\]]+)\]`',
        NGINX,
        nginx_regexp_pod,
    ),
    LogCase(
        "pattern capture named like a stream label gets _extracted",
        '{service="nginx"} | pattern `<service> - - <_>`',
        NGINX,
        nginx_pattern_service,
    ),
    LogCase(
        "line_format with if / eq / else",
        '{service="api", stream="stdout"} | json | '
        'line_format `{{ if eq .status "200" }}ok{{ else }}{{ .status }}{{ end }}`',
        API_OUT,
        if_eq_status,
        limit=300,
    ),
    LogCase(
        "line_format with sprig functions: trunc, default, replace, lower",
        '{service="api", stream="stdout"} | json | line_format '
        '`{{ trunc 8 .msg }}|{{ default "none" .service_extracted }}|{{ replace "/" "_" .path }}|{{ lower .method }}`',
        API_OUT,
        sprig_functions,
        limit=300,
    ),
    LogCase(
        "line_format with __line__",
        '{service="db"} |= "checkpoint" | line_format "{{ .level }}: {{ __line__ }}"',
        DB,
        level_and_line,
        limit=1000,
    ),
    LogCase(
        "label_format with regexReplaceAll",
        '{service="api", stream="stdout"} | json | label_format route=`{{ regexReplaceAll "[0-9]+" .path "N" }}`',
        API_OUT,
        route_label,
        limit=300,
    ),
    LogCase(
        "drop with a regex matcher",
        '{service="api", stream="stdout"} | json | drop level_extracted=~"info|debug", user_name',
        API_OUT,
        drop_regex_matcher,
        limit=300,
    ),
    LogCase(
        "a selector on structured metadata matches nothing: trace_id is not a stream label",
        '{service="worker", trace_id=~".+"}',
        (*WORKER, ("trace_id", "=~", ".+")),
        everything,
        empty=True,
    ),
    LogCase(
        f"label filter on structured metadata trace_id={TRACE}",
        f'{{service="worker"}} | trace_id="{TRACE}"',
        WORKER,
        lambda e: o.lbl(e, "trace_id", "=", TRACE),
        limit=1000,
    ),
    LogCase(
        r"\p{Han} in a line filter",
        r'{service="worker"} |~ `\p{Han}+`',
        WORKER,
        lambda e: HAN.search(e.line) is not None,
        limit=1000,
    ),
    LogCase(
        r"\p{Han} after line_format (the per-line side)",
        r'{service="worker"} | json | line_format "{{.msg}}" |~ `\p{Han}`',
        WORKER,
        han_after_format,
        limit=1000,
    ),
    LogCase(
        "case-insensitive regex matcher",
        '{namespace="prod", level=~"(?i)ERROR"}',
        (("namespace", "=", "prod"), ("level", "=~", "(?i)ERROR")),
        everything,
        limit=1000,
    ),
    LogCase('|= "" keeps every line', '{service="packed"} |= ""', PACKED, everything, limit=1000),
    LogCase(
        "|> is pattern.Test: a leading literal may sit anywhere in the line",
        '{service="db"} |> "INFO <_>"',
        DB,
        lambda e: o.pattern_test(e.line, "INFO <_>"),
        limit=1000,
    ),
    LogCase(
        "|> is pattern.Test: an empty capture between two literals does not match",
        '{service="nginx"} |> "<_>- <_>- [<_>"',
        NGINX,
        lambda e: o.pattern_test(e.line, "<_>- <_>- [<_>"),
        empty=True,
    ),
    LogCase(
        "_extracted is decided by the original stream labels, even after drop",
        '{service="api", stream="stdout"} | drop service | json | service_extracted != ""',
        API_OUT,
        drop_then_json,
        limit=1000,
    ),
    LogCase(
        "in a line filter . does not match a newline (Go regexp without (?s))",
        '{service="api", stream="stderr"} |~ "running.*main"',
        sel(service="api", stream="stderr"),
        lambda e: o.regex(e.line, "running.*main"),
        empty=True,
    ),
    LogCase(
        "(?s) lets . match the newline of a multi-line entry",
        '{service="api", stream="stderr"} |~ "(?s)running.*main"',
        sel(service="api", stream="stderr"),
        lambda e: o.regex(e.line, "(?s)running.*main"),
        limit=1000,
    ),
    LogCase(
        'keep with a matcher status="500"',
        '{service="web"} | logfmt | keep level_extracted, status="500"',
        WEB,
        keep_with_matcher,
        limit=500,
    ),
]


def expected(corpus: Corpus, case: LogCase) -> list[o.LogLine]:
    rows = o.select(corpus.by_tenant[TENANT], *case.matchers, start=case.start, end=case.end)
    kept = [e for e in o.entries(rows) if case.keep(e)]
    return o.log_result(kept, case.limit, backward=case.direction == "backward")


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
     for c in CASES],
)  # fmt: skip
def test_log_query(engine, corpus: Corpus, case: LogCase) -> None:
    want = expected(corpus, case)
    assert bool(want) != case.empty, "the oracle's answer is not what the case is about"
    result = engine.query_range(
        case.query, tenant=TENANT, start_ns=case.start, end_ns=case.end, step_ns=0, limit=case.limit,
        direction=case.direction,
    )  # fmt: skip
    assert_log_lines(flatten_streams(result.data, case.direction == "backward"), want)


def test_corpus_has_the_edge_cases_the_cases_rely_on(corpus: Corpus) -> None:
    """Guards the corpus: boundary timestamps, parser failures and collisions must all be present."""
    db = {r.ts for r in corpus.by_tenant[TENANT] if r.stream["service"] == "db"}
    assert T0 + 5 * MINUTE in db and T0 + 25 * MINUTE in db
    lines = [r.line for r in corpus.by_tenant[TENANT]]
    for needle in ('"service": "api-gw"', '"parent": null', '"http.route"', '{"job" "resize"}', '{"msg": "cut',
                   "=oops", "standalone flag", "\x1b[31m", 'items": "n/a', '"trace_id": "json-trace"', "} trailing",
                   '"broken', '"b": oops', '"ratio": 1.50', '"1_000"', '"1d"', '"2 MiB"', "处理完成"):  # fmt: skip
        assert any(needle in line for line in lines), needle
    assert all("GLOBEX" in r.line for r in corpus.by_tenant["globex"])
