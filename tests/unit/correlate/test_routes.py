"""How the correlation routes answer each failure of the correlator (a stub): status and `detail`."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from observ.api.auth import Tenancy
from observ.api.config import AuthConfig
from observ.api.correlate.routes import correlate_router
from observ.correlate.correlator import BadRequest, NotFound
from observ.correlate.models import SpanNode
from observ.logql.errors import LimitError, QueryTimeout


class Failing:
    """Stands in for Correlator: every question raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.asked: list[tuple[object, ...]] = []

    def trace(self, *args: object) -> None:
        self.asked.append(args)
        raise self.error

    service = line = trace


def client(error: Exception, auth: AuthConfig | None = None) -> tuple[TestClient, Failing]:
    stub = Failing(error)
    app = FastAPI()
    app.include_router(correlate_router(stub, Tenancy(auth or AuthConfig())))  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=False), stub


def invalid_answer() -> Exception:
    try:
        SpanNode.model_validate({})
    except ValueError as e:
        return e
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (BadRequest("end 1 must be after start 2"), 400, "end 1 must be after start 2"),
        (ValueError("trace ID 'x' must be 1 to 32 hex digits"), 400, "trace ID 'x' must be 1 to 32 hex digits"),
        (LimitError("max entries limit per query exceeded"), 400, "max entries limit per query exceeded"),
        (NotFound("trace 1 not found"), 404, "trace 1 not found"),
        (QueryTimeout("query timed out after 60s"), 504, "query timed out after 60s"),
    ],
)
def test_failures_and_their_status(error: Exception, status: int, detail: str) -> None:
    c, _ = client(error)
    for path in (
        "/api/v1/correlate/traces/abc",
        "/api/v1/correlate/services/cart",
        "/api/v1/correlate/line?trace_id=1",
    ):
        r = c.get(path)
        assert (r.status_code, r.json()) == (status, {"detail": detail})


def test_an_answer_that_does_not_fit_its_model_is_a_500_not_the_callers_fault() -> None:
    c, _ = client(invalid_answer())
    assert c.get("/api/v1/correlate/traces/abc").status_code == 500


def test_parameters_reach_the_correlator_parsed() -> None:
    c, stub = client(NotFound("x"))
    c.get("/api/v1/correlate/traces/ABC", params={"start": "1", "end": "2024-01-01T00:00:00Z"})
    c.get("/api/v1/correlate/services/cart")
    c.get("/api/v1/correlate/line", params={"selector": '{a="b"}', "ts": "1.5", "line": "text"})
    assert stub.asked == [
        ("default", "ABC", 1_000_000_000, 1_704_067_200_000_000_000),
        ("default", "cart", None, None),
        ("default", '{a="b"}', 1_500_000_000, "text"),
    ]


def test_tokens_gate_every_question() -> None:
    c, stub = client(NotFound("x"), AuthConfig(tokens={"s3cret": ["shop"]}))
    r = c.get("/api/v1/correlate/services/cart")
    assert (r.status_code, r.json()) == (401, {"detail": "unauthorized: a valid bearer token is required"})
    r = c.get("/api/v1/correlate/services/cart", headers={"Authorization": "Bearer s3cret", "X-Scope-OrgID": "x"})
    assert (r.status_code, r.json()) == (403, {"detail": "tenant 'x' is not allowed for this token"})
    assert c.get("/api/v1/correlate/services/cart", headers={"Authorization": "Bearer s3cret"}).status_code == 404
    assert stub.asked == [("shop", "cart", None, None)]
