"""Tempo's `GET /api/search`: TraceQL (`q`) or the older `tags` / `minDuration` / `maxDuration` form, answered
in Tempo's JSON (tempopb.SearchResponse as Tempo's jsonpb marshaller writes it: zero values left out, 64-bit
integers as strings).

Parameters are read as Tempo's `api.ParseSearchRequest` reads them, with its error messages; every fault is a
plain-text 400. Tempo's `SearchResponse` proto is not in opentelemetry-proto, so an `Accept:
application/protobuf` caller gets JSON too.
"""

from __future__ import annotations

from typing import Any

import orjson
import re2
from fastapi import APIRouter, Request, Response
from google.protobuf.json_format import MessageToDict
from starlette.datastructures import QueryParams

from observ.api.auth import AuthError, Tenancy
from observ.api.loki.routes import json_response, text
from observ.api.tempo.routes import BadRequest, window
from observ.gocompat.durations import parse_duration
from observ.logql.log.logfmt import logfmt_pairs
from observ.otlp.anyvalue import attributes_from_json
from observ.traces.query import AllOf, Condition, Expr, MatchedSpan, SpanQuery, TraceSummary
from observ.traces.store import SpanStore
from observ.traces.tags import STATUS
from observ.traces.traceql.compile import compile_query
from observ.traces.traceql.errors import TraceQLError
from observ.traces.traceql.parser import parse

DEFAULT_LIMIT = 20
MAX_LIMIT = 10_000
DEFAULT_SPSS = 3
MAX_SPSS = 1000
ROOT_NOT_RECEIVED = "<root span not yet received>"
"""Tempo's rootServiceName for a trace whose root span is not stored (yet)."""
_SUBSTRING_TAGS = {"service.name": "resource.service.name", "name": "name", "root.service.name": "rootServiceName",
                   "root.name": "rootName"}  # fmt: skip
"""Tags Tempo's legacy search matches as substrings (its dedicated columns), and the tag each reads here."""


def _uint(params: QueryParams, name: str, default: int, maximum: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest(f'invalid {name}: strconv.ParseUint: parsing "{raw[:40]}": invalid syntax')
    value = int(raw[:20])
    if len(raw) > 20 or value > maximum:
        raise BadRequest(f"invalid {name}: {raw[:40]} is more than the maximum of {maximum}")
    return value


def _duration_ns(params: QueryParams, name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        ns = parse_duration(raw)
    except ValueError as e:
        raise BadRequest(f"invalid {name}: {e}") from None
    if ns < 0:
        raise BadRequest(f"invalid {name}: {raw[:40]} is negative")
    return ns // 1_000_000 * 1_000_000  # Tempo keeps whole milliseconds


def _tag_conditions(encoded: str) -> list[Expr]:
    """`tags=service.name=cart http.status_code=500`: one spanset per tag, each read as Tempo's legacy search
    reads it (substrings for its dedicated columns, `status.code` as a status, integers for
    `http.status_code`, exact strings of span or resource attributes otherwise)."""
    pairs, err = logfmt_pairs(encoded, strict=True)
    if err:
        raise BadRequest(f"invalid tags: {err}")
    seen: set[str] = set()
    out: list[Expr] = []
    for key, value in pairs:
        if key in seen:
            raise BadRequest(f"invalid tags: tag {key} has been set twice")
        seen.add(key)
        if key == "status.code":
            if value not in STATUS:
                raise BadRequest(f"invalid tags: status.code {value[:40]!r} is not one of {', '.join(STATUS)}")
            out.append(Condition(tag="status", op="=", value=value))
        elif key in _SUBSTRING_TAGS:
            out.append(Condition(tag=_SUBSTRING_TAGS[key], op="=~", value=f".*{re2.escape(value)}.*"))
        elif key == "http.status_code" and value.isdigit() and len(value) < 19:
            out.append(Condition(tag=".http.status_code", op="=", value=int(value)))
        else:
            out.append(Condition(tag=f".{key}", op="=", value=value))
    return out


def search_query(params: QueryParams, start_ns: int, end_ns: int) -> SpanQuery | None:
    """The query string as Tempo's `ParseSearchRequest` reads it (the window already read by `routes.window`);
    None when nothing can match (`{ false }`). BadRequest or a TraceQLError says what is wrong."""
    q, tags = params.get("q"), params.get("tags")
    if q is not None and tags is not None:
        raise BadRequest("invalid request: can't specify tags and q in the same query")
    min_ns, max_ns = _duration_ns(params, "minDuration"), _duration_ns(params, "maxDuration")
    if min_ns and max_ns is not None and min_ns > max_ns:
        raise BadRequest("invalid maxDuration: must be greater than minDuration")
    limit = _uint(params, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    if limit == 0:
        raise BadRequest("invalid limit: must be a positive number")
    spss = _uint(params, "spss", DEFAULT_SPSS, MAX_SPSS) or DEFAULT_SPSS
    if q is not None and q.strip():
        compiled = compile_query(parse(q), start_ns, end_ns, limit, spss)
        if compiled is None:
            return None
        sets = list(compiled.spansets)
    else:
        sets = _tag_conditions(tags) if tags else []
    bounds: list[Expr] = [Condition(tag="traceDuration", op=">=", value=min_ns)] if min_ns else []
    if max_ns:
        bounds.append(Condition(tag="traceDuration", op="<=", value=max_ns))
    if bounds:
        sets = [AllOf(all=[s, *bounds]) for s in sets] or [AllOf(all=bounds)]
    try:
        return SpanQuery(spansets=sets, start_ns=start_ns, end_ns=end_ns, limit=limit, spans_per_trace=spss)
    except ValueError as e:
        raise BadRequest(f"invalid request: {e}") from None


def _span_json(span: MatchedSpan) -> dict[str, Any]:
    out: dict[str, Any] = {"spanID": span.span_id}
    if span.name:
        out["name"] = span.name
    out["startTimeUnixNano"] = str(span.start_ns)
    if span.duration_ns:
        out["durationNanos"] = str(span.duration_ns)
    if span.attributes:
        out["attributes"] = [MessageToDict(kv) for kv in attributes_from_json(span.attributes)]
    return out


def trace_json(t: TraceSummary) -> dict[str, Any]:
    """One `TraceSearchMetadata`: the deprecated `spanSet` and `spanSets` hold the same set, as Tempo writes."""
    spanset: dict[str, Any] = {}
    if t.spans:
        spanset["spans"] = [_span_json(s) for s in t.spans]
    if t.matched:
        spanset["matched"] = t.matched
    out: dict[str, Any] = {"traceID": t.trace_id, "rootServiceName": t.root_service or ROOT_NOT_RECEIVED}
    if t.root_name:
        out["rootTraceName"] = t.root_name
    out["startTimeUnixNano"] = str(t.start_ns)
    if t.duration_ns >= 1_000_000:
        out["durationMs"] = min(t.duration_ns // 1_000_000, 2**32 - 1)
    out["spanSet"] = spanset
    out["spanSets"] = [spanset]
    return out


def search_json(found: list[TraceSummary]) -> bytes:
    """`SearchResponse`; `traces` is left out when empty, as jsonpb leaves out empty lists."""
    body: dict[str, Any] = {}
    if found:
        body["traces"] = [trace_json(t) for t in found]
    body["metrics"] = {"completedJobs": 1, "totalJobs": 1}
    return orjson.dumps(body)


def search_router(spans: SpanStore, tenancy: Tenancy) -> APIRouter:
    router = APIRouter(tags=["tempo"])

    @router.get("/api/search")
    def search(request: Request) -> Response:
        """Traces matching a TraceQL query (`q`) or tags, newest first: Tempo's SearchResponse JSON."""
        try:
            tenant = tenancy.tenant(request.headers)
            q = search_query(request.query_params, *window(request))
            found = spans.search(tenant, q) if q is not None else []
        except AuthError as e:
            return text(e.status, str(e))
        except (BadRequest, TraceQLError, ValueError) as e:
            return text(400, str(e))
        return json_response(search_json(found))

    return router
