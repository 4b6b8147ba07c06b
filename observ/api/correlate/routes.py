"""The correlation API: `/api/v1/correlate/...` answers JSON documented in the service's OpenAPI (`/docs`).

Tenancy as the Loki API (`X-Scope-OrgID`, optional bearer tokens). Every error is `{"detail": "<why>"}`: 400 for
the caller's fault (a bad trace ID, time, selector or window), 401/403 for tenancy, 404 when there is nothing
to correlate, 504 when the log query ran out of time. Parameters are read as text and checked here, so a bad
one is a 400 that names it rather than FastAPI's generic 422.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from observ.api.auth import AuthError, Tenancy
from observ.api.loki.params import ParamError, parse_timestamp
from observ.correlate.correlator import BadRequest, Correlator, NotFound
from observ.correlate.models import ServiceCorrelation, TraceCorrelation
from observ.logql.errors import LogQLError, QueryTimeout

T = TypeVar("T", bound=BaseModel)
PREFIX = "/api/v1/correlate"
TIME_HELP = "RFC3339, Unix seconds (may have decimals) or Unix nanoseconds, as Loki reads `start` and `end`."


class ErrorBody(BaseModel):
    detail: str


_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": what}
    for code, what in (
        (400, "Bad input: trace ID, time, selector, window; the detail says which and why."),
        (401, "No tenant (`X-Scope-OrgID` required) or no valid token."),
        (403, "The token may not use this tenant."),
        (404, "Nothing to correlate: the detail says what was not found."),
        (504, "The log query ran out of time."),
    )
}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _time(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value, 0)
    except ParamError as e:
        raise BadRequest(f"invalid {name}: {e}") from None


def correlate_router(correlator: Correlator, tenancy: Tenancy) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["correlation"], responses=_ERRORS)

    def answer(request: Request, build: Callable[[str], T]) -> T | JSONResponse:
        try:
            return build(tenancy.tenant(request.headers))
        except AuthError as e:
            return _error(e.status, str(e))
        except NotFound as e:
            return _error(404, str(e))
        except QueryTimeout as e:
            return _error(504, str(e))
        except ValidationError:  # an answer that does not fit its model is our bug, not the caller's
            raise
        except (ValueError, LogQLError) as e:  # BadRequest, ParamError, a bad trace ID, LogQL parse or limit
            return _error(400, str(e))

    @router.get("/traces/{trace_id}", response_model=TraceCorrelation)
    def trace(
        request: Request,
        trace_id: Annotated[str, Path(description="1 to 32 hex digits (shorter IDs are left-padded with zeros).")],
        start: Annotated[
            str | None, Query(description="Without spans: look for its lines from here. " + TIME_HELP)
        ] = None,
        end: Annotated[str | None, Query(description="Without spans: ... up to here (default now).")] = None,
    ) -> TraceCorrelation | JSONResponse:
        """A trace's spans as a tree, every log line carrying its ID (plus, for services whose lines carry none,
        their lines during its spans), and its services' request rate, error ratio and latency from Prometheus."""
        return answer(request, lambda t: correlator.trace(t, trace_id, _time("start", start), _time("end", end)))

    @router.get("/services/{service}", response_model=ServiceCorrelation)
    def service(
        request: Request,
        service: Annotated[str, Path(description="The `service` label of its logs, `service.name` of its spans.")],
        start: Annotated[str | None, Query(description="Default: end - 1 h. " + TIME_HELP)] = None,
        end: Annotated[str | None, Query(description="Exclusive; default now. " + TIME_HELP)] = None,
    ) -> ServiceCorrelation | JSONResponse:
        """A service in a window: log lines by level, its top error messages, exemplar trace IDs from Prometheus
        (error and slow requests), and its slowest and failing traces."""
        return answer(request, lambda t: correlator.service(t, service, _time("start", start), _time("end", end)))

    @router.get("/line", response_model=TraceCorrelation)
    def line(
        request: Request,
        selector: Annotated[
            str | None, Query(description='The line\'s stream, a LogQL selector: `{service="cart", pod="cart-1"}`.')
        ] = None,
        ts: Annotated[str | None, Query(description="The line's timestamp. " + TIME_HELP)] = None,
        text: Annotated[
            str | None, Query(alias="line", description="The line's text, when several lines share the timestamp.")
        ] = None,
        trace_id: Annotated[str | None, Query(description="The line's trace ID, instead of selector and ts.")] = None,
    ) -> TraceCorrelation | JSONResponse:
        """The trace of a log line, answered as `/traces/{trace_id}`: by the `trace_id` the line carries (given its
        stream and timestamp), or by a trace ID given directly."""

        def build(tenant: str) -> TraceCorrelation:
            if trace_id is not None:
                return correlator.trace(tenant, trace_id)
            at = _time("ts", ts)
            if not selector or at is None:
                raise BadRequest("give `selector` and `ts` of the line, or its `trace_id`")
            return correlator.line(tenant, selector, at, text)

        return answer(request, build)

    return router
