"""The Loki HTTP API: thin handlers over params -> engine -> responses, with Loki's status codes.

Errors are plain text as Loki's `WriteError` writes them: 400 for the client's fault (bad
parameters, LogQL errors, limits), 504 for a query timeout, 500 only for bugs, never for input.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import APIRouter, Request, Response, WebSocket
from starlette.concurrency import run_in_threadpool

from observ.api.auth import AuthError, Tenancy
from observ.api.config import ApiConfig
from observ.api.loki import body, content_encoding, drilldown_limits, push, volume
from observ.api.loki import detected_labels as dl
from observ.api.loki import params as p
from observ.api.loki.detected import LineParser, detect_field_values, detect_fields
from observ.api.loki.events import ApiMetrics, InternalError, PushRefused, PushRejected, PushStored
from observ.api.loki.responses import (
    ENCODING_FLAGS_HEADER,
    encode_data,
    encode_plain,
    encode_query,
    wants_categorized,
)
from observ.api.loki.tail import Tailer
from observ.logql.errors import LogQLError, QueryTimeout
from observ.logql.results import QueryResult, StreamResult, Streams
from observ.logql.syntax import ast
from observ.store.logstore import LogStore, StoreWriteError
from observ.store.streams import StreamIndex

JSON = "application/json"
TIMEOUT_MESSAGE = (
    "request timed out, decrease the duration of the request or add more label matchers "
    "(prefer exact match over regex match) to reduce the amount of data processed"
)


class QueryEngine(Protocol):
    """The engine as the API sees it (observ.logql.engine.Engine)."""

    def query_range(
        self, query: str, *, tenant: str, start_ns: int, end_ns: int, step_ns: int, limit: int = 100,
        direction: str = "backward",
    ) -> QueryResult: ...  # fmt: skip

    def query_instant(
        self, query: str, *, tenant: str, time_ns: int, limit: int = 100, direction: str = "backward"
    ) -> QueryResult: ...

    def labels(self, *, tenant: str, start_ns: int, end_ns: int, query: str | None = None) -> list[str]: ...

    def label_values(
        self, name: str, *, tenant: str, start_ns: int, end_ns: int, query: str | None = None
    ) -> list[str]: ...

    def series(self, matches: list[str], *, tenant: str, start_ns: int, end_ns: int) -> list[dict[str, str]]: ...

    def index_stats(self, query: str, *, tenant: str, start_ns: int, end_ns: int) -> dict[str, int]: ...


class Formatter(Protocol):
    def __call__(self, query: str) -> str: ...


def text(status: int, message: str) -> Response:
    headers = {"X-Content-Type-Options": "nosniff"}
    return Response(message, status_code=status, media_type="text/plain; charset=utf-8", headers=headers)


async def not_found(request: Request, exc: Exception) -> Response:
    """A path nobody serves: Go's `http.NotFound`, as Loki's router answers it, not FastAPI's JSON.

    For `app.add_exception_handler(404, not_found)`: it sees only the router's 404; routes that answer 404
    themselves (a trace not found, nothing to correlate) return their own bodies.
    """
    return text(404, "404 page not found\n")


def json_response(body: bytes) -> Response:
    return Response(body, media_type=JSON)


async def answer(
    request: Request, route: str, tenancy: Tenancy, metrics: ApiMetrics, work: Callable[[str, p.Form], bytes]
) -> Response:
    """A Loki query route: tenant, form, work (in a worker thread: the engine blocks), and the error mapping."""
    try:
        tenant = tenancy.tenant(request.headers)
        form = await body.read_form(request)
        return json_response(await run_in_threadpool(work, tenant, form))
    except AuthError as e:
        return text(e.status, str(e))
    except body.BodyTooLarge:
        return text(400, body.FORM_TOO_LARGE)
    except body.BodyIncomplete as e:
        return text(400, str(e))
    except (p.ParamError, LogQLError) as e:
        return text(400, str(e))
    except QueryTimeout:
        return text(504, TIMEOUT_MESSAGE)
    except Exception as e:
        InternalError(route, e).emit(metrics)
        return text(500, "internal error")


def default_formatter(query: str) -> str:
    from observ.logql.syntax.format import format_expr
    from observ.logql.syntax.parser import parse

    return format_expr(parse(query))


def require_log_query(query: str) -> None:
    """Tail and detected_fields read lines: refuse a metric query before running it."""
    from observ.logql.syntax.parser import parse

    if not isinstance(parse(query), ast.LogExpr):
        raise LogQLError("only log queries (a stream selector and an optional pipeline) are supported here")


def default_line_parsers() -> tuple[LineParser, LineParser]:
    """Loki's detection parsers: `json`, then non-strict `logfmt`; a line either refuses counts as unparsed."""
    from observ.logql.log.json import parse_json
    from observ.logql.log.logfmt import logfmt_pairs, parse_logfmt

    def json_fields(line: str) -> dict[str, str] | None:
        try:
            return parse_json(line)
        except ValueError:
            return None

    def logfmt_fields(line: str) -> dict[str, str] | None:
        return None if logfmt_pairs(line)[1] is not None else parse_logfmt(line)

    return json_fields, logfmt_fields


class LokiApi:
    """The routes, bound to one engine, store and configuration."""

    def __init__(
        self,
        engine: QueryEngine,
        store: LogStore,
        config: ApiConfig,
        metrics: ApiMetrics,
        ready: Callable[[], bool],
        *,
        formatter: Formatter = default_formatter,
        line_parsers: Callable[[], tuple[LineParser, LineParser]] = default_line_parsers,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.engine = engine
        self.store = store
        self.config = config
        self.metrics = metrics
        self.ready = ready
        self.tenancy = Tenancy(config.auth)
        self.formatter = formatter
        self.line_parsers = line_parsers
        self.now_ns = now_ns
        self.index = StreamIndex(store, config.limits)
        self._evaluating = threading.BoundedSemaphore(config.limits.max_concurrent)
        """Queries evaluated at once (Loki's querier.max-concurrent); the others wait in their worker threads."""

    async def _answer(self, request: Request, route: str, work: Callable[[str, p.Form, Request], bytes]) -> Response:
        return await answer(
            request, route, self.tenancy, self.metrics, lambda tenant, form: work(tenant, form, request)
        )

    # --- queries ---------------------------------------------------------------------------------

    def _query_range(self, tenant: str, form: p.Form, request: Request) -> bytes:
        q = p.range_query(form, self.now_ns())
        with self._evaluating:
            result = self.engine.query_range(
                q.query, tenant=tenant, start_ns=q.start_ns, end_ns=q.end_ns, step_ns=q.step_ns, limit=q.limit,
                direction=q.direction,
            )  # fmt: skip
        categorize = wants_categorized(request.headers.get(ENCODING_FLAGS_HEADER))
        backward = q.direction == "backward"
        return encode_query(result, categorize=categorize, backward=backward, interval_ns=q.interval_ns)

    def _query_instant(self, tenant: str, form: p.Form, request: Request) -> bytes:
        q = p.instant_query(form, self.now_ns())
        with self._evaluating:
            result = self.engine.query_instant(
                q.query, tenant=tenant, time_ns=q.time_ns, limit=q.limit, direction=q.direction
            )
        categorize = wants_categorized(request.headers.get(ENCODING_FLAGS_HEADER))
        return encode_query(result, categorize=categorize, backward=q.direction == "backward")

    def _labels(self, tenant: str, form: p.Form, request: Request) -> bytes:
        q = p.label_query(form, self.now_ns())
        names = self.engine.labels(tenant=tenant, start_ns=q.start_ns, end_ns=q.end_ns, query=q.query)
        return encode_data(names[: self.config.max_label_values])

    def _label_values(self, tenant: str, form: p.Form, request: Request) -> bytes:
        q = p.label_query(form, self.now_ns())
        name = request.path_params["name"]
        if not push.LABEL_NAME.fullmatch(name):
            return encode_data([])  # no stream carries a label by that name
        values = self.engine.label_values(name, tenant=tenant, start_ns=q.start_ns, end_ns=q.end_ns, query=q.query)
        return encode_data(values[: self.config.max_label_values])

    def _series(self, tenant: str, form: p.Form, request: Request) -> bytes:
        q = p.series_query(form, self.now_ns())
        return encode_data(self.engine.series(q.matches, tenant=tenant, start_ns=q.start_ns, end_ns=q.end_ns))

    def _index_stats(self, tenant: str, form: p.Form, request: Request) -> bytes:
        q = p.range_query(form, self.now_ns())
        return encode_plain(self.engine.index_stats(q.query, tenant=tenant, start_ns=q.start_ns, end_ns=q.end_ns))

    def _format_query(self, tenant: str, form: p.Form, request: Request) -> bytes:
        return encode_data(self.formatter(p.get(form, "query")))

    def _sampled_streams(self, tenant: str, q: p.DetectedFieldsQuery) -> list[StreamResult]:
        """The lines detected_fields reads: the newest `line_limit` the log query selects."""
        require_log_query(q.query)
        result = self.engine.query_range(
            q.query, tenant=tenant, start_ns=q.start_ns, end_ns=q.end_ns, step_ns=p.NS, limit=q.line_limit,
            direction="backward",
        )  # fmt: skip
        if not isinstance(result.data, Streams):
            raise LogQLError("only log queries (a stream selector and an optional pipeline) are supported here")
        return result.data.streams

    def _detected_fields(self, tenant: str, form: p.Form, request: Request) -> bytes:
        q = p.detected_fields_query(form, self.now_ns())
        parse_json, parse_logfmt = self.line_parsers()
        fields = detect_fields(self._sampled_streams(tenant, q), q.limit, parse_json, parse_logfmt)
        # Loki's response omits empty fields and gives the limit only with an answer (`omitempty`)
        return encode_plain({"fields": fields, "limit": q.limit} if fields else {})

    def _field_values(self, tenant: str, form: p.Form, request: Request) -> bytes:
        q = p.detected_fields_query(form, self.now_ns())
        parse_json, parse_logfmt = self.line_parsers()
        name = request.path_params["name"]
        values = detect_field_values(self._sampled_streams(tenant, q), name, q.limit, parse_json, parse_logfmt)
        return encode_plain({"values": values, "limit": q.limit} if values else {})

    def _volume(self, tenant: str, form: p.Form, request: Request) -> bytes:
        return self._volumes(tenant, volume.volume_instant_query(form, self.now_ns()))

    def _volume_range(self, tenant: str, form: p.Form, request: Request) -> bytes:
        return self._volumes(tenant, volume.volume_range_query(form, self.now_ns()))

    def _volumes(self, tenant: str, q: volume.VolumeQuery) -> bytes:
        plan = volume.plan(q.query, q.target_labels)
        steps = volume.steps(q.start_ns, q.end_ns, q.step_ns)
        if plan is None:
            return volume.encode({}, steps.stamps_ms)
        rows = self.index.volumes(
            plan.selector, tenant=tenant, start_ns=q.start_ns, end_ns=q.end_ns, origin_ns=steps.origin_ns,
            step_ns=steps.step_ns,
        )  # fmt: skip
        return volume.encode(volume.aggregate(rows, plan, q.aggregate_by, q.limit), steps.stamps_ms)

    def _detected_labels(self, tenant: str, form: p.Form, request: Request) -> bytes:
        q = dl.detected_labels_query(form, self.now_ns())
        streams = self.index.streams(q.selector, tenant=tenant, start_ns=q.start_ns, end_ns=q.end_ns)
        return dl.encode(dl.detected_labels(streams))

    # --- push ------------------------------------------------------------------------------------

    def _store(self, tenant: str, data: bytes, content_type: str, content_encoding: str) -> push.PushPlan:
        cfg = self.config.push
        streams = push.decode(data, content_type, content_encoding, cfg.max_body_bytes)
        planned = push.plan(streams, tenant, cfg)
        if planned.batches:
            self.store.append(planned.batches)
        return planned

    async def push(self, request: Request) -> Response:
        tenant = ""
        try:
            tenant = self.tenancy.tenant(request.headers)
            data = await body.read_capped(request, self.config.push.max_body_bytes)
            planned = await run_in_threadpool(
                self._store,
                tenant,
                data,
                request.headers.get("content-type", ""),
                request.headers.get("content-encoding", ""),
            )
        except AuthError as e:
            return text(e.status, str(e))
        except (content_encoding.BodyTooLarge, body.BodyTooLarge) as e:
            PushRejected("request_too_large", tenant, str(e)).emit(self.metrics)
            return text(413, str(e) + "\n")
        except (content_encoding.PushError, body.BodyIncomplete) as e:
            PushRejected("invalid_request", tenant, str(e)).emit(self.metrics)
            return text(400, str(e) + "\n")
        except StoreWriteError as e:  # disk full: nothing kept; 503 makes Promtail, Alloy and OTel retry
            PushRejected("store_unavailable", tenant, str(e)).emit(self.metrics)
            return text(503, f"cannot store the entries now: {e}\n")
        except Exception as e:
            InternalError("loki_api_v1_push", e).emit(self.metrics)
            return text(500, "internal error\n")
        PushStored(tenant, planned.accepted_lines, planned.accepted_bytes, planned.dropped_metadata).emit(self.metrics)
        for reason, n in planned.discarded.items():
            PushRefused(reason, tenant, "; ".join(planned.errors)).emit(self.metrics, n)
        if planned.errors:
            return text(400, "\n".join(planned.errors) + "\n")
        return Response(status_code=204)

    # --- tail ------------------------------------------------------------------------------------

    async def tail(self, ws: WebSocket) -> None:
        try:
            tenant = self.tenancy.tenant(ws.headers)
            form = {k: ws.query_params.getlist(k) for k in ws.query_params}
            q = p.tail_query(form, self.now_ns())
            require_log_query(q.query)
            tailer = Tailer(
                self.engine, tenant, q, categorize=wants_categorized(ws.headers.get(ENCODING_FLAGS_HEADER)),
                poll_interval_s=self.config.tail.poll_interval_s, metrics=self.metrics, now_ns=self.now_ns,
            )  # fmt: skip
            first = await tailer.first()
        except AuthError as e:
            await ws.send_denial_response(text(e.status, str(e)))
            return
        except (p.ParamError, LogQLError) as e:
            await ws.send_denial_response(text(400, str(e)))
            return
        except QueryTimeout:
            await ws.send_denial_response(text(504, TIMEOUT_MESSAGE))
            return
        except Exception as e:
            InternalError("loki_api_v1_tail", e).emit(self.metrics)
            await ws.send_denial_response(text(500, "internal error"))
            return
        await ws.accept()
        await tailer.run(ws, first)

    # --- routing ---------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        r = APIRouter()
        handlers: dict[str, tuple[str, Callable[[str, p.Form, Request], bytes]]] = {
            "/loki/api/v1/query_range": ("loki_api_v1_query_range", self._query_range),
            "/loki/api/v1/query": ("loki_api_v1_query", self._query_instant),
            "/loki/api/v1/labels": ("loki_api_v1_labels", self._labels),
            "/loki/api/v1/label": ("loki_api_v1_label", self._labels),
            "/loki/api/v1/label/{name}/values": ("loki_api_v1_label_name_values", self._label_values),
            "/loki/api/v1/series": ("loki_api_v1_series", self._series),
            "/loki/api/v1/index/stats": ("loki_api_v1_index_stats", self._index_stats),
            "/loki/api/v1/format_query": ("loki_api_v1_format_query", self._format_query),
            "/loki/api/v1/detected_fields": ("loki_api_v1_detected_fields", self._detected_fields),
            "/loki/api/v1/detected_field/{name}/values": ("loki_api_v1_detected_field_values", self._field_values),
            "/loki/api/v1/detected_labels": ("loki_api_v1_detected_labels", self._detected_labels),
            "/loki/api/v1/index/volume": ("loki_api_v1_index_volume", self._volume),
            "/loki/api/v1/index/volume_range": ("loki_api_v1_index_volume_range", self._volume_range),
        }
        for path, (route, work) in handlers.items():
            endpoint = self._endpoint(route, work)
            for method in ("GET", "POST"):  # a route each: one route with both methods gives both one OpenAPI id
                r.add_api_route(path, endpoint, methods=[method], name=route)
        limits = drilldown_limits.response_body(self.config)
        r.add_api_route(  # GET only, as Loki's router has it (a POST answers 405)
            "/loki/api/v1/drilldown-limits",
            self._endpoint("loki_api_v1_drilldown_limits", lambda tenant, form, request: limits),
            methods=["GET"],
            name="loki_api_v1_drilldown_limits",
        )
        r.add_api_route("/loki/api/v1/push", self.push, methods=["POST"], name="loki_api_v1_push")
        r.add_api_websocket_route("/loki/api/v1/tail", self.tail, name="loki_api_v1_tail")
        r.add_api_route("/ready", self._ready, methods=["GET"], name="ready")
        return r

    def _endpoint(
        self, route: str, work: Callable[[str, p.Form, Request], bytes]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self._answer(request, route, work)

        endpoint.__name__ = route
        return endpoint

    async def _ready(self) -> Response:
        return text(200, "ready\n") if self.ready() else text(503, "Ingester not ready: waiting for the store\n")
