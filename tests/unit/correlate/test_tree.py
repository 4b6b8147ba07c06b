"""span_tree: depth-first order, depth, children, orphans; odd traces (self-parent, cycles, shared IDs) lose nothing."""

from __future__ import annotations

from typing import Any

from observ.correlate.tree import span_tree
from observ.traces.model import Span


def sp(span_id: str, parent: str = "", start: int = 0, **kw: Any) -> Span:
    kw.setdefault("end_ns", start + 100)
    return Span(tenant="t", trace_id="a" * 32, span_id=span_id.rjust(16, "0"), parent_span_id=parent and
                parent.rjust(16, "0"), name=f"op-{span_id}", start_ns=start, **kw)  # fmt: skip


def shape(nodes: list) -> list[tuple[str, int, list[str], bool]]:
    return [(n.span_id.lstrip("0"), n.depth, [c.lstrip("0") for c in n.children], n.orphan) for n in nodes]


def test_parent_before_children_and_siblings_by_start_whatever_the_input_order() -> None:
    spans = [sp("c", "a", start=30), sp("b", "a", start=10), sp("d", "b", start=15), sp("a", start=0)]
    assert shape(span_tree(spans)) == [
        ("a", 0, ["b", "c"], False),
        ("b", 1, ["d"], False),
        ("d", 2, [], False),
        ("c", 1, [], False),
    ]


def test_a_span_whose_parent_is_not_stored_is_an_orphan_root() -> None:
    spans = [sp("a", start=0), sp("b", "f00d", start=5), sp("c", "b", start=6)]
    assert shape(span_tree(spans)) == [("a", 0, [], False), ("b", 0, ["c"], True), ("c", 1, [], False)]


def test_a_span_naming_itself_as_parent_is_an_orphan_root() -> None:
    assert shape(span_tree([sp("a", "a")])) == [("a", 0, [], True)]


def test_a_parent_cycle_is_listed_once_each_instead_of_looping() -> None:
    spans = [sp("r"), sp("a", "b", start=1), sp("b", "a", start=2)]
    got = shape(span_tree(spans))
    assert got == [("r", 0, [], False), ("a", 0, ["b"], True), ("b", 1, [], False)]


def test_client_and_server_spans_sharing_an_id_are_both_kept() -> None:
    """Zipkin's shared spans: one span ID, kinds client (3) and server (2); children attach to the first."""
    spans = [sp("r"), sp("s", "r", start=1, kind=3), sp("s", "r", start=2, kind=2), sp("x", "s", start=3)]
    got = span_tree(spans)
    assert [(n.span_id.lstrip("0"), n.kind, n.depth) for n in got] == [
        ("r", "unspecified", 0), ("s", "client", 1), ("x", "unspecified", 2), ("s", "server", 1)
    ]  # fmt: skip


def test_fields_names_and_duration() -> None:
    (node,) = span_tree([sp("a", start=1_000, end_ns=2_501_000, kind=2, status_code=2, status_message="boom",
                            service="cart", attributes={"http.status_code": 500})])  # fmt: skip
    assert node.kind == "server" and node.status == "error" and node.status_message == "boom"
    assert node.service == "cart" and node.duration_ms == 2.5 and node.attributes == {"http.status_code": 500}
    assert node.model_dump(mode="json")["start_ns"] == "1000"


def test_unknown_enum_values_read_as_unspecified_and_unset() -> None:
    (node,) = span_tree([sp("a", kind=99, status_code=-1)])
    assert (node.kind, node.status) == ("unspecified", "unset")


def test_limit_keeps_the_first_spans_of_the_tree() -> None:
    spans = [sp("a"), *(sp(f"{i:x}", "a", start=i) for i in range(1, 50))]
    got = span_tree(spans, limit=3)
    assert [n.span_id.lstrip("0") for n in got] == ["a", "1", "2"]
    assert len(got[0].children) == 49


def test_a_deep_chain_does_not_recurse() -> None:
    n = 5_000
    spans = [sp(f"{i + 1:x}", f"{i:x}" if i else "", start=i) for i in range(n)]
    got = span_tree(spans)
    assert len(got) == n and got[-1].depth == n - 1


def test_no_spans() -> None:
    assert span_tree([]) == []
