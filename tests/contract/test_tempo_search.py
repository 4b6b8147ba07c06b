"""Tempo's `/api/search` over real HTTP: a uvicorn server (create_app with a spans store) fed by the real
OpenTelemetry SDK over OTLP/HTTP, searched with Grafana's queries (TraceQL and the tags form); answers in Tempo's
SearchResponse JSON; bad input refused in plain text without harm to the rest.

Spans carry fixed timestamps (from T0), so no answer depends on the clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from prometheus_client import CollectorRegistry

from observ.api.app import create_app
from observ.api.config import ApiConfig, AuthConfig
from observ.store.logstore import LogStore
from observ.traces.store import SpanStore
from tests.contract.conftest import serve_app

SEC, MS = 10**9, 10**6
T0 = 1_700_000_000
"""Unix seconds of the corpus: trace 1 starts at T0+10 s, trace 2 at T0+20 s, trace 3 at T0+30 s."""
SHOP = {"X-Scope-OrgID": "shop"}


@dataclass
class Sent:
    url: str
    traces: list[str]
    """Trace IDs of traces 1, 2, 3 (tenant shop), then the other tenant's one."""
    spans: dict[str, str]
    """Span ID of each span, by `trace.name`."""


def _serve(tmp: Path) -> tuple[uvicorn.Server, threading.Thread, str, LogStore, SpanStore]:
    logs, spans = LogStore(tmp / "observ.duckdb"), SpanStore(tmp / "spans.duckdb")
    server, thread, url = serve_app(
        create_app(logs, CollectorRegistry(), lambda: True, config=ApiConfig(), spans=spans)
    )
    return server, thread, url, logs, spans


class _Shop:
    """One TracerProvider per service and tenant (a resource is per provider), exporting over OTLP/HTTP."""

    def __init__(self, url: str) -> None:
        self.url, self.providers = url, list[TracerProvider]()
        self.ids: dict[str, str] = {}

    def span(self, tenant: str, service: str, trace: str, name: str, start_ms: int, dur_ms: int,
             parent: Span | None = None, kind: SpanKind = SpanKind.SERVER, error: str | None = None,
             **attributes: object) -> Span:  # fmt: skip
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        exporter = OTLPSpanExporter(endpoint=f"{self.url}/v1/traces", headers={"X-Scope-OrgID": tenant})
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.providers.append(provider)
        ctx = set_span_in_context(parent) if parent is not None else None
        start = T0 * SEC + start_ms * MS
        s = provider.get_tracer("tests.search").start_span(
            name,
            context=ctx,
            kind=kind,
            attributes=attributes,
            start_time=start,  # type: ignore[arg-type]
        )
        if error is not None:
            s.set_status(Status(StatusCode.ERROR, error))
        self.ids[f"{trace}.{name}"] = f"{s.get_span_context().span_id:016x}"
        return s

    def close(self) -> None:
        for p in self.providers:
            p.shutdown()


def _end(s: Span, start_ms: int, dur_ms: int) -> None:
    s.end(end_time=T0 * SEC + (start_ms + dur_ms) * MS)


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    """Trace 1: checkout POST /checkout (502, 120 ms) -> payments charge (client, error "card declined").
    Trace 2: checkout GET /cart (5 ms) -> db SELECT (client, 2 ms).
    Trace 3: frontend GET / (1.5 s) -> checkout POST /checkout (error, 1.2 s, 500, retry).
    Trace 4, tenant other: checkout POST /checkout, error.
    Trace 5, tenant orphans: a worker span without a name, lasting 0.4 ms, whose parent (the root) never came."""
    server, thread, url, logs, spans = _serve(tmp_path_factory.mktemp("search"))
    shop, traces = _Shop(url), []
    root = shop.span("shop", "checkout", "1", "POST /checkout", 10_000, 120, **{"http.status_code": 502})
    child = shop.span("shop", "payments", "1", "charge", 10_010, 100, root, SpanKind.CLIENT, "card declined")
    _end(child, 10_010, 100)
    _end(root, 10_000, 120)
    traces.append(f"{root.get_span_context().trace_id:032x}")
    root = shop.span("shop", "checkout", "2", "GET /cart", 20_000, 5)
    child = shop.span("shop", "db", "2", "SELECT", 20_001, 2, root, SpanKind.CLIENT)
    _end(child, 20_001, 2)
    _end(root, 20_000, 5)
    traces.append(f"{root.get_span_context().trace_id:032x}")
    root = shop.span("shop", "frontend", "3", "GET /", 30_000, 1500)
    child = shop.span("shop", "checkout", "3", "POST /checkout", 30_100, 1200, root, SpanKind.SERVER, "timeout",
                      **{"http.status_code": 500, "retry": True})  # fmt: skip
    _end(child, 30_100, 1200)
    _end(root, 30_000, 1500)
    traces.append(f"{root.get_span_context().trace_id:032x}")
    other = shop.span("other", "checkout", "4", "POST /checkout", 40_000, 10, error="boom")
    _end(other, 40_000, 10)
    traces.append(f"{other.get_span_context().trace_id:032x}")
    remote = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    orphan = shop.span("orphans", "worker", "5", "", 50_000, 0, remote, SpanKind.CONSUMER)
    orphan.end(end_time=(T0 + 50) * SEC + 400_000)
    traces.append(f"{0xABC:032x}")
    shop.close()
    assert spans.count() == 8
    yield Sent(url, traces, shop.ids)
    server.should_exit = True
    thread.join(timeout=30)
    spans.close()
    logs.close()


def search(sent: Sent, headers: dict[str, str] | None = None, **params: object) -> httpx.Response:
    with httpx.Client(base_url=sent.url, headers=SHOP if headers is None else headers, timeout=30) as c:
        return c.get("/api/search", params=params)  # type: ignore[arg-type]


def found(sent: Sent, **params: object) -> list[int]:
    """Trace numbers (1-based, as in the fixture) of a successful search, in answer order."""
    r = search(sent, **params)
    assert r.status_code == 200, r.text
    return [sent.traces.index(t["traceID"]) + 1 for t in r.json().get("traces", [])]


def test_grafana_dashboard_queries(sent: Sent) -> None:
    assert found(sent, q='{resource.service.name="checkout"}') == [3, 2, 1]
    assert found(sent, q='{resource.service.name="checkout" && status=error}') == [3]
    assert found(sent, q='{resource.service.name="checkout"} && {status=error}') == [3, 1]
    assert found(sent, q="{}") == [3, 2, 1]
    assert found(sent) == [3, 2, 1]


def test_the_answer_is_tempos_search_response(sent: Sent) -> None:
    """tempopb.SearchResponse as Tempo's jsonpb writes it: uint64 as strings, zero values and empty lists left
    out, the deprecated `spanSet` beside `spanSets`, rootServiceName/rootTraceName of the root span."""
    r = search(sent, q='{resource.service.name="checkout" && span.http.status_code = 502}', start=T0, end=T0 + 60)
    assert r.headers["content-type"] == "application/json"
    spanset = {
        "spans": [{
            "spanID": sent.spans["1.POST /checkout"], "name": "POST /checkout",
            "startTimeUnixNano": str((T0 + 10) * SEC), "durationNanos": str(120 * MS),
            "attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}},
                           {"key": "http.status_code", "value": {"intValue": "502"}}],
        }],
        "matched": 1,
    }  # fmt: skip
    assert r.json() == {
        "traces": [{
            "traceID": sent.traces[0], "rootServiceName": "checkout", "rootTraceName": "POST /checkout",
            "startTimeUnixNano": str((T0 + 10) * SEC), "durationMs": 120, "spanSet": spanset, "spanSets": [spanset],
        }],
        "metrics": {"completedJobs": 1, "totalJobs": 1},
    }  # fmt: skip


def test_zero_values_are_left_out_and_a_missing_root_is_named(sent: Sent) -> None:
    """A trace whose root is not stored: Tempo's placeholder service, no rootTraceName; under 1 ms: no
    durationMs; a span without a name: no name."""
    r = search(sent, {"X-Scope-OrgID": "orphans"}, q="{ kind = consumer }")
    span = {"spanID": sent.spans["5."], "startTimeUnixNano": str((T0 + 50) * SEC), "durationNanos": "400000",
            "attributes": [{"key": "kind", "value": {"stringValue": "consumer"}}]}  # fmt: skip
    assert r.json()["traces"] == [{
        "traceID": f"{0xABC:032x}", "rootServiceName": "<root span not yet received>",
        "startTimeUnixNano": str((T0 + 50) * SEC),
        "spanSet": {"spans": [span], "matched": 1}, "spanSets": [{"spans": [span], "matched": 1}],
    }]  # fmt: skip


def test_matched_spans_carry_the_attributes_the_query_names(sent: Sent) -> None:
    [t] = search(sent, q='{resource.service.name="checkout" && status=error}').json()["traces"]
    assert (t["rootServiceName"], t["rootTraceName"], t["durationMs"]) == ("frontend", "GET /", 1500)
    [span] = t["spanSets"][0]["spans"]
    assert span["spanID"] == sent.spans["3.POST /checkout"]
    assert span["attributes"] == [
        {"key": "service.name", "value": {"stringValue": "checkout"}},
        {"key": "status", "value": {"stringValue": "error"}},
    ]
    [t] = search(sent, q="{ .retry = true && duration > 1s }").json()["traces"]
    assert t["spanSet"]["spans"][0]["attributes"] == [{"key": "retry", "value": {"boolValue": True}}]


def test_span_intrinsics_durations_and_trace_intrinsics(sent: Sent) -> None:
    assert found(sent, q="{ duration > 1s }") == [3]
    assert found(sent, q="{ duration >= 100ms && duration < 1.2s }") == [1]
    assert found(sent, q="{ traceDuration < 100ms }") == [2]
    assert found(sent, q='{ kind = client && name =~ "SEL.*" }') == [2]
    assert found(sent, q="{ kind = client }") == [2, 1]
    assert found(sent, q='{ statusMessage = "card declined" }') == [1]
    assert found(sent, q="{ span.http.status_code >= 500 }") == [3, 1]
    assert found(sent, q='{ rootServiceName = "frontend" }') == [3]
    assert found(sent, q='{ rootName = "GET /cart" } || { .retry = true }') == [3, 2]
    assert found(sent, q="{ false }") == []


def test_the_tags_form(sent: Sent) -> None:
    assert found(sent, tags="service.name=checkout http.status_code=502") == [1]
    assert found(sent, tags="status.code=error", minDuration="1s") == [3]
    assert found(sent, minDuration="100ms", maxDuration="1s") == [1]
    assert found(sent, tags="root.service.name=front") == [3]  # a substring, as Tempo's dedicated columns
    assert found(sent, tags="name=checkout") == [3, 1]
    assert found(sent, tags='retry="true"') == []  # the bool true is not the string "true"


def test_window_limit_and_spans_per_spanset(sent: Sent) -> None:
    assert found(sent, start=T0 + 15, end=T0 + 25) == [2]
    assert found(sent, start=T0 + 31, end=T0 + 40) == [3]  # trace 3's spans reach past T0+31 s
    assert found(sent, q='{resource.service.name="checkout"}', limit=1) == [3]
    r = search(sent, q="{ }", spss=1, start=T0 + 5, end=T0 + 15)
    [t] = r.json()["traces"]
    assert (len(t["spanSet"]["spans"]), t["spanSet"]["matched"]) == (1, 2)


def test_nothing_found_is_metrics_alone(sent: Sent) -> None:
    for q in ("{ false }", '{ .nothing = "x" }'):
        r = search(sent, q=q)
        assert (r.status_code, r.json()) == (200, {"metrics": {"completedJobs": 1, "totalJobs": 1}})


def test_tenants_see_their_own_traces(sent: Sent) -> None:
    r = search(sent, {"X-Scope-OrgID": "other"}, q='{resource.service.name="checkout"}')
    assert [t["traceID"] for t in r.json()["traces"]] == [sent.traces[3]]
    assert found(sent, q='{ statusMessage = "boom" }') == []


def test_protobuf_is_not_offered_json_is_answered(sent: Sent) -> None:
    r = search(sent, {**SHOP, "Accept": "application/protobuf"}, q="{}")
    assert (r.status_code, r.headers["content-type"]) == (200, "application/json")


BAD = [
    ({"q": "{ .a = }"}, "parse error at line 1, col 8: syntax error: unexpected }"),
    ({"q": "{ .a = 1 } | count() > 1"}, "unsupported TraceQL at line 1, col 12: pipelines (`| count() > 1`)"),
    ({"q": "{ .a = 1 } >> { .b = 1 }"}, "unsupported TraceQL at line 1, col 12: structural operator `>>`"),
    ({"q": "{ status > ok }"}, "invalid TraceQL query at line 1, col 10: status compares only with = and !="),
    ({"q": '{ name =~ "(" }'}, "invalid TraceQL query at line 1, col 11: error parsing regexp '('"),
    ({"q": "{ .a = 1 }", "tags": "a=1"}, "invalid request: can't specify tags and q in the same query"),
    ({"start": T0 + 20, "end": T0 + 10}, f"invalid start: {T0 + 20} is not before end {T0 + 10}"),
    ({"end": "yesterday"}, "invalid end: 'yesterday' is not a Unix time in seconds"),
    ({"limit": 0}, "invalid limit: must be a positive number"),
    ({"limit": -1}, 'invalid limit: strconv.ParseUint: parsing "-1": invalid syntax'),
    ({"limit": 100_000}, "invalid limit: 100000 is more than the maximum of 10000"),
    ({"limit": "9" * 40}, "invalid limit: " + "9" * 40 + " is more than the maximum of 10000"),
    ({"spss": 5000}, "invalid spss: 5000 is more than the maximum of 1000"),
    ({"minDuration": "soon"}, 'invalid minDuration: time: invalid duration "soon"'),
    ({"minDuration": "2s", "maxDuration": "1s"}, "invalid maxDuration: must be greater than minDuration"),
    ({"tags": "a=1 a=2"}, "invalid tags: tag a has been set twice"),
    ({"tags": 'a="open'}, "invalid tags: "),
    ({"tags": "status.code=bad"}, "invalid tags: status.code 'bad' is not one of unset, ok, error"),
    ({"q": "{" + "&&".join(f".a={i}" for i in range(2000)) + "}"}, "parse error : the query is longer than"),
    ({"q": "{" + "||".join(f".a={i}" for i in range(100)) + "}"}, "invalid TraceQL query: a search takes at most 64"),
    ({"q": "{" + "(" * 3000 + ".a = 1 &&" * 200 + ".a = 1" + ")" * 3000 + "}"}, "parse error"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_is_a_plain_text_400_and_harms_nothing(sent: Sent, params: dict[str, object], message: str) -> None:
    r = search(sent, **params)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith(message), r.text
    assert found(sent, q='{resource.service.name="checkout"}') == [3, 2, 1]


def test_a_catastrophic_regex_runs_in_linear_time(sent: Sent) -> None:
    """RE2 has no backtracking: `(a+)+$` over a long name is answered, not a hang."""
    assert found(sent, q='{ name =~ "(a+)+$" }') == []
    assert found(sent, q='{ name =~ "(P|G)(O|E)(S|T)+.*" }') == [3, 2, 1]


@pytest.mark.parametrize(
    ("auth", "headers", "status", "message"),
    [
        (AuthConfig(require_tenant=True), {}, 401, "no org id"),
        (AuthConfig(tokens={"s3cret": ["shop"]}), SHOP, 401, "unauthorized: a valid bearer token is required"),
        (AuthConfig(tokens={"s3cret": ["shop"]}), {"Authorization": "Bearer s3cret", "X-Scope-OrgID": "other"}, 403,
         "tenant 'other' is not allowed for this token"),
        (AuthConfig(require_tenant=True), {"X-Scope-OrgID": "bad/tenant"}, 400, ""),
    ],
)  # fmt: skip
def test_tenancy_refusals(tmp_path: Path, auth: AuthConfig, headers: dict[str, str], status: int, message: str) -> None:
    logs, spans = LogStore(tmp_path / "observ.duckdb"), SpanStore(tmp_path / "spans.duckdb")
    try:
        app = create_app(logs, CollectorRegistry(), lambda: True, config=ApiConfig(auth=auth), spans=spans)
        r = TestClient(app).get("/api/search", params={"q": "{}"}, headers=headers)
        assert (r.status_code, r.headers["content-type"].startswith("text/plain")) == (status, True)
        assert message in r.text
        ok = {"Authorization": "Bearer s3cret", "X-Scope-OrgID": "shop"} if auth.tokens else SHOP
        r = TestClient(app).get("/api/search", params={"q": "{}"}, headers=ok)
        assert (r.status_code, r.json()) == (200, {"metrics": {"completedJobs": 1, "totalJobs": 1}})
    finally:
        spans.close()
        logs.close()
