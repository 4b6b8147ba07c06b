"""Tempo's trace API over the spans store: `/api/traces/<id>`, `/api/v2/traces/<id>`, `/api/echo` and the tag
lookups (`/api/search/tags`, `/api/v2/search/tags`, `.../tag/<tag>/values`).

Errors are plain text as Tempo's `http.Error` writes them: 400 for the caller's fault (a bad trace ID, window,
scope or tag), 404 "trace not found"; tenancy as the Loki API (`X-Scope-OrgID`, optional tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import orjson
from fastapi import APIRouter, Request, Response

from observ.api.auth import AuthError, Tenancy
from observ.api.loki.routes import json_response, text
from observ.api.tempo import encode
from observ.traces import tags
from observ.traces.model import Span
from observ.traces.store import FAR, SpanStore

PROTOBUF = "application/protobuf"
SCOPES: dict[str, tags.Scope] = {"resource": "resource", "span": "span", "intrinsic": "intrinsic"}
MAX_SECONDS = FAR // 1_000_000_000


class BadRequest(ValueError):
    """The caller's fault: answered 400 with the message."""


def trace_id(text: str) -> str:
    """Tempo's ParseTraceID rules and messages: hex only, at most 128 bits, left-padded with zeros."""
    for pos, c in enumerate(text, 1):
        if c not in "0123456789abcdefABCDEF":
            raise BadRequest(f"trace IDs can only contain hex characters: invalid character '{c}' at position {pos}")
    if not text:
        raise BadRequest("trace IDs can't be empty")
    if len(text) > 32:
        raise BadRequest("trace ids can't be larger than 128 bits")
    return text.lower().rjust(32, "0")


def _seconds(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"invalid {name}: {raw[:40]!r} is not a Unix time in seconds") from None
    if not 0 <= value <= MAX_SECONDS:
        raise BadRequest(f"invalid {name}: {value} is outside 0 to {MAX_SECONDS}")
    return value


def window(request: Request) -> tuple[int, int]:
    """`start`/`end` in Unix seconds as a nanosecond window [start, end]; either may be absent."""
    start, end = _seconds(request, "start"), _seconds(request, "end")
    start_ns = 0 if start is None else start * 1_000_000_000
    end_ns = FAR if end is None else min(end * 1_000_000_000 + 1, FAR)
    if start_ns >= end_ns:
        raise BadRequest(f"invalid start: {start} is not before end {end}")
    return start_ns, end_ns


def _wants_protobuf(request: Request) -> bool:
    return PROTOBUF in request.headers.get("accept", "")


def tempo_router(spans: SpanStore, tenancy: Tenancy) -> APIRouter:
    router = APIRouter(tags=["tempo"])

    def answer(request: Request, build: Callable[[str], Response]) -> Response:
        try:
            return build(tenancy.tenant(request.headers))
        except AuthError as e:
            return text(e.status, str(e))
        except ValueError as e:  # BadRequest, or the store refusing a tag or window
            return text(400, str(e))

    def found(request: Request, tenant: str, raw_id: str) -> list[Span] | None:
        """The trace's spans; None when it has none, or none in the `start`/`end` window."""
        tid = trace_id(raw_id)
        start_ns, end_ns = window(request)
        got = spans.trace(tenant, tid)
        if not any(s.start_ns < end_ns and s.end_ns >= start_ns for s in got):
            return None
        return got

    def by_id(request: Request, raw_id: str, version: Literal[1, 2]) -> Response:
        def build(tenant: str) -> Response:
            got = found(request, tenant, raw_id)
            if got is None:
                return text(404, "trace not found")
            data = encode.traces_data(got)
            if _wants_protobuf(request):
                body = encode.v1_protobuf(data) if version == 1 else encode.v2_protobuf(data)
                return Response(body, media_type=PROTOBUF)
            return json_response(encode.v1_json(data) if version == 1 else encode.v2_json(data))

        return answer(request, build)

    @router.get("/api/traces/{trace_id}")
    def trace_v1(request: Request, trace_id: str) -> Response:
        """tempopb.Trace: `{"batches": [ResourceSpans...]}`, protobuf on `Accept: application/protobuf`."""
        return by_id(request, trace_id, 1)

    @router.get("/api/v2/traces/{trace_id}")
    def trace_v2(request: Request, trace_id: str) -> Response:
        """TraceByIDResponse: `{"trace": {"resourceSpans": [...]}}`, protobuf on `Accept: application/protobuf`."""
        return by_id(request, trace_id, 2)

    @router.get("/api/echo")
    def echo() -> Response:
        return Response("echo", media_type="text/plain; charset=utf-8")

    def names(request: Request, tenant: str, scope: tags.Scope | None) -> dict[tags.Scope, list[str]]:
        start_ns, end_ns = window(request)
        return spans.tag_names(tenant, scope, start_ns, end_ns)

    def values(request: Request, tenant: str, tag: str) -> list[tags.TagValue]:
        start_ns, end_ns = window(request)
        raw = request.query_params.get("limit", "") or "1000"
        if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
            raise BadRequest(f"invalid limit: {raw[:40]!r} is not an integer from 1 to 100000")
        return spans.tag_values(tenant, tag, start_ns, end_ns, int(raw))

    @router.get("/api/v2/search/tags")
    def tags_v2(request: Request) -> Response:
        """`{"scopes": [{"name": "resource", "tags": [...]}, ...]}`; `scope` picks one (none/all: every scope)."""

        def build(tenant: str) -> Response:
            scope = request.query_params.get("scope", "")
            if scope not in (*SCOPES, "", "none", "all"):
                raise BadRequest(f"invalid scope: {scope[:40]!r} is not one of resource, span, intrinsic, all")
            found = names(request, tenant, SCOPES.get(scope))
            scopes = [{"name": s, "tags": found[s]} for s in SCOPES.values() if s in found]
            return json_response(orjson.dumps({"scopes": scopes}))

        return answer(request, build)

    @router.get("/api/search/tags")
    def tags_v1(request: Request) -> Response:
        """`{"tagNames": [...]}`: span and resource attribute names together, as Tempo's v1 lists them."""

        def build(tenant: str) -> Response:
            found = names(request, tenant, None)
            return json_response(orjson.dumps({"tagNames": sorted({*found["resource"], *found["span"]})}))

        return answer(request, build)

    @router.get("/api/v2/search/tag/{tag}/values")
    def tag_values_v2(request: Request, tag: str) -> Response:
        """`{"tagValues": [{"type": "string", "value": "..."}]}`."""

        def build(tenant: str) -> Response:
            found = [{"type": v.type, "value": v.value} for v in values(request, tenant, tag)]
            return json_response(orjson.dumps({"tagValues": found}))

        return answer(request, build)

    @router.get("/api/search/tag/{tag}/values")
    def tag_values_v1(request: Request, tag: str) -> Response:
        """`{"tagValues": ["..."]}`: the values as strings."""

        def build(tenant: str) -> Response:
            return json_response(orjson.dumps({"tagValues": [v.value for v in values(request, tenant, tag)]}))

        return answer(request, build)

    from observ.api.tempo.search import search_router  # imported here: search.py reads this module's window

    router.include_router(search_router(spans, tenancy))
    return router
