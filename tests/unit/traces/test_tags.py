"""Tag names and values of the spans shop, and bad tag requests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from observ.traces.store import SpanStore
from observ.traces.tags import TagValue


def test_tag_names_by_scope(shop: SpanStore) -> None:
    assert shop.tag_names("t1") == {
        "resource": ["k8s.namespace.name", "service.name"],
        "span": ["http.status_code", "retry"],
        "intrinsic": ["duration", "kind", "name", "status", "statusMessage"],
    }
    assert shop.tag_names("t1", "span", start_ns=500) == {"span": ["http.status_code"]}
    assert shop.tag_names("t2", "resource") == {"resource": ["k8s.namespace.name", "service.name"]}


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
def test_tag_values(shop: SpanStore, tag: str, values: list[tuple[str, str]]) -> None:
    got = [(v.type, v.value) for v in shop.tag_values("t1", tag)]
    assert sorted(got) == sorted(values)


def test_tag_values_obey_limit_window_and_tenant(shop: SpanStore) -> None:
    assert len(shop.tag_values("t1", "name", limit=1)) == 1
    assert shop.tag_values("t1", "name", start_ns=500) == [
        TagValue("string", "GET /cart"),
        TagValue("string", "SELECT"),
    ]
    assert shop.tag_values("t2", "status") == [TagValue("keyword", "error")]


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
def test_bad_tag_requests_say_what_is_wrong(shop: SpanStore, call: Callable[[SpanStore], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(shop)
