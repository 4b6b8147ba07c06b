"""Golden metric queries: range and instant results checked against plain-Python evaluation.

Each case's oracle builds samples from the corpus rows with the oracle helpers, then applies
range windows, vector aggregations and binary operations step by step. Values are compared with
a relative tolerance of 1e-9; a step where a series has no sample must have no point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from observ.logql.errors import LimitError, ParseError, PipelineError
from observ.logql.results import Scalar
from tests.golden import oracle as o
from tests.golden.conftest import assert_series, matrix_series, same_value, vector_samples
from tests.golden.corpus import HOUR, MINUTE, SECOND, SPAN, T0, TENANT, Corpus, Row
from tests.golden.oracle import Entry, SeriesSet

Oracle = Callable[[list[Row], list[int]], SeriesSet] | None
M5, M10 = 5 * MINUTE, 10 * MINUTE


@dataclass(frozen=True)
class MetricCase:
    id: str
    query: str
    oracle: Oracle
    start: int = T0
    end: int = T0 + SPAN
    step: int = M5
    instant: bool = False
    """Instant query at `end`."""
    error: type[Exception] | None = None
    """The query must fail with this error; an oracle, if any, must agree by raising PipelineErrorExpected."""
    ordered: str = ""
    """"asc"/"desc": an instant vector whose sample order is part of the answer (sort / sort_desc)."""
    empty: bool = False
    """The right answer has no series at all."""
    xfail: str = ""
    """A known engine bug (reported to the lead): the case fails until it is fixed, then must be unmarked."""


def es(rows: list[Row], *matchers: tuple[str, str, str]) -> list[Entry]:
    return o.entries(o.select(rows, *matchers))


def sel(**kv: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((k, "=", v) for k, v in kv.items())


def counts(rows: list[Row], at: list[int], *matchers: tuple[str, str, str], range_ns: int = M5,
           keep: Callable[[Entry], bool] = lambda e: True) -> SeriesSet:  # fmt: skip
    kept = [e for e in es(rows, *matchers) if keep(e)]
    return o.range_agg(o.log_samples(kept), "count_over_time", range_ns, at)


def summed(series: SeriesSet, at: list[int], *by: str) -> SeriesSet:
    return o.vector_agg(series, at, "sum", by=by)


def json_ok(e: Entry) -> bool:
    o.json_parse(e)
    return not e.err


def api_json(rows: list[Row]) -> list[Entry]:
    out = es(rows, *sel(service="api", stream="stdout"))
    for e in out:
        o.json_parse(e)
    return out


def api_unwrap(rows: list[Row], at: list[int], op: str, label: str, conversion: str = "", by: tuple[str, ...] = (),
               range_ns: int = M10, param: float | None = None) -> SeriesSet:  # fmt: skip
    samples = o.unwrap(api_json(rows), label, conversion, by=by)
    return o.range_agg(samples, op, range_ns, at, param=param)


def pod_level_bytes(rows: list[Row], at: list[int]) -> SeriesSet:
    kept = es(rows, *sel(service="api"))
    return summed(o.range_agg(o.log_samples(kept, o.line_bytes), "bytes_over_time", M10, at), at, "pod", "level")


def pod_level_counts(rows: list[Row], at: list[int], stream: str = "") -> SeriesSet:
    ms = sel(service="api", stream=stream) if stream else sel(service="api")
    return summed(counts(rows, at, *ms, range_ns=M10), at, "pod", "level")


def nginx_status(rows: list[Row], at: list[int]) -> SeriesSet:
    kept = es(rows, *sel(service="nginx"))
    for e in kept:
        o.pattern_parse(e, '<ip> - - [<_>] "<method> <path> <_>" <status> <size> <_>')
    return summed(o.range_agg(o.log_samples(kept), "count_over_time", M10, at), at, "status")


def worker_items(rows: list[Row], at: list[int], post: bool) -> SeriesSet:
    kept = [e for e in es(rows, *sel(service="worker")) if json_ok(e)]
    samples = o.unwrap(kept, "items", post=(lambda e: not e.err) if post else None)
    return summed(o.range_agg(samples, "rate", M5, at), at, "pod")


def web_duration(rows: list[Row], at: list[int]) -> SeriesSet:
    kept = es(rows, *sel(service="web"))
    for e in kept:
        o.logfmt_parse(e)
    samples = o.unwrap(kept, "duration", "duration", post=lambda e: not e.err)
    return summed(o.range_agg(samples, "avg_over_time", M10, at), at, "level_extracted")


def msg_bytes(rows: list[Row], at: list[int]) -> SeriesSet:
    kept = [e for e in es(rows, *sel(service="api", stream="stdout")) if json_ok(e)]
    for e in kept:
        e.line = e.template_data().get("msg", "")
    return summed(o.range_agg(o.log_samples(kept, o.line_bytes), "bytes_over_time", M5, at), at)


def db_errors(rows: list[Row], at: list[int]) -> SeriesSet:
    kept = es(rows, *sel(service="db"))
    for e in kept:
        o.regexp_parse(e, r"\[(?P<pid>\d+)\] (?P<severity>[A-Z]+):\s+(?P<rest>.*)")
    kept = [e for e in kept if o.lbl(e, "severity", "=", "ERROR")]
    return summed(o.range_agg(o.log_samples(kept), "count_over_time", M10, at), at, "pod")


def absent(rows: list[Row], at: list[int], labels: dict[str, str], *ms: tuple[str, str, str],
           range_ns: int = MINUTE) -> SeriesSet:  # fmt: skip
    return o.absent_over_time(o.log_samples(es(rows, *ms)), range_ns, at, labels)


def level_filtered_ok(e: Entry) -> bool:
    """`| level > 1 | __error__=""`: a level is no number, so the filter sets LabelFilterErr on every line."""
    return o.num(e, "level", ">", 1) and o.lbl(e, "__error__", "=", "")


def json_errors_fail(rows: list[Row], at: list[int]) -> SeriesSet:
    kept = es(rows, *sel(service="api"))
    for e in kept:
        o.json_parse(e)
    return summed(o.range_agg(o.log_samples(kept), "count_over_time", M5, at), at, "level")


def strict_logfmt_fail(rows: list[Row], at: list[int]) -> SeriesSet:
    kept = es(rows, *sel(service="web"))
    for e in kept:
        o.logfmt_parse(e, strict=True)
    return summed(o.range_agg(o.log_samples(kept), "count_over_time", M5, at), at, "level")


API, DB, WEB, NGINX = sel(service="api"), sel(service="db"), sel(service="web"), sel(service="nginx")
PROD = sel(namespace="prod")
QUIET = (T0 + 40 * MINUTE, T0 + 75 * MINUTE)
"""Around the nginx gap."""

CASES: list[MetricCase] = [
    # range aggregations over log ranges
    MetricCase(
        "count_over_time per stream, range == step, a 15m gap leaves no points",
        'count_over_time({service="nginx"}[5m])',
        lambda r, at: counts(r, at, *NGINX),
    ),
    MetricCase(
        "rate [1m] every 30s: overlapping windows, (t-1m, t] with entries on boundaries",
        'rate({service="db"}[1m])',
        lambda r, at: o.range_agg(o.log_samples(es(r, *DB)), "rate", MINUTE, at),
        end=T0 + HOUR,
        step=30 * SECOND,
    ),
    MetricCase(
        "bytes_over_time summed by level, range == step 10m",
        'sum by (level) (bytes_over_time({service="web"}[10m]))',
        lambda r, at: summed(
            o.range_agg(o.log_samples(es(r, *WEB), o.line_bytes), "bytes_over_time", M10, at), at, "level"
        ),
        step=M10,
    ),
    MetricCase(
        "bytes_rate [2m] every 5m: range shorter than step",
        'bytes_rate({service="packed"}[2m])',
        lambda r, at: o.range_agg(
            o.log_samples(es(r, *sel(service="packed")), o.line_bytes), "bytes_rate", 2 * MINUTE, at
        ),
    ),
    MetricCase(
        "absent_over_time: 1 where nginx is silent, labels from the equality matchers",
        'absent_over_time({service="nginx", pod="nginx-abc"}[1m])',
        lambda r, at: absent(r, at, {"service": "nginx", "pod": "nginx-abc"}, *sel(service="nginx", pod="nginx-abc")),
        start=QUIET[0],
        end=QUIET[1],
        step=MINUTE,
    ),
    MetricCase(
        "absent_over_time after a parser",
        'absent_over_time({service="nginx"} | logfmt | __error__="" [1m])',
        lambda r, at: absent(r, at, {"service": "nginx"}, *NGINX),
        start=QUIET[0],
        end=QUIET[1],
        step=MINUTE,
    ),
    MetricCase(
        "absent_over_time: a regex matcher contributes no label",
        'absent_over_time({service="nginx", pod=~"nginx.*"}[1m])',
        lambda r, at: absent(r, at, {"service": "nginx"}, ("service", "=", "nginx"), ("pod", "=~", "nginx.*")),
        start=QUIET[0],
        end=QUIET[1],
        step=MINUTE,
    ),
    MetricCase(
        "count_over_time with structured metadata: one series per trace_id/span_id",
        'count_over_time({service="worker", pod="worker-a"}[3m])',
        lambda r, at: counts(r, at, *sel(service="worker", pod="worker-a"), range_ns=3 * MINUTE),
        end=T0 + HOUR,
        instant=True,
    ),
    MetricCase(
        "offset 10m shifts every window back",
        'count_over_time({service="db"}[5m] offset 10m)',
        lambda r, at: o.range_agg(o.log_samples(es(r, *DB)), "count_over_time", M5, at, offset=M10),
    ),
    MetricCase(
        "unaligned start and a step that does not divide the range",
        'sum(count_over_time({service="web"}[3m]))',
        lambda r, at: summed(counts(r, at, *WEB, range_ns=3 * MINUTE), at),
        start=T0 + 17 * SECOND,
        step=7 * MINUTE,
    ),
    MetricCase(
        "bytes_over_time counts the bytes of the line after line_format",
        'sum(bytes_over_time({service="api", stream="stdout"} | json | __error__="" | line_format "{{.msg}}" [5m]))',
        msg_bytes,
    ),
    MetricCase(
        "count_over_time after regexp and a label filter",
        'sum by (pod) (count_over_time({service="db"} | regexp `\\[(?P<pid>\\d+)\\] (?P<severity>[A-Z]+):\\s+'
        '(?P<rest>.*)` | severity="ERROR" [10m]))',
        db_errors,
        step=M10,
    ),
    # vector aggregations over log ranges
    MetricCase(
        "sum by (level) of count_over_time",
        'sum by (level) (count_over_time({service="api"}[5m]))',
        lambda r, at: summed(counts(r, at, *API), at, "level"),
    ),
    MetricCase(
        'sum(rate(... |= "error" [5m])) over two services',
        'sum(rate({namespace="prod"} |= "error" [5m]))',
        lambda r, at: summed(
            o.range_agg(o.log_samples([e for e in es(r, *PROD) if "error" in e.line]), "rate", M5, at), at
        ),
    ),
    MetricCase(
        "sum by (status) over pattern-parsed nginx lines",
        'sum by (status) (count_over_time({service="nginx"} | pattern `<ip> - - [<_>] "<method> <path> <_>" '
        "<status> <size> <_>` [10m]))",
        nginx_status,
        step=M10,
    ),
    MetricCase(
        "sum without (trace_id, span_id) keeps the stream labels",
        'sum without (trace_id, span_id) (count_over_time({service="worker"}[10m]))',
        lambda r, at: o.vector_agg(
            counts(r, at, *sel(service="worker"), range_ns=M10), at, "sum", without=("trace_id", "span_id")
        ),
        step=M10,
    ),
    MetricCase(
        "avg by (level)",
        'avg by (level) (sum by (pod, level) (count_over_time({service="api"}[10m])))',
        lambda r, at: o.vector_agg(pod_level_counts(r, at), at, "avg", by=("level",)),
        step=M10,
    ),
    MetricCase(
        "min by (level)",
        'min by (level) (sum by (pod, level) (count_over_time({service="api"}[10m])))',
        lambda r, at: o.vector_agg(pod_level_counts(r, at), at, "min", by=("level",)),
        step=M10,
    ),
    MetricCase(
        "max without (pod)",
        'max without (pod) (sum by (pod, level) (count_over_time({service="api"}[10m])))',
        lambda r, at: o.vector_agg(pod_level_counts(r, at), at, "max", without=("pod",)),
        step=M10,
    ),
    MetricCase(
        "count by (level)",
        'count by (level) (sum by (pod, level) (count_over_time({service="api"}[10m])))',
        lambda r, at: o.vector_agg(pod_level_counts(r, at), at, "count", by=("level",)),
        step=M10,
    ),
    MetricCase(
        "stddev by (pod)",
        'stddev by (pod) (sum by (pod, level) (count_over_time({service="api"}[10m])))',
        lambda r, at: o.vector_agg(pod_level_counts(r, at), at, "stddev", by=("pod",)),
        step=M10,
    ),
    MetricCase(
        "topk(2) over byte sums, range query: each step keeps its own top series",
        'topk(2, sum by (pod, level) (bytes_over_time({service="api"}[10m])))',
        lambda r, at: o.topk(pod_level_bytes(r, at), at, 2),
        step=M10,
    ),
    MetricCase(
        "bottomk(1) over services",
        'bottomk(1, sum by (service) (bytes_over_time({namespace="prod"}[10m])))',
        lambda r, at: o.topk(
            summed(o.range_agg(o.log_samples(es(r, *PROD), o.line_bytes), "bytes_over_time", M10, at), at, "service"),
            at,
            1,
            bottom=True,
        ),
        step=M10,
    ),
    MetricCase(
        "topk by (level) (1, ...)",
        'topk by (level) (1, sum by (pod, level) (bytes_over_time({service="api"}[10m])))',
        lambda r, at: o.topk(pod_level_bytes(r, at), at, 1, by=("level",)),
        step=M10,
    ),
    MetricCase(
        "sort (instant): ascending by value",
        'sort(sum by (service) (count_over_time({namespace=~".+"}[1h])))',
        lambda r, at: summed(counts(r, at, ("namespace", "=~", ".+"), range_ns=HOUR), at, "service"),
        end=T0 + HOUR,
        instant=True,
        ordered="asc",
    ),
    MetricCase(
        "sort_desc (instant): descending by value",
        'sort_desc(sum by (service) (count_over_time({namespace=~".+"}[1h])))',
        lambda r, at: summed(counts(r, at, ("namespace", "=~", ".+"), range_ns=HOUR), at, "service"),
        end=T0 + HOUR,
        instant=True,
        ordered="desc",
    ),
    MetricCase(
        "instant sum by (service) over 1h",
        'sum by (service) (count_over_time({namespace="prod"}[1h]))',
        lambda r, at: summed(counts(r, at, *PROD, range_ns=HOUR), at, "service"),
        end=T0 + 90 * MINUTE,
        instant=True,
    ),
    # unwrapped ranges
    MetricCase(
        "grouping on sum_over_time is a parse error (Loki allows it for avg/min/max/stddev/stdvar/quantile/first/last)",
        'sum_over_time({service="api", stream="stdout"} | json | unwrap bytes [5m]) by (pod)',
        None,
        error=ParseError,
    ),
    MetricCase(
        "sum by (pod) (sum_over_time(... | unwrap bytes)) skips lines without the label",
        'sum by (pod) (sum_over_time({service="api"} | json | unwrap bytes [5m]))',
        lambda r, at: summed(o.range_agg(o.unwrap(_json_all(r, API), "bytes"), "sum_over_time", M5, at), at, "pod"),
    ),
    MetricCase(
        "avg_over_time | unwrap duration_ms by (pod)",
        'avg_over_time({service="api", stream="stdout"} | json | unwrap duration_ms [10m]) by (pod)',
        lambda r, at: api_unwrap(r, at, "avg_over_time", "duration_ms", by=("pod",)),
        step=M10,
    ),
    MetricCase(
        "max_over_time | unwrap duration(latency) by (method)",
        'max_over_time({service="api", stream="stdout"} | json | unwrap duration(latency) [10m]) by (method)',
        lambda r, at: api_unwrap(r, at, "max_over_time", "latency", "duration", by=("method",)),
        step=M10,
    ),
    MetricCase(
        "min_over_time | unwrap bytes(size) by (method)",
        'min_over_time({service="api", stream="stdout"} | json | unwrap bytes(size) [10m]) by (method)',
        lambda r, at: api_unwrap(r, at, "min_over_time", "size", "bytes", by=("method",)),
        step=M10,
    ),
    MetricCase(
        "first_over_time | unwrap bytes by (pod)",
        'first_over_time({service="api", stream="stdout"} | json | unwrap bytes [10m]) by (pod)',
        lambda r, at: api_unwrap(r, at, "first_over_time", "bytes", by=("pod",)),
        step=M10,
    ),
    MetricCase(
        "last_over_time | unwrap bytes by (pod)",
        'last_over_time({service="api", stream="stdout"} | json | unwrap bytes [10m]) by (pod)',
        lambda r, at: api_unwrap(r, at, "last_over_time", "bytes", by=("pod",)),
        step=M10,
    ),
    MetricCase(
        "stddev_over_time | unwrap duration_ms by (method)",
        'stddev_over_time({service="api", stream="stdout"} | json | unwrap duration_ms [10m]) by (method)',
        lambda r, at: api_unwrap(r, at, "stddev_over_time", "duration_ms", by=("method",)),
        step=M10,
    ),
    MetricCase(
        "stdvar_over_time | unwrap duration_ms by (method)",
        'stdvar_over_time({service="api", stream="stdout"} | json | unwrap duration_ms [10m]) by (method)',
        lambda r, at: api_unwrap(r, at, "stdvar_over_time", "duration_ms", by=("method",)),
        step=M10,
    ),
    MetricCase(
        "quantile_over_time(0.95) | unwrap duration_ms by (service)",
        'quantile_over_time(0.95, {service="api", stream="stdout"} | json | unwrap duration_ms [10m]) by (service)',
        lambda r, at: api_unwrap(r, at, "quantile_over_time", "duration_ms", by=("service",), param=0.95),
        step=M10,
    ),
    MetricCase(
        "quantile_over_time(0.5) without grouping drops only the unwrapped label",
        'quantile_over_time(0.5, {service="api", stream="stdout", pod="api-7f9c-1"} | json | keep pod, method, '
        "duration_ms | unwrap duration_ms [10m])",
        lambda r, at: o.range_agg(o.unwrap(_kept_api_pod1(r), "duration_ms"), "quantile_over_time", M10, at, param=0.5),
        step=M10,
    ),
    MetricCase(
        'rate of an unwrapped label, post-filter | __error__="" drops conversion failures',
        'sum by (pod) (rate({service="worker"} | json | __error__="" | unwrap items | __error__="" [5m]))',
        lambda r, at: worker_items(r, at, post=True),
    ),
    MetricCase(
        "avg_over_time | unwrap duration(duration) after logfmt, summed by a parsed label",
        'sum by (level_extracted) (avg_over_time({service="web"} | logfmt | unwrap duration(duration) '
        '| __error__="" [10m]))',
        web_duration,
        step=M10,
    ),
    # errors in metric queries
    MetricCase(
        "a conversion failure without a post-filter fails the query (SampleExtractionErr)",
        'sum(rate({service="worker"} | json | __error__="" | unwrap items [5m]))',
        lambda r, at: worker_items(r, at, post=False),
        error=PipelineError,
    ),
    MetricCase(
        "a typed filter on a stream label before any parser fails a metric query (LabelFilterErr)",
        'sum(count_over_time({service="api"} | level > 1 [5m]))',
        lambda r, at: summed(counts(r, at, *sel(service="api"), keep=lambda e: o.num(e, "level", ">", 1)), at),
        error=PipelineError,
    ),
    MetricCase(
        'a typed filter on a stream label before any parser, then __error__="": nothing is left',
        'sum(count_over_time({service="api"} | level > 1 | __error__="" [5m]))',
        lambda r, at: summed(counts(r, at, *sel(service="api"), keep=level_filtered_ok), at),
        empty=True,
    ),
    MetricCase(
        "json errors in a metric query fail it (JSONParserErr)",
        'sum by (level) (count_over_time({service="api"} | json [5m]))',
        json_errors_fail,
        error=PipelineError,
    ),
    MetricCase(
        "logfmt --strict errors in a metric query fail it",
        'sum by (level) (count_over_time({service="web"} | logfmt --strict [5m]))',
        strict_logfmt_fail,
        error=PipelineError,
    ),
    MetricCase(
        "only samples inside a step's window can fail the query: [1s] every 30m misses every JSON error",
        'sum(count_over_time({service="api", pod="api-7f9c-1"} | json [1s]))',
        lambda r, at: summed(
            o.range_agg(
                o.log_samples(_json_all(r, sel(service="api", pod="api-7f9c-1"))), "count_over_time", SECOND, at
            ),
            at,
        ),
        start=T0 + 30 * MINUTE,
        step=30 * MINUTE,
        empty=True,
    ),
    # binary operations
    MetricCase(
        "arithmetic: error ratio in percent",
        'sum(count_over_time({service="api", level="error"}[5m])) / sum(count_over_time({service="api"}[5m])) * 100',
        lambda r, at: o.scalar_op(
            o.vector_op(
                summed(counts(r, at, *sel(service="api", level="error")), at), summed(counts(r, at, *API), at), at, "/"
            ),
            at,
            "*",
            100,
        ),
    ),
    MetricCase(
        "division by zero is NaN in LogQL",
        'sum(count_over_time({service="api"}[5m])) / 0',
        lambda r, at: o.scalar_op(summed(counts(r, at, *API), at), at, "/", 0),
    ),
    MetricCase(
        "comparison filters and keeps the value",
        'sum by (pod) (count_over_time({service="api"}[5m])) > 40',
        lambda r, at: o.scalar_op(summed(counts(r, at, *API), at, "pod"), at, ">", 40),
    ),
    MetricCase(
        "comparison with bool gives 0/1",
        'sum by (pod) (count_over_time({service="api"}[5m])) > bool 40',
        lambda r, at: o.scalar_op(summed(counts(r, at, *API), at, "pod"), at, ">", 40, bool_=True),
    ),
    MetricCase(
        "scalar on the left of a comparison keeps the vector's value",
        '40 < sum by (pod) (count_over_time({service="api"}[5m]))',
        lambda r, at: o.scalar_op(summed(counts(r, at, *API), at, "pod"), at, "<", 40, scalar_left=True),
    ),
    MetricCase(
        "and: levels present in both services",
        'sum by (level) (count_over_time({service="api"}[5m])) and '
        'sum by (level) (count_over_time({service="db"}[5m]))',
        lambda r, at: o.vector_op(
            summed(counts(r, at, *API), at, "level"), summed(counts(r, at, *DB), at, "level"), at, "and"
        ),
    ),
    MetricCase(
        "or: left series, plus right series whose labels the left lacks",
        'sum by (level) (count_over_time({service="db"}[5m])) or sum by (level) (count_over_time({service="web"}[5m]))',
        lambda r, at: o.vector_op(
            summed(counts(r, at, *DB), at, "level"), summed(counts(r, at, *WEB), at, "level"), at, "or"
        ),
    ),
    MetricCase(
        "unless: left series without a match on the right",
        'sum by (level) (count_over_time({service="api"}[5m])) unless '
        'sum by (level) (count_over_time({service="web"}[5m]))',
        lambda r, at: o.vector_op(
            summed(counts(r, at, *API), at, "level"), summed(counts(r, at, *WEB), at, "level"), at, "unless"
        ),
    ),
    MetricCase(
        "on (level): one-to-one, result keeps only the matching labels",
        'sum by (level) (count_over_time({service="api"}[10m])) - on (level) '
        'sum by (level, service) (count_over_time({service="web"}[10m]))',
        lambda r, at: o.vector_op(
            summed(counts(r, at, *API, range_ns=M10), at, "level"),
            summed(counts(r, at, *WEB, range_ns=M10), at, "level", "service"),
            at,
            "-",
            on=("level",),
        ),
        step=M10,
    ),
    MetricCase(
        "ignoring (service): one-to-one, result drops the ignored labels",
        'sum by (level, service) (count_over_time({service="api"}[10m])) / ignoring (service) '
        'sum by (level, service) (count_over_time({service="web"}[10m]))',
        lambda r, at: o.vector_op(
            summed(counts(r, at, *API, range_ns=M10), at, "level", "service"),
            summed(counts(r, at, *WEB, range_ns=M10), at, "level", "service"),
            at,
            "/",
            ignoring=("service",),
        ),
        step=M10,
    ),
    MetricCase(
        "on (level) group_left: many-to-one share per pod",
        'sum by (pod, level) (count_over_time({service="api"}[10m])) / on (level) group_left '
        'sum by (level) (count_over_time({service="api"}[10m]))',
        lambda r, at: o.vector_op(
            pod_level_counts(r, at),
            summed(counts(r, at, *API, range_ns=M10), at, "level"),
            at,
            "/",
            on=("level",),
            group_left=(),
        ),
        step=M10,
    ),
    # more corner cases
    MetricCase(
        "topk(0, ...) is a parse error, as in Loki (k must be greater than 0)",
        'topk(0, sum by (pod) (count_over_time({service="api"}[10m])))',
        None,
        error=ParseError,
    ),
    MetricCase(
        "% with a scalar",
        'sum by (pod) (count_over_time({service="api"}[5m])) % 7',
        lambda r, at: o.scalar_op(summed(counts(r, at, *API), at, "pod"), at, "%", 7),
    ),
    MetricCase(
        "^ with a scalar",
        'sum by (pod) (count_over_time({service="api"}[5m])) ^ 2',
        lambda r, at: o.scalar_op(summed(counts(r, at, *API), at, "pod"), at, "^", 2),
    ),
    MetricCase(
        "vector == bool vector",
        'sum by (level) (count_over_time({service="api"}[5m])) == bool '
        'sum by (level) (count_over_time({service="web"}[5m]))',
        lambda r, at: o.vector_op(
            summed(counts(r, at, *API), at, "level"), summed(counts(r, at, *WEB), at, "level"), at, "==", bool_=True
        ),
    ),
    MetricCase(
        "vector > vector filters and keeps the left value, matched on (level)",
        'sum by (level) (count_over_time({service="api"}[5m])) > on (level) '
        'sum by (level, service) (count_over_time({service="web"}[5m]))',
        lambda r, at: o.vector_op(
            summed(counts(r, at, *API), at, "level"),
            summed(counts(r, at, *WEB), at, "level", "service"),
            at,
            ">",
            on=("level",),
        ),
    ),
    MetricCase(
        "on (level) group_right: the many side is on the right",
        'sum by (level) (count_over_time({service="api"}[10m])) / on (level) group_right '
        'sum by (pod, level) (count_over_time({service="api"}[10m]))',
        lambda r, at: o.vector_op(
            summed(counts(r, at, *API, range_ns=M10), at, "level"),
            pod_level_counts(r, at),
            at,
            "/",
            on=("level",),
            group_right=(),
        ),
        step=M10,
    ),
    MetricCase(
        "label_replace with an empty replacement deletes the label; non-matching series are unchanged",
        'label_replace(sum by (pod) (count_over_time({service="api"}[5m])), "pod", "", "pod", "api-7f9c-1")',
        lambda r, at: o.label_replace(summed(counts(r, at, *API), at, "pod"), "pod", "", "pod", "api-7f9c-1"),
    ),
    MetricCase(
        "sum by a label no series has: one group without labels",
        'sum by (nonexistent) (count_over_time({service="db"}[5m]))',
        lambda r, at: summed(counts(r, at, *DB), at, "nonexistent"),
    ),
    MetricCase(
        "absent_over_time of a stream that never goes silent is empty",
        'absent_over_time({service="db"}[10m])',
        lambda r, at: absent(r, at, {"service": "db"}, *DB, range_ns=M10),
        start=T0 + M10,
        step=M10,
        empty=True,
    ),
    MetricCase(
        "instant query with offset",
        'sum(count_over_time({service="db"}[10m] offset 1h))',
        lambda r, at: summed(o.range_agg(o.log_samples(es(r, *DB)), "count_over_time", M10, at, offset=HOUR), at),
        end=T0 + SPAN,
        instant=True,
    ),
    MetricCase(
        "max_over_time | unwrap bytes(payload_size) with commas, spaces and lower-case units, by (queue)",
        'max_over_time({service="worker"} | json | __error__="" | unwrap bytes(payload_size) | __error__="" [10m]) '
        "by (queue)",
        lambda r, at: o.range_agg(
            o.unwrap(worker_json(r), "payload_size", "bytes", post=lambda e: not e.err, by=("queue",)),
            "max_over_time",
            M10,
            at,
        ),
        step=M10,
    ),
    MetricCase(
        "avg_over_time | unwrap duration(duration): Go durations, 1d dropped by the post-filter",
        'avg_over_time({service="worker"} | json | __error__="" | unwrap duration(duration) | __error__="" [10m]) '
        "by (queue)",
        lambda r, at: o.range_agg(
            o.unwrap(worker_json(r), "duration", "duration", post=lambda e: not e.err, by=("queue",)),
            "avg_over_time",
            M10,
            at,
        ),
        step=M10,
    ),
    MetricCase(
        "last_over_time without grouping: series by the labels kept, the unwrapped one dropped",
        'last_over_time({service="worker"} | json | __error__="" | keep pod, job, items | unwrap items '
        '| __error__="" [10m])',
        lambda r, at: o.range_agg(
            o.unwrap(worker_json(r, "pod", "job", "items"), "items", post=lambda e: not e.err),
            "last_over_time",
            M10,
            at,
        ),
        step=M10,
    ),
    MetricCase(
        "count in sub-buckets: range 2m, step 90s, every window edge on a half minute",
        'sum by (level) (count_over_time({service="db"}[2m]))',
        lambda r, at: summed(counts(r, at, *DB, range_ns=2 * MINUTE), at, "level"),
        end=T0 + HOUR,
        step=90 * SECOND,
    ),
    MetricCase(
        "count with offset, unaligned start and a step that is not a multiple of the range",
        'count_over_time({service="nginx"}[5m] offset 3m)',
        lambda r, at: o.range_agg(o.log_samples(es(r, *NGINX)), "count_over_time", M5, at, offset=3 * MINUTE),
        start=T0 + 17 * SECOND,
        step=7 * MINUTE,
    ),
    MetricCase(
        "bytes_over_time counts UTF-8 bytes, not characters",
        'sum by (pod) (bytes_over_time({service="worker"}[10m]))',
        lambda r, at: summed(
            o.range_agg(o.log_samples(es(r, *sel(service="worker")), o.line_bytes), "bytes_over_time", M10, at),
            at,
            "pod",
        ),
        step=M10,
    ),
    MetricCase(
        "absent_over_time of an unwrapped range: lines without the label are no samples",
        'absent_over_time({service="api", stream="stderr"} | json | unwrap bytes [5m])',
        lambda r, at: o.absent_over_time(
            o.unwrap(_json_all(r, sel(service="api", stream="stderr")), "bytes"),
            M5,
            at,
            {"service": "api", "stream": "stderr"},
        ),
    ),
    MetricCase(
        "quantile_over_time(2, ...) is +Inf",
        'quantile_over_time(2, {service="api", stream="stdout"} | json | unwrap duration_ms [10m]) by (pod)',
        lambda r, at: api_unwrap(r, at, "quantile_over_time", "duration_ms", by=("pod",), param=2),
        step=M10,
    ),
    MetricCase(
        "label_replace with two capture groups and ${1}",
        'label_replace(sum by (pod) (count_over_time({service="api"}[10m])), "id", "${1}:$2", "pod", "api-(.*)-(.*)")',
        lambda r, at: o.label_replace(
            summed(counts(r, at, *API, range_ns=M10), at, "pod"), "id", "${1}:$2", "pod", "api-(.*)-(.*)"
        ),
        step=M10,
    ),
    MetricCase(
        "unless on (level)",
        'sum by (level, service) (count_over_time({service="api"}[5m])) unless on (level) '
        'sum by (level, service) (count_over_time({service="db"}[5m]))',
        lambda r, at: o.vector_op(
            summed(counts(r, at, *API), at, "level", "service"),
            summed(counts(r, at, *DB), at, "level", "service"),
            at,
            "unless",
            on=("level",),
        ),
    ),
    MetricCase(
        "bottomk by (level) (1, ...)",
        'bottomk by (level) (1, sum by (pod, level) (bytes_over_time({service="api"}[10m])))',
        lambda r, at: o.topk(pod_level_bytes(r, at), at, 1, bottom=True, by=("level",)),
        step=M10,
    ),
    MetricCase(
        "stdvar by (level)",
        'stdvar by (level) (sum by (pod, level) (count_over_time({service="api"}[10m])))',
        lambda r, at: o.vector_agg(pod_level_counts(r, at), at, "stdvar", by=("level",)),
        step=M10,
    ),
    MetricCase(
        "vector(1) + vector(2)",
        "vector(1) + vector(2)",
        lambda r, at: o.vector_op(o.vector_literal(1, at), o.vector_literal(2, at), at, "+"),
    ),
    # literals, vector(), label_replace
    MetricCase("vector(1) over a range: one label-less series", "vector(1)", lambda r, at: o.vector_literal(1, at)),
    MetricCase(
        "or vector(0) fills the steps where the left side is empty",
        'sum(count_over_time({service="nginx"}[5m])) or vector(0)',
        lambda r, at: o.vector_op(summed(counts(r, at, *NGINX), at), o.vector_literal(0, at), at, "or"),
        start=QUIET[0],
        end=QUIET[1],
        step=MINUTE,
    ),
    MetricCase(
        "label_replace with a capture group",
        'label_replace(sum by (pod) (rate({service="api"}[5m])), "short", "$1", "pod", "api-(.*)")',
        lambda r, at: o.label_replace(
            summed(o.range_agg(o.log_samples(es(r, *API)), "rate", M5, at), at, "pod"), "short", "$1", "pod", "api-(.*)"
        ),
    ),
]


def worker_json(rows: list[Row], *keep: str) -> list[Entry]:
    out = [e for e in es(rows, *sel(service="worker")) if json_ok(e)]
    if keep:
        for e in out:
            o.keep(e, *keep)
    return out


def _json_all(rows: list[Row], ms: tuple[tuple[str, str, str], ...]) -> list[Entry]:
    out = es(rows, *ms)
    for e in out:
        o.json_parse(e)
    return out


def _kept_api_pod1(rows: list[Row]) -> list[Entry]:
    out = es(rows, *sel(service="api", stream="stdout", pod="api-7f9c-1"))
    for e in out:
        o.json_parse(e)
        o.keep(e, "pod", "method", "duration_ms")
    return out


def _at(case: MetricCase) -> list[int]:
    return [case.end] if case.instant else o.steps(case.start, case.end, case.step)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
     for c in CASES],
)  # fmt: skip
def test_metric_query(engine, corpus: Corpus, case: MetricCase) -> None:
    rows = corpus.by_tenant[TENANT]
    at = _at(case)
    if case.error is not None:
        if case.oracle is not None:
            with pytest.raises(o.PipelineErrorExpected):
                case.oracle(rows, at)
        with pytest.raises(case.error):
            _run(engine, case)
        return
    assert case.oracle is not None
    want = case.oracle(rows, at)
    assert bool(want) != case.empty, "the oracle's answer is not what the case is about"
    result = _run(engine, case)
    if not case.instant:
        assert_series(matrix_series(result.data), want)
        return
    got = vector_samples(result.data, case.end)
    assert_series({k: {case.end: v} for k, v in got}, want)
    assert len(got) == len(want)
    if case.ordered:
        values = [v for _, v in got]
        assert values == sorted(values, reverse=case.ordered == "desc"), f"not sorted {case.ordered}: {values}"


def _run(engine, case: MetricCase):
    if case.instant:
        return engine.query_instant(case.query, tenant=TENANT, time_ns=case.end)
    return engine.query_range(case.query, tenant=TENANT, start_ns=case.start, end_ns=case.end, step_ns=case.step)


def test_instant_literal_arithmetic_is_a_scalar(engine) -> None:
    result = engine.query_instant("1 + 2 * 3", tenant=TENANT, time_ns=T0)
    assert isinstance(result.data, Scalar)
    assert result.data.value == 7 and result.data.ts == T0


def test_loki_default_limits(engine, corpus: Corpus) -> None:
    """max_query_series 500 (one series per span id here), max_entries_limit_per_query 5000, max_query_length 721h."""
    at = o.steps(T0, T0 + SPAN, HOUR)
    assert len(counts(corpus.by_tenant[TENANT], at, *API, range_ns=HOUR)) > 500
    with pytest.raises(LimitError):
        engine.query_range('count_over_time({service="api"}[1h])', tenant=TENANT, start_ns=T0, end_ns=T0 + SPAN,
                           step_ns=HOUR)  # fmt: skip
    with pytest.raises(LimitError):
        engine.query_range('{service="api"}', tenant=TENANT, start_ns=T0, end_ns=T0 + SPAN, step_ns=0, limit=5001)
    with pytest.raises(LimitError):
        engine.query_range('{service="api"}', tenant=TENANT, start_ns=T0, end_ns=T0 + 722 * HOUR, step_ns=0)


def test_power_is_right_associative(engine) -> None:
    result = engine.query_instant("2 ^ 3 ^ 2", tenant=TENANT, time_ns=T0)
    assert isinstance(result.data, Scalar) and result.data.value == 512


def test_instant_vector_literal(engine) -> None:
    got = vector_samples(engine.query_instant("vector(2.5)", tenant=TENANT, time_ns=T0).data, T0)
    assert got == [((), 2.5)]


def test_same_value_treats_nan_as_equal() -> None:
    assert same_value(math.nan, math.nan) and not same_value(math.nan, 0.0) and same_value(1.0, 1.0 + 1e-12)
