"""The three correlation questions over real stores and the real LogQL engine; Prometheus is a mock transport."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from observ.correlate.config import CorrelateConfig, CorrelateLimits, RedMetrics
from observ.correlate.correlator import NO_PROMETHEUS, NO_SPANS_STORE, BadRequest, Correlator, NotFound
from observ.correlate.logs import LogReader
from observ.correlate.missing import Missing
from observ.correlate.prometheus import PrometheusClient, PrometheusConfig
from observ.logql.engine import Engine
from observ.logql.errors import LogQLError
from observ.model import DecodedBatch, Stream
from observ.store.logstore import LogStore
from observ.store.querier import LogQuerier
from observ.traces.model import Span, SpanColumns
from observ.traces.store import SpanStore
from tests.unit.correlate.helpers import FakeClock, Inline, form, success

NS = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * NS
NOW = T0 + 600 * NS
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER = "0af7651916cd43dd8448eb211c80319c"
SLOW = "000000000000000000000000000051a0"
ABC = "0" * 29 + "abc"
RED = RedMetrics()


def span(span_id: str, parent: str, service: str, start_ms: int, end_ms: int, trace: str = TRACE, **kw: object) -> Span:
    return Span(tenant="t1", trace_id=trace, span_id=span_id * 16, parent_span_id=parent * 16 if parent else "",
                service=service, name=f"{service} op", start_ns=T0 + start_ms * MS, end_ns=T0 + end_ms * MS,
                **kw)  # type: ignore[arg-type]  # fmt: skip


def lines(service: str, rows: list[tuple[int, str, str, str]], tenant: str = "t1") -> DecodedBatch:
    """(ms after T0, level, trace_id, line) rows of one stream."""
    return DecodedBatch(
        stream=Stream(tenant=tenant, service=service, pod=f"{service}-1"), source="", observed_ts=0,
        ts=[T0 + r[0] * MS for r in rows], level=[r[1] for r in rows], trace_id=[r[2] for r in rows],
        span_id=["" for _ in rows], end=[0] * len(rows), line=[r[3] for r in rows],
    )  # fmt: skip


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[LogStore, SpanStore]]:
    logs = LogStore(tmp_path / "observ.duckdb")
    spans = SpanStore(tmp_path / "spans.duckdb")
    spans.append([SpanColumns.from_spans([
        span("a", "", "web", 0, 100, kind=2),
        span("b", "a", "cart", 10, 60, kind=3, status_code=2, status_message="declined"),
        span("c", "b", "db", 20, 40),
        span("d", "", "cart", 1000, 4000, trace=SLOW),
        span("e", "", "cart", 2000, 2010, trace=OTHER, status_code=2),
    ])])  # fmt: skip
    logs.append([
        lines("web", [(5, "info", TRACE, "GET /checkout")]),
        lines("cart", [(30, "error", TRACE, '{"msg":"payment 17 declined"}'), (2005, "error", OTHER,
                       '{"msg":"payment 99 declined"}'), (2500, "error", "", "cache 1 cold")]),
        lines("db", [(25, "info", "", "select took 3ms"), (30, "info", OTHER, "other trace's query"),
                     (500, "info", "", "after the span")]),
        lines("web", [(5, "info", TRACE, "t2's own line")], tenant="t2"),
    ])  # fmt: skip
    yield logs, spans
    logs.close()
    spans.close()


Handler = Callable[[httpx.Request], httpx.Response]


def prometheus(handler: Handler, seen: list[httpx.Request] | None = None) -> PrometheusClient:
    clock = FakeClock()

    def record(request: httpx.Request) -> httpx.Response:
        (seen if seen is not None else []).append(request)
        return handler(request)

    return PrometheusClient(PrometheusConfig(url="http://prom.test"), clock=clock, sleep=clock.sleep,
                            transport=httpx.MockTransport(record))  # fmt: skip


def make(
    stores: tuple[LogStore, SpanStore],
    prom: PrometheusClient | None = None,
    spans: bool = True,
    red: RedMetrics = RED,
    **limits: object,
) -> Correlator:
    logs, span_store = stores
    config = CorrelateConfig(red=red, limits=CorrelateLimits.model_validate(limits))
    reader = LogReader(Engine(LogQuerier(logs)))
    return Correlator(reader, span_store if spans else None, prom, config, lambda: NOW, Inline())


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


# --- (a) a trace ------------------------------------------------------------------------------------------


def test_trace_spans_tree_logs_by_id_and_by_time(stores: tuple[LogStore, SpanStore]) -> None:
    got = make(stores).trace("t1", TRACE.upper())
    assert got.trace_id == TRACE and got.span_count == 3 and got.duration_ms == 100.0
    assert [(s.span_id[0], s.depth, s.service, s.kind, s.status) for s in got.spans] == [
        ("a", 0, "web", "server", "unset"), ("b", 1, "cart", "client", "error"), ("c", 2, "db", "unspecified", "unset")
    ]  # fmt: skip
    assert got.services == ["web", "cart", "db"]
    assert [(x.ts - T0, x.service, x.match, x.span_id, x.line) for x in got.logs] == [
        (5 * MS, "web", "trace_id", "", "GET /checkout"),
        (25 * MS, "db", "time", "c" * 16, "select took 3ms"),
        (30 * MS, "cart", "trace_id", "", '{"msg":"payment 17 declined"}'),
    ]
    assert got.logs[0].labels == {"service": "web", "pod": "web-1", "level": "info", "stream": "stdout"}
    assert got.metrics is None and got.missing == [Missing(part="metrics", reason=NO_PROMETHEUS)]


def test_many_separate_spans_are_read_in_one_window_without_the_gaps(stores: tuple[LogStore, SpanStore]) -> None:
    logs, spans = stores
    many = "00000000000000000000000000000bad"
    root = span("f", "", "batch", 0, 1000, trace=many)
    steps = [span("0", "f", "queue", 20 * i, 20 * i + 10, trace=many) for i in range(1, 21)]
    for i, step in enumerate(steps, 1):
        step.span_id = f"{i:016x}"
    spans.append([SpanColumns.from_spans([root, *steps])])
    logs.append([
        lines("batch", [(1, "info", many, "batch started")]),
        lines("queue", [(20 * i + 5, "info", "", f"in {i}") for i in range(1, 21)]
              + [(20 * i + 15, "info", "", f"gap {i}") for i in range(1, 21)]),
    ])  # fmt: skip
    got = make(stores).trace("t1", many)
    timed = [(x.line, x.span_id) for x in got.logs if x.match == "time"]
    assert timed == [(f"in {i}", f"{i:016x}") for i in range(1, 21)]


def test_prometheus_down_the_answer_still_has_spans_and_logs(stores: tuple[LogStore, SpanStore]) -> None:
    seen: list[httpx.Request] = []
    got = make(stores, prometheus(refused, seen)).trace("t1", TRACE)
    assert got.span_count == 3 and len(got.logs) == 3 and got.metrics is None
    assert got.missing == [Missing(part="metrics", reason="prometheus unreachable at http://prom.test: connection "
                                                         "refused (after 3 attempts)")]  # fmt: skip
    assert len(seen) == 5  # failure_threshold: then the breaker refuses the remaining queries unsent


def test_metrics_of_the_trace_services_at_its_end(stores: tuple[LogStore, SpanStore]) -> None:
    seen: list[httpx.Request] = []
    value = {"resultType": "vector", "result": [{"metric": {"service": "cart"}, "value": [1, "2"]}]}
    got = make(stores, prometheus(lambda r: success(value), seen)).trace("t1", TRACE)
    assert got.missing == [] and got.metrics is not None
    assert got.metrics.at == (T0 + 100 * MS + 150 * NS) / NS  # centred on the trace's end
    assert [(m.service, m.request_rate) for m in got.metrics.services] == [("web", None), ("cart", 2.0), ("db", None)]
    assert 'service=~"web|cart|db"' in form(seen[0])["query"][0]


def test_metrics_of_a_recent_trace_are_evaluated_now(stores: tuple[LogStore, SpanStore]) -> None:
    value = {"resultType": "vector", "result": []}
    got = make(stores, prometheus(lambda r: success(value)), red=RedMetrics(range_s=3600)).trace("t1", TRACE)
    assert got.metrics is not None and got.metrics.at == NOW / NS and got.metrics.range_s == 3600


def test_services_beyond_max_services_are_said_to_be_missing(stores: tuple[LogStore, SpanStore]) -> None:
    value = {"resultType": "vector", "result": []}
    got = make(stores, prometheus(lambda r: success(value)), max_services=2).trace("t1", TRACE)
    assert got.metrics is not None and [m.service for m in got.metrics.services] == ["web", "cart"]
    assert got.missing == [Missing(part="metrics", reason="metrics of the first 2 of 3 services only (max_services)")]


def test_lines_beyond_max_lines_are_cut_and_flagged(stores: tuple[LogStore, SpanStore]) -> None:
    got = make(stores, max_lines=1).trace("t1", TRACE)
    assert [x.line for x in got.logs if x.match == "trace_id"] == ["GET /checkout"] and got.logs_truncated


def test_spans_beyond_max_spans_are_cut(stores: tuple[LogStore, SpanStore]) -> None:
    got = make(stores, max_spans=2).trace("t1", TRACE)
    assert got.span_count == 3 and [s.span_id[0] for s in got.spans] == ["a", "b"]


def test_without_spans_store_the_logs_still_answer(stores: tuple[LogStore, SpanStore]) -> None:
    missing = make(stores, spans=False).trace("t1", TRACE, start_ns=T0, end_ns=NOW)
    assert missing.spans == [] and [x.line for x in missing.logs] == ["GET /checkout", '{"msg":"payment 17 declined"}']
    assert Missing(part="spans", reason=NO_SPANS_STORE) in missing.missing


def test_a_trace_with_lines_but_no_spans(stores: tuple[LogStore, SpanStore]) -> None:
    logs, _ = stores
    logs.append([lines("api", [(7, "info", ABC, "only a line")])])
    got = make(stores).trace("t1", "abc", start_ns=T0, end_ns=NOW)
    assert got.trace_id == ABC and got.start_ns is None and got.duration_ms is None
    assert got.missing[0] == Missing(part="spans", reason="no span of this trace is stored (not received or sampled)")


def test_default_lookback_for_lines_without_spans(stores: tuple[LogStore, SpanStore]) -> None:
    logs, _ = stores
    logs.append([lines("api", [(7, "info", ABC, "only a line")])])
    with pytest.raises(NotFound):
        make(stores, trace_lookback_s=60).trace("t1", "abc")  # the line is 600 s before now
    assert make(stores, trace_lookback_s=601).trace("t1", "abc").logs[0].line == "only a line"


def test_unknown_trace_and_other_tenants_are_not_found(stores: tuple[LogStore, SpanStore]) -> None:
    with pytest.raises(NotFound, match=f"trace {'0' * 31}1 not found: no span of it is stored and no log line"):
        make(stores).trace("t1", "1")
    with pytest.raises(NotFound):
        make(stores).trace("t3", TRACE)
    other = make(stores).trace("t2", TRACE)  # t1's spans and lines stay t1's
    assert other.span_count == 0 and [x.line for x in other.logs] == ["t2's own line"]


@pytest.mark.parametrize(
    ("trace_id", "message"),
    [
        ("xyz", "trace ID 'xyz' must be 1 to 32 hex digits"),
        ("", "trace ID '' must be 1 to 32 hex digits"),
        ("a" * 33, "must be 1 to 32 hex digits"),
        ("4bf92f35-77b3", "must be 1 to 32 hex digits"),
    ],
)
def test_bad_trace_ids(stores: tuple[LogStore, SpanStore], trace_id: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(stores).trace("t1", trace_id)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (NOW, T0, f"end {T0} must be after start {NOW}"),
        (T0, T0, "must be after start"),
        (0, NOW, "the window is 1700000600 s long, longer than 86400 s"),
    ],
)
def test_bad_trace_windows(stores: tuple[LogStore, SpanStore], start: int, end: int, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        make(stores).trace("t1", "1", start, end)


# --- (b) a service ----------------------------------------------------------------------------------------


def test_service_levels_error_templates_and_traces(stores: tuple[LogStore, SpanStore]) -> None:
    got = make(stores).service("t1", "cart", T0, T0 + 5 * NS)
    assert got.levels == {"error": 3}
    assert [(t.template, t.count, t.trace_ids) for t in got.top_errors] == [
        ("payment <*> declined", 2, [OTHER, TRACE]), ("cache <*> cold", 1, [])
    ]  # fmt: skip
    assert got.errors_scanned == 3
    assert [(t.trace_id, t.duration_ms, t.error) for t in got.slowest_traces] == [
        (SLOW, 3000.0, False), (TRACE, 50.0, True), (OTHER, 10.0, True)
    ]  # fmt: skip
    assert [t.trace_id for t in got.failing_traces] == [OTHER, TRACE]
    assert got.metrics is None
    assert got.missing == [
        Missing(part="metrics", reason=NO_PROMETHEUS),
        Missing(part="exemplars", reason=NO_PROMETHEUS),
    ]
    assert got.model_dump(mode="json")["start_ns"] == str(T0)


def test_service_window_defaults_to_the_last_hour(stores: tuple[LogStore, SpanStore]) -> None:
    got = make(stores).service("t1", "cart", None, None)
    assert (got.start_ns, got.end_ns) == (NOW - 3600 * NS, NOW) and got.levels == {"error": 3}


def test_service_with_prometheus_down_keeps_its_logs_and_traces(stores: tuple[LogStore, SpanStore]) -> None:
    got = make(stores, prometheus(refused)).service("t1", "cart", T0, T0 + 5 * NS)
    assert got.levels and got.slowest_traces and got.exemplars == []
    assert [m.part for m in got.missing] == ["metrics", "exemplars"]
    assert all("connection refused" in m.reason for m in got.missing)


def test_service_metrics_at_the_end_of_its_window(stores: tuple[LogStore, SpanStore]) -> None:
    seen: list[httpx.Request] = []
    value = {"resultType": "vector", "result": [{"metric": {"service": "cart"}, "value": [1, "0.5"]}]}
    got = make(stores, prometheus(lambda r: success(value), seen)).service("t1", "cart", T0, T0 + 5 * NS)
    assert got.metrics is not None and got.metrics.at == (T0 + 5 * NS) / NS
    assert got.metrics.services[0].error_ratio == 0.5
    assert 'http_requests_total{service="cart"}' in form(seen[0])["query"][0]


def test_service_without_spans_store(stores: tuple[LogStore, SpanStore]) -> None:
    got = make(stores, spans=False).service("t1", "cart", T0, T0 + 5 * NS)
    assert Missing(part="traces", reason=NO_SPANS_STORE) in got.missing and got.slowest_traces == []


@pytest.mark.parametrize(
    ("service", "start", "end", "message"),
    [
        ("cart", T0 + NS, T0, "must be after start"),
        ("cart", T0, T0 + 2 * 86400 * NS, "longer than 86400 s"),
        ("", T0, T0 + NS, "a service name is 1 to 1024 characters, got 0"),
        ("x" * 2000, T0, T0 + NS, "got 2000"),
    ],
)
def test_bad_service_requests(
    stores: tuple[LogStore, SpanStore], service: str, start: int, end: int, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        make(stores).service("t1", service, start, end)


def test_hostile_service_name_is_a_value_not_a_query(stores: tuple[LogStore, SpanStore]) -> None:
    got = make(stores).service("t1", 'cart"} or {service=~".+', T0, T0 + 5 * NS)
    assert got.levels == {} and got.top_errors == [] and got.slowest_traces == []


# --- (c) a log line ---------------------------------------------------------------------------------------


def test_line_to_its_trace(stores: tuple[LogStore, SpanStore]) -> None:
    got = make(stores).line("t1", '{service="cart", pod="cart-1"}', T0 + 30 * MS)
    assert got.trace_id == TRACE and got.span_count == 3


def test_line_without_trace_id_or_absent(stores: tuple[LogStore, SpanStore]) -> None:
    with pytest.raises(NotFound, match=r'the log line of \{service="cart"\} at \d+ carries no trace ID'):
        make(stores).line("t1", '{service="cart"}', T0 + 2500 * MS)
    with pytest.raises(NotFound, match=r'no log line of \{service="cart"\} at 1'):
        make(stores).line("t1", '{service="cart"}', 1)
    with pytest.raises(NotFound, match="no log line with that text"):
        make(stores).line("t1", '{service="cart"}', T0 + 30 * MS, "some other text")


def test_lines_at_one_time_with_different_traces_need_the_text(stores: tuple[LogStore, SpanStore]) -> None:
    at = T0 + 30 * MS  # cart (TRACE) and db (OTHER) both wrote then
    with pytest.raises(BadRequest, match=r"2 lines of .* carry different trace IDs .*; pass `line` to pick one"):
        make(stores).line("t1", '{service=~"cart|db"}', at)
    assert make(stores).line("t1", '{service=~"cart|db"}', at, "other trace's query").trace_id == OTHER


@pytest.mark.parametrize("selector", ['{service="cart"', "not a selector", '{service=~".*"}', 'sum(rate({a="b"}[1m]))'])
def test_bad_selectors_are_logql_errors(stores: tuple[LogStore, SpanStore], selector: str) -> None:
    with pytest.raises(LogQLError):
        make(stores).line("t1", selector, T0)
