"""Span search: conditions, spansets, windows, ordering, summaries, hostile conditions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from observ.traces.query import AllOf, AnyOf, Condition, SpanQuery
from observ.traces.store import SpanStore
from observ.traces.tags import TagValue
from tests.unit.traces.helpers import cols, sid, span, tid


def found(shop: SpanStore, *spansets: object, tenant: str = "t1", **kw: object) -> list[str]:
    res = shop.search(tenant, SpanQuery(spansets=list(spansets), **kw))  # type: ignore[arg-type]
    return [t.trace_id for t in res]


def c(tag: str, op: str, value: object) -> Condition:
    return Condition(tag=tag, op=op, value=value)  # type: ignore[arg-type]


def test_no_condition_lists_every_trace_newest_first(shop: SpanStore) -> None:
    assert found(shop) == [tid(5), tid(4), tid(3), tid(2), tid(1)]
    assert found(shop, limit=2) == [tid(5), tid(4)]
    assert found(shop, tenant="t2") == [tid(6)]
    assert found(shop, tenant="nobody") == []


def test_a_summary_describes_the_whole_trace_and_its_matched_spans(shop: SpanStore) -> None:
    [t] = shop.search("t1", SpanQuery(spansets=[c("name", "=", "SELECT")], start_ns=150, end_ns=300))
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
    [orphan] = shop.search("t1", SpanQuery(spansets=[c("name", "=", "INSERT")]))
    assert (orphan.root_service, orphan.root_name) == (None, None)


def test_spans_per_trace_bounds_the_listed_spans_not_the_count(shop: SpanStore) -> None:
    [t] = shop.search("t1", SpanQuery(spansets=[c("resource.service.name", "=~", ".*")], start_ns=200, end_ns=300,
                                       spans_per_trace=1))  # fmt: skip
    assert (t.matched, [m.span_id for m in t.spans]) == (2, [sid(1)])
    [t] = shop.search("t1", SpanQuery(start_ns=200, end_ns=300, spans_per_trace=0))
    assert (t.matched, t.spans) == (2, [])


def test_the_window_keeps_traces_with_a_span_overlapping_it(shop: SpanStore) -> None:
    assert found(shop, start_ns=690, end_ns=695) == [tid(2)]  # only trace 2's root (200-700) reaches past 690
    assert found(shop, start_ns=120, end_ns=200) == [tid(1)]  # trace 1's root ends at 120: overlap is inclusive
    assert found(shop, start_ns=701, end_ns=800) == []


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
def test_conditions(shop: SpanStore, condition: Condition, traces: list[int]) -> None:
    assert found(shop, condition) == [tid(t) for t in traces]


def test_and_or_within_a_spanset_and_spansets_across_spans(shop: SpanStore) -> None:
    db, root = c("resource.service.name", "=", "db"), c("name", "=", "GET /cart")
    assert found(shop, AllOf(all=[db, root])) == []  # one span must match both
    assert found(shop, AnyOf(any=[c("status", "=", "error"), c("name", "=", "INSERT")])) == [tid(3), tid(2)]
    assert found(shop, db, root) == [tid(5), tid(2), tid(1)]  # a db span and a root span in one trace
    deep = AllOf(all=[AnyOf(any=[AllOf(all=[db, c("status", "=", "error")]), c("name", "=", "INSERT")])])
    assert found(shop, deep) == [tid(3), tid(2)]


def test_attribute_names_are_data_never_sql(shop: SpanStore) -> None:
    shop.append([cols(span(9, 1, 900, attributes={"x') OR 1=1 --": "v", "a/b~c": 1}))])
    assert found(shop, c("span.x') OR 1=1 --", "=", "v")) == [tid(9)]
    assert found(shop, c("span.a/b~c", "=", 1)) == [tid(9)]
    assert found(shop, c("span.x", "=", "' OR ''='")) == []
    assert shop.tag_values("t1", "span.a/b~c") == [TagValue("int", "1")]


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


def test_bad_queries_say_what_is_wrong(shop: SpanStore) -> None:
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
        shop.search("t1", SpanQuery(spansets=[c("name", "=~", "(")]))
