"""TraceQL through the spans store (the shop of conftest.py): trace intrinsics, spanset algebra, and the named
attributes listed with each matched span."""

from __future__ import annotations

import pytest

from observ.traces.query import TraceSummary
from observ.traces.store import SpanStore
from observ.traces.tags import TagValue
from observ.traces.traceql.compile import compile_query
from observ.traces.traceql.parser import parse
from tests.unit.traces.helpers import sid, tid


def run(shop: SpanStore, text: str, start_ns: int = 0, end_ns: int = 10**6, spss: int = 3) -> list[TraceSummary]:
    q = compile_query(parse(text), start_ns, end_ns, 20, spss)
    return [] if q is None else shop.search("t1", q)


def ids(found: list[TraceSummary]) -> list[int]:
    return [int(t.trace_id, 16) for t in found]


@pytest.mark.parametrize(
    ("text", "traces"),
    [
        ("{}", [5, 4, 3, 2, 1]),
        ('{ resource.service.name = "cart" }', [5, 4, 2, 1]),
        ('{ resource.service.name = "cart" && status = error }', [2]),
        ('{ resource.service.name = "cart" } && { status = error }', [2]),
        ('{ resource.service.name = "db" && status = error }', [2]),
        ('{ rootServiceName = "cart" && resource.service.name = "db" }', [5, 2, 1]),  # trace 3 has no root
        ('{ rootServiceName = "db" }', []),
        ('{ trace:rootService = "nobody" || name = "INSERT" }', [3]),
        ('{ rootName =~ "GET.*" } && { status = error }', [2]),
        ("{ traceDuration > 100 }", [2]),
        ("{ trace:duration <= 20 && kind = client }", [4, 3, 1]),
        ("{ kind = client } || { .retry = true }", [4, 3, 2, 1]),
        ("({ kind = server } && { span.http.status_code = 200 }) || { .http.status_code = 503.5 }", [5, 1]),
        ("{ span.http.status_code >= 500 && span.http.status_code < 600 }", [5, 2]),  # not trace 3's "500"
        ('{ span.http.status_code = "500" }', [3]),
        ("{ duration > 100ns }", [2]),
        ("{ false }", []),
    ],
)
def test_queries_find_traces(shop: SpanStore, text: str, traces: list[int]) -> None:
    assert ids(run(shop, text)) == traces


def test_trace_intrinsics_are_those_of_the_trace_in_the_window(shop: SpanStore) -> None:
    """Trace 2 spans 200-700; from 600 on only its root is in the window, and its duration is the root's."""
    assert ids(run(shop, "{ traceDuration > 400 }", 0, 10**6)) == [2]
    assert ids(run(shop, "{ traceDuration > 400 }", 600, 10**6)) == [2]
    assert ids(run(shop, '{ rootServiceName = "cart" && name = "SELECT" }', 215, 10**6)) == [5, 2]


def test_matched_spans_list_the_attributes_the_query_names(shop: SpanStore) -> None:
    [t] = run(shop, "{ span.http.status_code >= 500 && status = error }")
    assert [(s.span_id, s.attributes) for s in t.spans] == [(sid(2), {"http.status_code": 500, "status": "error"})]
    [t] = run(shop, '{ statusMessage =~ ".*failed" && name = "GET /cart" && duration > 1 }')
    assert t.spans[0].attributes == {"statusMessage": "upstream failed"}  # not name, nor duration: fields of their own
    found = run(shop, '{ .service.name = "db" && kind = client && rootServiceName = "cart" }')
    assert [s.attributes for t in found for s in t.spans] == [{"service.name": "db", "kind": "client"}] * 2
    [t] = run(shop, '{ resource.k8s.namespace.name = "shop" || .retry = true }', 200, 300)
    assert t.trace_id == tid(2)
    assert [s.attributes for s in t.spans] == [{"k8s.namespace.name": "shop"}, {"retry": True}]  # absent: left out


def test_tag_values_of_trace_intrinsics(shop: SpanStore) -> None:
    assert shop.tag_values("t1", "rootServiceName") == [TagValue("string", "cart")]
    assert shop.tag_values("t1", "rootName") == [TagValue("string", "GET /cart")]
    assert shop.tag_values("t1", "traceDuration") == []
