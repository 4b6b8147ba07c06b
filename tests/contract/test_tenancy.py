"""Tenant isolation through every endpoint, and bearer-token auth on a second server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from observ.api.config import ApiConfig
from tests.contract.conftest import BETA, BETA_MARK, Server, start_server, stop_server, window


def alpha_requests(server: Server) -> list[tuple[str, str, dict[str, object]]]:
    w = window(server)
    return [
        ("GET", "/loki/api/v1/query_range", {"query": '{service=~".+"}', "limit": "5000", **w}),
        ("GET", "/loki/api/v1/query_range", {"query": '{team=~".+"} |= "secret"', **w}),
        ("GET", "/loki/api/v1/query_range", {"query": 'sum by (team) (count_over_time({level=~".+"}[1m]))', **w}),
        ("GET", "/loki/api/v1/query", {"query": 'sum by (team) (count_over_time({service=~".+"}[1h]))'}),
        ("GET", "/loki/api/v1/labels", w),
        ("GET", "/loki/api/v1/label/team/values", w),
        ("GET", "/loki/api/v1/label/service/values", w),
        ("GET", "/loki/api/v1/series", {"match[]": '{service=~".+"}', **w}),
        ("POST", "/loki/api/v1/series", {"match[]": '{level="error"}', **w}),
        ("GET", "/loki/api/v1/index/stats", {"query": '{service=~".+"}', **w}),
        ("GET", "/loki/api/v1/detected_fields", {"query": '{service=~".+"}', **w}),
        ("GET", "/api/v1/services", {}),
        ("GET", "/api/v1/logs", {"service": "api"}),
    ]  # fmt: skip


def test_alpha_never_sees_beta(server: Server, alpha: httpx.Client) -> None:
    for method, path, params in alpha_requests(server):
        r = alpha.request(method, path, **({"params": params} if method == "GET" else {"data": params}))
        assert r.status_code == 200, (path, r.text)
        assert BETA_MARK not in r.text, (path, params)


def test_beta_sees_its_own(server: Server) -> None:
    with server.client(**BETA) as c:
        values = c.get("/loki/api/v1/label/team/values", params=window(server)).json()["data"]
        assert values == [BETA_MARK]
        stats = c.get("/loki/api/v1/index/stats", params={"query": '{service=~".+"}', **window(server)}).json()
        assert stats["entries"] == 70


def test_alpha_tail_does_not_see_beta(server: Server) -> None:
    url = server.url.replace("http://", "ws://") + "/loki/api/v1/tail?query=%7Bservice%3D%22api%22%7D&limit=1000"
    with connect(url, additional_headers={"X-Scope-OrgID": "alpha"}) as ws:
        frame = ws.recv(timeout=20)
    text = frame.decode() if isinstance(frame, bytes) else frame
    assert BETA_MARK not in text and orjson.loads(text)["streams"]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = ApiConfig.model_validate({"auth": {"tokens": {"tok-a": ["team-a"], "tok-b": ["team-b", "shared"]}}})
    srv, thread, url, store = start_server(Path(tmp_path_factory.mktemp("secured")), config)
    try:
        yield url
    finally:
        stop_server(srv, thread, store)


def test_auth_enabled(secured: str) -> None:
    now = str(time.time_ns())
    body = {"streams": [{"stream": {"job": "auth"}, "values": [[now, "for team a"]]}]}
    with httpx.Client(base_url=secured) as c:
        assert c.get("/loki/api/v1/labels").status_code == 401
        assert c.post("/loki/api/v1/push", json=body).status_code == 401
        assert c.get("/loki/api/v1/labels", headers={"Authorization": "Bearer wrong"}).status_code == 401
        a = {"Authorization": "Bearer tok-a"}
        assert c.post("/loki/api/v1/push", json=body, headers=a).status_code == 204
        r = c.get("/loki/api/v1/query_range", params={"query": '{job="auth"}'}, headers=a)
        assert [s["values"][0][1] for s in r.json()["data"]["result"]] == ["for team a"]
        b = {"Authorization": "Bearer tok-b"}
        r = c.get("/loki/api/v1/query_range", params={"query": '{job="auth"}'}, headers=b)
        assert r.json()["data"]["result"] == []
        forbidden = c.get("/loki/api/v1/labels", headers={**b, "X-Scope-OrgID": "team-a"})
        assert forbidden.status_code == 403
        assert c.get("/loki/api/v1/labels", headers={**b, "X-Scope-OrgID": "shared"}).status_code == 200
        assert c.get("/ready").status_code == 200, "probes need no token"
    with (
        pytest.raises(InvalidStatus) as e,
        connect(secured.replace("http", "ws") + "/loki/api/v1/tail?query=%7Bjob%3D%22auth%22%7D"),
    ):
        pass
    assert e.value.response.status_code == 401
