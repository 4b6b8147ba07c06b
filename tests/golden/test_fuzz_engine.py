"""Engine-level fuzzing: hostile LogQL and label values never crash the engine or cross tenants.

Hypothesis builds queries from LogQL's grammar with values full of quotes, backslashes, SQL
fragments, template syntax, broken regexes and unicode (plus free-form garbage). Every query must
either succeed or raise a LogQLError. Tenant isolation is checked exactly: the same query runs
against the shared two-tenant store and against a store holding only the first tenant's rows, and
the answers must be identical — any row of the other tenant that leaked into the result (or into
an aggregate) would make them differ. Log entries are also checked to carry first-tenant timestamps
(unique per row across the corpus), and the store must still hold every row afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observ.logql.errors import LogQLError
from observ.logql.results import Matrix, Scalar, Streams, Vector
from observ.store.logstore import LogStore
from tests.golden.conftest import flatten_streams, matrix_series, same_value
from tests.golden.corpus import HOUR, MINUTE, SPAN, T0, TENANT, Corpus

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FUZZ_MORE = settings(FUZZ, max_examples=100)

NASTY = [
    "'; DROP TABLE logs; --", '" OR 1=1 --', "') OR ('1'='1", "\\", "\\\\", '"', "'", "`", "%", "_", "%_%",
    "{{.service}}", "{{", "}}", "{{ .x | ToUpper }}", "$1", "${1}", "(?i)", ".*", ".+", "[", "(", "a{2,1}", "\\d+",
    "(?P<x>", "(?P<1x>a)", "\n", "\t", "\x00", "\x7f", "é", "处理完成 ✓", "🙂", "GLOBEX", "acme", "globex", "",
    "api", "web", "prod", "info", "error", "eu-1", "ap-9", "billing", "200", "1.5", "-1", "NaN", "Inf", "1e309",
    "250ms", "1m30s", "12KB", "1.5MiB", "<_>", "<ip> <_>", "<_> <_>", "=", "==", "|=", "{", "}", "[5m]",
]  # fmt: skip
LABELS = ["service", "namespace", "pod", "container", "stream", "level", "cluster", "team", "queue", "trace_id",
          "span_id", "status", "method", "__error__", "__error_details__", "__name__", "x", "a_b", "_1"]  # fmt: skip
DURATIONS = ["1s", "30s", "1m", "5m", "1h", "2h", "0s", "1ms", "1d", "1w", "1y", "-5m", "5", "1.5m", "1h30m", "1e3s"]
RANGE_OPS = ["count_over_time", "rate", "bytes_over_time", "bytes_rate", "absent_over_time", "rate_counter",
             "sum_over_time", "avg_over_time", "min_over_time", "max_over_time", "first_over_time",
             "last_over_time", "stddev_over_time", "stdvar_over_time", "quantile_over_time"]  # fmt: skip
VECTOR_OPS = ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "sort", "sort_desc"]
BIN_OPS = ["+", "-", "*", "/", "%", "^", "==", "!=", ">", ">=", "<", "<=", "> bool", "and", "or", "unless"]


def go_quote(s: str) -> str:
    """A Go double-quoted string literal, as LogQL parses it."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


REAL = ["api", "web", "db", "worker", "nginx", "packed", "billing", "prod", "jobs", "data", "info", "error", "warn",
        "eu-1", "us-2", "ap-9", "high", "low", "batch", "core", "stdout", "stderr", "worker-a", "api-7f9c-1", "GET",
        "200", "500", ".+", ".*", "api|web", "(?i)ERROR", "job finished", "resize", "ok"]  # fmt: skip
VALID_DURATIONS = ["1m", "5m", "10m", "30s", "1h", "2h"]
PARSED = ["status", "bytes", "latency", "duration_ms", "items", "size", "duration", "payload_size", "method", "job"]
GROUPABLE = {"avg_over_time", "min_over_time", "max_over_time", "first_over_time", "last_over_time",
             "stddev_over_time", "stdvar_over_time", "quantile_over_time"}  # fmt: skip
UNWRAP_ONLY = GROUPABLE | {"sum_over_time", "rate_counter"}

values = st.one_of(st.sampled_from(REAL), st.sampled_from(REAL), st.sampled_from(NASTY), st.text(max_size=12))


def sometimes(draw: st.DrawFn, p: float) -> bool:
    return draw(st.integers(0, 99)) < p * 100


@st.composite
def literal(draw: st.DrawFn) -> str:
    """Mostly well-formed string literals, sometimes raw, sometimes broken."""
    v = draw(values)
    form = draw(st.integers(0, 19))
    if form <= 15:
        return go_quote(v)
    if form <= 18 and "`" not in v:
        return f"`{v}`"
    return '"' + v  # unterminated


@st.composite
def selector(draw: st.DrawFn) -> str:
    parts = [f"{draw(st.sampled_from(LABELS))}{draw(st.sampled_from(['=', '!=', '=~', '!~']))}{draw(literal())}"
             for _ in range(draw(st.integers(0, 2)))]  # fmt: skip
    if sometimes(draw, 0.85):
        parts.insert(
            0, f"service={go_quote(draw(st.sampled_from(['api', 'web', 'db', 'worker', 'nginx', 'billing'])))}"
        )
    return "{" + ", ".join(parts) + "}"


@st.composite
def stage(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 13))
    name = draw(st.sampled_from(LABELS + PARSED))
    match kind:
        case 0 | 1:
            return f"{draw(st.sampled_from(['|=', '!=', '|~', '!~', '|>', '!>']))} {draw(literal())}"
        case 2:
            return "| json" + draw(
                st.sampled_from(["", "", f" {name}={go_quote('user.name')}", " a=" + draw(literal())])
            )
        case 3:
            return "| logfmt" + draw(st.sampled_from(["", "", " --strict", " --keep-empty", " --strict --keep-empty"]))
        case 4:
            return "| regexp " + draw(st.sampled_from([go_quote(r"(?P<first>\S+) (?P<second>.*)"), draw(literal())]))
        case 5:
            return f"| pattern {draw(st.sampled_from([go_quote('<first> <_>'), draw(literal())]))}"
        case 6:
            return draw(st.sampled_from(["| unpack", "| decolorize", '| __error__=""', '| __error__!=""']))
        case 7:
            return f"| {name}{draw(st.sampled_from(['=', '!=', '=~', '!~']))}{draw(literal())}"
        case 8:
            op = draw(st.sampled_from(["==", "!=", ">", ">=", "<", "<="]))
            rhs = draw(st.sampled_from(["200", "1.5", "-3", "250ms", "1m30s", "12KB", "1.5MiB", "1e3", "abc"]))
            tail = draw(st.sampled_from(["", f" or {name} > 1", f" and {name} != 2", f", {name}=~{go_quote('.+')}"]))
            return f"| {name} {op} {rhs}{tail}"
        case 9:
            return (
                f"| line_format {draw(st.sampled_from([go_quote('{{.' + name + '}} {{__line__}}'), draw(literal())]))}"
            )
        case 10:
            dst = draw(st.sampled_from(["dst", name]))
            src = draw(st.sampled_from([name, go_quote("{{." + name + "}}-x"), draw(literal())]))
            return f"| label_format {dst}={src}"
        case 11:
            return f"| {draw(st.sampled_from(['drop', 'keep']))} {name}" + draw(
                st.sampled_from(["", f", {name}={draw(literal())}"])
            )
        case 12:
            return f"| {draw(st.text(max_size=8))}"
    return "|"


@st.composite
def log_query(draw: st.DrawFn) -> str:
    return " ".join([draw(selector()), *draw(st.lists(stage(), max_size=4))])


@st.composite
def metric_query(draw: st.DrawFn) -> str:
    """Mostly valid metric queries (so they reach the evaluator), with a share of hostile parts."""
    op = draw(st.sampled_from(RANGE_OPS))
    unwrap = ""
    wants = 0.95 if op in UNWRAP_ONLY else (0.5 if op in ("rate", "absent_over_time") else 0.05)
    if sometimes(draw, wants):
        conv = draw(st.sampled_from(["", "", "duration", "duration_seconds", "bytes"]))
        label = draw(st.sampled_from(PARSED + LABELS))
        unwrap = f" | unwrap {conv}({label})" if conv else f" | unwrap {label}"
        if sometimes(draw, 0.7):
            unwrap += ' | __error__=""'
    durations = VALID_DURATIONS if sometimes(draw, 0.9) else DURATIONS
    offset = f" offset {draw(st.sampled_from(durations))}" if sometimes(draw, 0.2) else ""
    parser = draw(st.sampled_from(["", " | json", " | logfmt", ' | json | __error__=""'])) if unwrap else ""
    inner = f"{draw(log_query())}{parser}{unwrap} [{draw(st.sampled_from(durations))}]{offset}"
    param = draw(st.sampled_from(["0.5, ", "0.99, ", "2, ", "-1, ", ""])) if op == "quantile_over_time" else ""
    expr = f"{op}({param}{inner})"
    if op in GROUPABLE and sometimes(draw, 0.5):
        expr += f" by ({draw(st.sampled_from(LABELS + PARSED))})"
    for _ in range(draw(st.integers(0, 2))):
        wrap = draw(st.integers(0, 4))
        grouping = draw(st.sampled_from(["", " by (level)", " without (pod)", " by ()", " by (pod, level)",
                                         f" by ({draw(values)})"]))  # fmt: skip
        if wrap == 0:
            vop = draw(st.sampled_from(VECTOR_OPS))
            k = draw(st.sampled_from(["1, ", "2, ", "0, ", "1e9, "])) if vop in ("topk", "bottomk") else ""
            expr = f"{vop}{grouping}({k}{expr})"
        elif wrap == 1:
            expr = f"{expr} {draw(st.sampled_from(BIN_OPS))} {draw(st.sampled_from(['0', '1', '-2.5', expr]))}"
        elif wrap == 2:
            choices = [go_quote(x) for x in ("dst", "pod", "$1", "(.*)-(.*)", "")]
            args = [draw(st.sampled_from([*choices, draw(literal())])) for _ in range(4)]
            expr = f"label_replace({expr}, {', '.join(args)})"
        elif wrap == 3:
            expr = f"{expr} or vector({draw(st.sampled_from(['0', '1', '-1', 'x']))})"
        else:
            expr = f"({expr})"
    return expr


@pytest.fixture(scope="module")
def isolated(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An engine over a store that holds only the first tenant's rows: the reference for isolation."""
    from observ.logql.engine import Engine
    from observ.store.querier import LogQuerier

    s = LogStore(tmp_path_factory.mktemp("golden-isolated") / "logs.duckdb")
    s.append([b for b in corpus.batches if b.stream.tenant == TENANT])
    yield Engine(LogQuerier(s))
    s.close()


def run(engine: Any, query: str, instant: bool, limit: int) -> object:
    """The result data, or the LogQLError subclass name; anything else escapes and fails the test."""
    try:
        if instant:
            return engine.query_instant(query, tenant=TENANT, time_ns=T0 + HOUR).data
        return engine.query_range(query, tenant=TENANT, start_ns=T0, end_ns=T0 + SPAN, step_ns=10 * MINUTE,
                                  limit=limit).data  # fmt: skip
    except LogQLError as e:
        return type(e).__name__


def assert_same(shared: object, alone: object, corpus: Corpus) -> None:
    assert type(shared) is type(alone), f"{shared!r} vs {alone!r}"
    if isinstance(shared, Streams):
        assert isinstance(alone, Streams)
        got = flatten_streams(shared, backward=True)
        assert all(ts in corpus.timestamps[TENANT] for _, ts, _ in got), "an entry of another tenant"
        assert got == flatten_streams(alone, backward=True)
    elif isinstance(shared, Matrix):
        assert isinstance(alone, Matrix)
        a, b = matrix_series(shared), matrix_series(alone)
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].keys() == b[k].keys()
            assert all(same_value(a[k][t], b[k][t]) for t in a[k]), k
    elif isinstance(shared, Vector):
        assert isinstance(alone, Vector)
        a2 = sorted((tuple(sorted(s.labels.items())), s.value) for s in shared.samples)
        b2 = sorted((tuple(sorted(s.labels.items())), s.value) for s in alone.samples)
        assert [k for k, _ in a2] == [k for k, _ in b2]
        assert all(same_value(x, y) for (_, x), (_, y) in zip(a2, b2, strict=True))
    elif isinstance(shared, Scalar):
        assert isinstance(alone, Scalar) and same_value(shared.value, alone.value)
    else:
        assert shared == alone


@FUZZ_MORE
@given(query=log_query(), limit=st.sampled_from([1, 7, 100, 5000, 5001]))
def test_fuzzed_log_queries(
    engine: Any, isolated: Any, corpus: Corpus, store: LogStore, query: str, limit: int
) -> None:
    assert_same(run(engine, query, False, limit), run(isolated, query, False, limit), corpus)
    assert store.count() == len(corpus.rows)


@FUZZ_MORE
@given(query=metric_query(), instant=st.booleans())
def test_fuzzed_metric_queries(engine: Any, isolated: Any, corpus: Corpus, query: str, instant: bool) -> None:
    assert_same(run(engine, query, instant, 100), run(isolated, query, instant, 100), corpus)


@FUZZ
@given(query=st.text(max_size=60), instant=st.booleans())
def test_garbage_is_a_logql_error_or_a_result(engine: Any, query: str, instant: bool) -> None:
    run(engine, query, instant, 100)


@settings(FUZZ, max_examples=30)
@given(tenant=st.one_of(st.sampled_from(["", "acme ", "ACME", "acme' OR '1'='1", "%", "_cme", "acme\x00", "globex\\"]),
                        st.text(max_size=10)))  # fmt: skip
def test_other_tenant_strings_see_nothing(engine: Any, tenant: str) -> None:
    """Tenant ids are compared exactly: no pattern, case folding or injection reaches another tenant's rows."""
    if tenant in (TENANT, "globex"):
        return
    result = engine.query_range('{service=~".+"}', tenant=tenant, start_ns=T0, end_ns=T0 + SPAN, step_ns=0, limit=50)
    assert isinstance(result.data, Streams) and result.data.streams == []
    metric = engine.query_instant('sum(count_over_time({service=~".+"}[2h]))', tenant=tenant, time_ns=T0 + SPAN)
    assert isinstance(metric.data, Vector) and metric.data.samples == []
