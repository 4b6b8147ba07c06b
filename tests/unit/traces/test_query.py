"""Spans store reads: search filters and ordering, tag names and values, hostile conditions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from observ.store.config import StoreConfig
from observ.traces.query import AllOf, AnyOf, Condition, SpanQuery, TagValue
from observ.traces.store import SpanStore
from tests.unit.traces.helpers import cols, sid, span, tid

CART = {"service.name": "cart", "k8s.namespace.name": "shop"}
DB = {"service.name": "db"}


@pytest.fixture
def store(tmp_path: Path) -> SpanStore:
    """Traces 1-4 compacted, 5-6 hot. Root spans (1) of cart, children (2) of db.

    trace 1 @100: GET /cart ok 20ns; db SELECT, http.status_code 200
    trace 2 @200: GET /cart error 500ns; db SELECT error, status_code 500 (int), retry true
    trace 3 @300: POST /pay ok; child only (root never arrived): db INSERT, status_code "500" (a string)
    trace 4 @400: GET /cart ok, kind client; no children
    trace 5 @500 (hot): GET /cart ok; db SELECT status_code 503.5 (float)
    trace 6 @600 (hot), tenant t2: GET /cart error
    """
    s = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=10**9))
    s.append(
        [
            cols(
                span(1, 1, 100, name="GET /cart", kind=2, service="cart", resource=CART, end_ns=120, status_code=1),
                span(1, 2, 105, name="SELECT", kind=3, service="db", resource=DB, attributes={"http.status_code": 200}),
                span(2, 1, 200, name="GET /cart", kind=2, service="cart", resource=CART, end_ns=700, status_code=2,
                     status_message="upstream failed"),
                span(2, 2, 210, name="SELECT", kind=3, service="db", resource=DB, status_code=2,
                     attributes={"http.status_code": 500, "retry": True}),
                span(3, 2, 310, name="INSERT", kind=3, service="db", resource=DB,
                     attributes={"http.status_code": "500"}),
            ),
        ]
    )  # fmt: skip
    s.compact()
    s.append([cols(span(4, 1, 400, name="GET /cart", kind=3, service="cart", resource=CART))])
    s.compact()
    s.append(
        [
            cols(
                span(5, 1, 500, name="GET /cart", kind=2, service="cart", resource=CART),
                span(5, 2, 505, name="SELECT", service="db", resource=DB, attributes={"http.status_code": 503.5}),
            ),
            cols(span(6, 1, 600, tenant="t2", name="GET /cart", service="cart", resource=CART, status_code=2)),
        ]
    )
    return s


def found(store: SpanStore, *spansets: object, tenant: str = "t1", **kw: object) -> list[str]:
    res = store.search(tenant, SpanQuery(spansets=list(spansets), **kw))  # type: ignore[arg-type]
    return [t.trace_id for t in res]


def c(tag: str, op: str, value: object) -> Condition:
    return Condition(tag=tag, op=op, value=value)  # type: ignore[arg-type]


def test_no_condition_lists_every_trace_newest_first(store: SpanStore) -> None:
    assert found(store) == [tid(5), tid(4), tid(3), tid(2), tid(1)]
    assert found(store, limit=2) == [tid(5), tid(4)]
    assert found(store, tenant="t2") == [tid(6)]
    assert found(store, tenant="nobody") == []


def test_a_summary_describes_the_whole_trace_and_its_matched_spans(store: SpanStore) -> None:
    [t] = store.search("t1", SpanQuery(spansets=[c("name", "=", "SELECT")], start_ns=150, end_ns=300))
    assert (t.trace_id, t.root_service, t.root_name, t.start_ns, t.duration_ns) == (
        tid(2),
        "cart",
        "GET /cart",
        200,
        500,
    )
    assert (t.span_count, t.matched) == (2, 1)
    assert [(m.span_id, m.service, m.name, m.start_ns, m.duration_ns) for m in t.spans] == [
        (sid(2), "db", "SELECT", 210, 10)
    ]
    [orphan] = store.search("t1", SpanQuery(spansets=[c("name", "=", "INSERT")]))
    assert (orphan.root_service, orphan.root_name) == (None, None)


def test_spans_per_trace_bounds_the_listed_spans_not_the_count(store: SpanStore) -> None:
    [t] = store.search("t1", SpanQuery(spansets=[c("resource.service.name", "=~", ".*")], start_ns=200, end_ns=300,
                                       spans_per_trace=1))  # fmt: skip
    assert (t.matched, [m.span_id for m in t.spans]) == (2, [sid(1)])
    [t] = store.search("t1", SpanQuery(start_ns=200, end_ns=300, spans_per_trace=0))
    assert (t.matched, t.spans) == (2, [])


def test_the_window_keeps_traces_with_a_span_overlapping_it(store: SpanStore) -> None:
    assert found(store, start_ns=690, end_ns=695) == [tid(2)]  # only trace 2's root (200-700) reaches past 690
    assert found(store, start_ns=120, end_ns=200) == [tid(1)]  # trace 1's root ends at 120: overlap is inclusive
    assert found(store, start_ns=701, end_ns=800) == []


@pytest.mark.parametrize(
    ("condition", "traces"),
    [
        (c("name", "=", "GET /cart"), [5, 4, 2, 1]),
        (c("name", "!=", "GET /cart"), [5, 3, 2, 1]),
        (c("name", "=~", "GET"), []),  # regexes are fully anchored
        (c("name", "=~", "GET.*"), [5, 4, 2, 1]),
        (c("name", "!~", "(GET|SELECT).*"), [3]),
        (c("status", "=", "error"), [2]),
        (c("status", "=", 1), [1]),
        (c("status", "!=", "unset"), [2, 1]),
        (c("statusMessage", "=~", ".*failed"), [2]),
        (c("kind", "=", "client"), [4, 3, 2, 1]),
        (c("kind", "=", "server"), [5, 2, 1]),
        (c("duration", ">", 100), [2]),
        (c("duration", "<=", 10), [5, 4, 3, 2, 1]),
        (c("resource.service.name", "=", "db"), [5, 3, 2, 1]),
        (c(".service.name", "=", "cart"), [5, 4, 2, 1]),
        (c("resource.k8s.namespace.name", "=", "shop"), [5, 4, 2, 1]),
        (c("span.http.status_code", "=", 500), [2]),  # an int, not trace 3's string "500"
        (c("span.http.status_code", "=", "500"), [3]),
        (c("span.http.status_code", ">=", 500), [5, 2]),  # ints and floats compare as numbers
        (c("span.http.status_code", "=", 503.5), [5]),
        (c("span.http.status_code", "!=", 200), [5, 2]),  # only spans that have the attribute, as a number
        (c(".http.status_code", "<", 300), [1]),
        (c("span.retry", "=", True), [2]),
        (c("span.retry", "!=", True), []),
        (c("span.missing", "=", "x"), []),
        (c("resource.http.status_code", "=", 500), []),  # span attributes are not resource attributes
    ],
)
def test_conditions(store: SpanStore, condition: Condition, traces: list[int]) -> None:
    assert found(store, condition) == [tid(t) for t in traces]


def test_and_or_within_a_spanset_and_spansets_across_spans(store: SpanStore) -> None:
    db, root = c("resource.service.name", "=", "db"), c("name", "=", "GET /cart")
    assert found(store, AllOf(all=[db, root])) == []  # one span must match both
    assert found(store, AnyOf(any=[c("status", "=", "error"), c("name", "=", "INSERT")])) == [tid(3), tid(2)]
    assert found(store, db, root) == [tid(5), tid(2), tid(1)]  # a db span and a root span in one trace
    deep = AllOf(all=[AnyOf(any=[AllOf(all=[db, c("status", "=", "error")]), c("name", "=", "INSERT")])])
    assert found(store, deep) == [tid(3), tid(2)]


def test_attribute_names_are_data_never_sql(store: SpanStore) -> None:
    store.append([cols(span(9, 1, 900, attributes={"x') OR 1=1 --": "v", "a/b~c": 1}))])
    assert found(store, c("span.x') OR 1=1 --", "=", "v")) == [tid(9)]
    assert found(store, c("span.a/b~c", "=", 1)) == [tid(9)]
    assert found(store, c("span.x", "=", "' OR ''='")) == []
    assert store.tag_values("t1", "span.a/b~c") == [TagValue("int", "1")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tag": "name", "op": "==", "value": "x"}, "op"),
        ({"tag": "name", "op": "=~", "value": 3}, "a regex must be a string"),
        ({"tag": "span.ok", "op": ">", "value": True}, "booleans compare only with = and !="),
        ({"tag": "status", "op": "=", "value": "failed"}, "status 'failed' is not one of unset, ok, error"),
        ({"tag": "status", "op": ">", "value": 1}, "status compares only with = and !="),
        ({"tag": "kind", "op": "=", "value": 1.5}, "kind takes a name or an integer"),
        ({"tag": "duration", "op": ">", "value": "1s"}, "duration takes nanoseconds as a number"),
        ({"tag": "name", "op": "=", "value": 3}, "name is a string"),
        ({"tag": "span.n", "op": "=", "value": 2**70}, "beyond the 64-bit range"),
        ({"tag": "span.", "op": "=", "value": "x"}, "names no attribute"),
        ({"tag": "", "op": "=", "value": "x"}, "non-empty"),
        ({"tag": "name", "op": "=", "value": ["x"]}, "value"),
        ({"tag": "name", "op": "=", "value": "x", "extra": 1}, "extra"),
    ],
)
def test_bad_conditions_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Condition(**kwargs)  # type: ignore[arg-type]


def test_bad_queries_say_what_is_wrong(store: SpanStore) -> None:
    x = c("name", "=", "x")
    with pytest.raises(ValidationError, match="end_ns 5 must be after start_ns 10"):
        SpanQuery(start_ns=10, end_ns=5)
    with pytest.raises(ValidationError, match="at most 64 conditions"):
        SpanQuery(spansets=[AllOf(all=[x] * 65)])
    nested: object = x
    for _ in range(20):
        nested = AllOf(all=[nested])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="deeper than 16"):
        SpanQuery(spansets=[nested])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="limit"):
        SpanQuery(limit=0)
    with pytest.raises(ValueError, match=r"bad search condition.*missing \)"):
        store.search("t1", SpanQuery(spansets=[c("name", "=~", "(")]))


def test_tag_names_by_scope(store: SpanStore) -> None:
    assert store.tag_names("t1") == {
        "resource": ["k8s.namespace.name", "service.name"],
        "span": ["http.status_code", "retry"],
        "intrinsic": ["duration", "kind", "name", "status", "statusMessage"],
    }
    assert store.tag_names("t1", "span", start_ns=500) == {"span": ["http.status_code"]}
    assert store.tag_names("t2", "resource") == {"resource": ["k8s.namespace.name", "service.name"]}


@pytest.mark.parametrize(
    ("tag", "values"),
    [
        ("resource.service.name", [("string", "cart"), ("string", "db")]),
        ("service.name", [("string", "cart"), ("string", "db")]),
        ("span.http.status_code", [("int", "200"), ("int", "500"), ("float", "503.5"), ("string", "500")]),
        ("span.retry", [("bool", "true")]),
        ("name", [("string", "GET /cart"), ("string", "INSERT"), ("string", "SELECT")]),
        ("status", [("keyword", "error"), ("keyword", "ok"), ("keyword", "unset")]),
        ("kind", [("keyword", "client"), ("keyword", "server"), ("keyword", "unspecified")]),
        ("statusMessage", [("string", ""), ("string", "upstream failed")]),
        ("duration", []),
        ("span.missing", []),
    ],
)
def test_tag_values(store: SpanStore, tag: str, values: list[tuple[str, str]]) -> None:
    got = [(v.type, v.value) for v in store.tag_values("t1", tag)]
    assert sorted(got) == sorted(values)


def test_tag_values_obey_limit_window_and_tenant(store: SpanStore) -> None:
    assert len(store.tag_values("t1", "name", limit=1)) == 1
    assert store.tag_values("t1", "name", start_ns=500) == [
        TagValue("string", "GET /cart"),
        TagValue("string", "SELECT"),
    ]
    assert store.tag_values("t2", "status") == [TagValue("keyword", "error")]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.tag_names("t1", "event"), "scope 'event' is not one of resource, span, intrinsic"),
        (lambda s: s.tag_names("t1", start_ns=5, end_ns=5), r"0 <= start_ns < end_ns .* got \[5, 5\)"),
        (lambda s: s.tag_values("t1", "name", start_ns=-1), "the window must be"),
        (lambda s: s.tag_values("t1", "name", limit=0), "limit must be an integer from 1 to 100000, got 0"),
        (lambda s: s.tag_values("t1", "name", limit=True), "limit must be an integer"),
        (lambda s: s.tag_values("t1", "resource."), "names no attribute after 'resource.'"),
        (lambda s: s.tag_values("t1", ""), "non-empty"),
    ],
)
def test_bad_tag_requests_say_what_is_wrong(
    store: SpanStore, call: Callable[[SpanStore], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(store)
