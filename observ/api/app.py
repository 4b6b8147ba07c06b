"""The query service's HTTP app: the Loki API, health, metrics, and recent lines per service."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import FastAPI, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observ.api.auth import AuthError, Tenancy
from observ.api.config import ApiConfig
from observ.api.correlate.routes import correlate_router
from observ.api.loki.events import ApiMetrics
from observ.api.loki.patterns import patterns_router
from observ.api.loki.routes import LokiApi, QueryEngine, not_found, text
from observ.api.otlp.events import OtlpMetrics
from observ.api.otlp.receiver import LogsReceiver, TracesReceiver
from observ.api.otlp.routes import OtlpApi
from observ.correlate.correlator import Correlator
from observ.correlate.logs import LogReader
from observ.correlate.prometheus import PrometheusClient, PrometheusClientMetrics
from observ.store.logstore import LogStore
from observ.traces.store import SpanStore


class LogLine(BaseModel):
    ts: str
    level: str
    trace_id: str
    span_id: str
    pod: str
    container: str
    stream: str
    line: str


class RecentLines(BaseModel):
    service: str
    tenant: str
    lines: list[LogLine]


class ServiceSummary(BaseModel):
    service: str
    lines: int
    last_ts: str


def route_name(path: str) -> str:
    """Loki's route label: `/loki/api/v1/label/{name}/values` -> `loki_api_v1_label_name_values`."""
    return re.sub(r"[^a-zA-Z0-9]+", "_", path).strip("_") or "root"


class RequestTimer:
    """Times every HTTP request into `observ_api_request_duration_seconds{method,route,status_code}`."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            name = route_name(route.path) if route is not None and hasattr(route, "path") else "other"
            self.metrics.request_seconds.labels(scope["method"], name, str(status)).observe(time.perf_counter() - start)


def create_app(
    store: LogStore,
    registry: CollectorRegistry,
    ready: Callable[[], bool],
    *,
    engine: QueryEngine | None = None,
    config: ApiConfig | None = None,
    otlp_logs: LogsReceiver | None = None,
    otlp_traces: TracesReceiver | None = None,
    spans: SpanStore | None = None,
    prometheus: PrometheusClient | None = None,
) -> FastAPI:
    """`otlp_logs`, `otlp_traces`: the receivers shared with the gRPC server; made on `registry` when not given.
    `spans`: the spans store (kept on `app.state.spans`); without one the app neither receives nor serves traces.
    `prometheus`: the client correlation reads metrics with; made from `config.prometheus` (its metrics on
    `registry`) when not given, none when that is not set either (kept on `app.state.prometheus`)."""
    config = config or ApiConfig()
    if engine is None:
        from observ.logql.engine import Engine
        from observ.store.querier import LogQuerier

        engine = Engine(LogQuerier(store), config.limits)
    metrics = ApiMetrics(registry)
    tenancy = Tenancy(config.auth)
    app = FastAPI(title="observ", docs_url="/docs", redoc_url=None)
    app.add_exception_handler(404, not_found)
    app.state.spans = spans
    if spans is not None:
        from observ.api.tempo.routes import tempo_router

        app.include_router(tempo_router(spans, tenancy))
    app.include_router(LokiApi(engine, store, config, metrics, ready).router())
    app.include_router(patterns_router(engine, tenancy, metrics, config.limits.max_entries, config.patterns))
    if prometheus is None and config.prometheus is not None:
        prometheus = PrometheusClient(config.prometheus, metrics=PrometheusClientMetrics(registry))
    app.state.prometheus = prometheus
    correlator = Correlator(LogReader(engine), spans, prometheus, config.correlate_within_limits())
    app.include_router(correlate_router(correlator, tenancy))
    if config.otlp.enabled:
        given = otlp_logs or otlp_traces
        otlp_metrics = given.metrics if given else OtlpMetrics(registry)
        logs = otlp_logs or LogsReceiver(store, config, otlp_metrics)
        traces = otlp_traces or (TracesReceiver(spans, config, otlp_metrics) if spans is not None else None)
        app.include_router(OtlpApi(logs, traces).router())
    app.add_middleware(RequestTimer, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Served at /metrics itself: a mounted app would answer with a redirect to /metrics/."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz(response: Response) -> dict[str, str]:
        """503 while a store (logs or spans) cannot commit (disk full, I/O errors): up but losing ground."""
        error = store.write_error or (spans.write_error if spans is not None else None)
        if error:
            response.status_code = 503
            return {"status": "cannot write", "error": error}
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(response: Response) -> dict[str, str]:
        ok = ready()
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "starting"}

    @app.get("/api/v1/services", response_model=list[ServiceSummary])
    def services(request: Request) -> list[ServiceSummary] | Response:
        try:
            tenant = tenancy.tenant(request.headers)
        except AuthError as e:
            return text(e.status, str(e))
        return [ServiceSummary.model_validate(s) for s in store.services(tenant)]

    @app.get("/api/v1/logs", response_model=RecentLines)
    def recent(
        request: Request, service: str, limit: Annotated[int, Query(ge=1, le=5000)] = 100
    ) -> RecentLines | Response:
        """Newest lines of one service, newest first (ts as ns strings, as Loki does)."""
        try:
            tenant = tenancy.tenant(request.headers)
        except AuthError as e:
            return text(e.status, str(e))
        rows = store.recent(service, limit, tenant)
        lines = [LogLine.model_validate({**r, "ts": str(r["ts"])}) for r in rows]
        return RecentLines(service=service, tenant=tenant, lines=lines)

    return app
