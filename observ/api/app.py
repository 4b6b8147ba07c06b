"""The query service's HTTP app. Issue-2 scope: health, metrics and recent lines per service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import FastAPI, Header, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from observ.store.logstore import LogStore


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


def create_app(store: LogStore, registry: CollectorRegistry, ready: Callable[[], bool]) -> FastAPI:
    app = FastAPI(title="observ", docs_url="/docs", redoc_url=None)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Served at /metrics itself: a mounted app would answer with a redirect to /metrics/."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(response: Response) -> dict[str, str]:
        ok = ready()
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "starting"}

    @app.get("/api/v1/services")
    def services(x_scope_orgid: Annotated[str, Header()] = "default") -> list[ServiceSummary]:
        return [ServiceSummary.model_validate(s) for s in store.services(x_scope_orgid)]

    @app.get("/api/v1/logs")
    def recent(
        service: str,
        limit: Annotated[int, Query(ge=1, le=5000)] = 100,
        x_scope_orgid: Annotated[str, Header()] = "default",
    ) -> RecentLines:
        """Newest lines of one service, newest first (ts as ns strings, as Loki does)."""
        rows = store.recent(service, limit, x_scope_orgid)
        lines = [LogLine.model_validate({**r, "ts": str(r["ts"])}) for r in rows]
        return RecentLines(service=service, tenant=x_scope_orgid, lines=lines)

    return app
