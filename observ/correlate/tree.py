"""A trace's spans as a tree: parent before children, siblings by start time, each with its depth.

Stored traces are often incomplete or odd: a parent not received yet, a span naming itself or a cycle as its
parent (a buggy or hostile client), Zipkin-style client and server spans sharing one ID. None of that may hang
or lose a span: a span whose parent is not stored is a root marked `orphan`, and spans that only a cycle
reaches are listed as orphan roots too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

from observ.correlate.models import SpanKind, SpanNode, SpanStatus
from observ.traces.model import Span
from observ.traces.tags import KIND, STATUS

_KIND: dict[int, SpanKind] = {KIND[k]: k for k in get_args(SpanKind)}
_STATUS: dict[int, SpanStatus] = {STATUS[k]: k for k in get_args(SpanStatus)}


def _order(span: Span) -> tuple[int, str, int]:
    return (span.start_ns, span.span_id, span.kind)


def span_tree(spans: Sequence[Span], limit: int | None = None) -> list[SpanNode]:
    """The spans in depth-first order (at most `limit` of them, the tree's first ones)."""
    ordered = sorted(spans, key=_order)
    first: dict[str, int] = {}
    for i, s in enumerate(ordered):
        first.setdefault(s.span_id, i)
    parent: list[int | None] = []
    for i, s in enumerate(ordered):
        p = first.get(s.parent_span_id) if s.parent_span_id else None
        parent.append(None if p == i else p)
    children: list[list[int]] = [[] for _ in ordered]
    for i, p in enumerate(parent):
        if p is not None:
            children[p].append(i)
    out: list[SpanNode] = []
    seen = [False] * len(ordered)
    cap = len(ordered) if limit is None else limit

    def walk(root: int) -> None:
        stack = [(root, 0)]
        while stack and len(out) < cap:
            i, depth = stack.pop()
            seen[i] = True
            out.append(_node(ordered[i], depth, [ordered[c].span_id for c in children[i]]))
            stack.extend((c, depth + 1) for c in reversed(children[i]) if not seen[c])

    for i, p in enumerate(parent):
        if p is None:
            walk(i)
    for i, p in enumerate(parent):  # reached by no root: a parent cycle, cut above `i`
        if not seen[i] and p is not None:
            children[p].remove(i)
            walk(i)
    return out


def _node(s: Span, depth: int, children: list[str]) -> SpanNode:
    return SpanNode(
        span_id=s.span_id,
        parent_span_id=s.parent_span_id,
        children=children,
        depth=depth,
        orphan=depth == 0 and bool(s.parent_span_id),
        service=s.service,
        name=s.name,
        kind=_KIND.get(s.kind, "unspecified"),
        status=_STATUS.get(s.status_code, "unset"),
        status_message=s.status_message,
        start_ns=s.start_ns,
        end_ns=s.end_ns,
        duration_ms=(s.end_ns - s.start_ns) / 1e6,
        attributes=s.attributes,
    )
