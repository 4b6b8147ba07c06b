"""Live tail over a real websocket client: history first, then each new entry exactly once."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.contract.conftest import NS, Server


def ws_url(server: Server, **params: str) -> str:
    return server.url.replace("http://", "ws://") + "/loki/api/v1/tail?" + urlencode(params)


def receive_lines(ws: ClientConnection, want: int) -> list[tuple[str, str]]:
    """Frames until `want` entries arrived (a guard timeout fails the test rather than hanging it)."""
    got: list[tuple[str, str]] = []
    while len(got) < want:
        frame = orjson.loads(ws.recv(timeout=20))
        assert set(frame) <= {"streams", "dropped_entries", "encodingFlags"}
        for s in frame["streams"]:
            got.extend((v[0], v[1]) for v in s["values"])
    return got


def push(c: httpx.Client, ts: int, line: str, job: str) -> None:
    body = {"streams": [{"stream": {"job": job}, "values": [[str(ts), line]]}]}
    assert c.post("/loki/api/v1/push", json=body).status_code == 204


def test_tail_history_then_new_entries_once(server: Server) -> None:
    tenant = f"tail-{uuid.uuid4().hex[:8]}"
    job = "tailed"
    now = time.time_ns()
    with server.client(**{"X-Scope-OrgID": tenant}) as c:
        for i in range(3):
            push(c, now - (10 - i) * NS, f"old {i}", job)
        with connect(
            ws_url(server, query=f'{{job="{job}"}}', limit="2", start=str(now - 60 * NS)),
            additional_headers={"X-Scope-OrgID": tenant},
        ) as ws:
            history = receive_lines(ws, 2)
            assert [line for _, line in history] == ["old 1", "old 2"], "the newest `limit`, oldest first"
            for i in range(3):
                push(c, time.time_ns(), f"new {i}", job)
            fresh = receive_lines(ws, 3)
            assert [line for _, line in fresh] == ["new 0", "new 1", "new 2"]
            push(c, time.time_ns(), "last", job)
            assert [line for _, line in receive_lines(ws, 1)] == ["last"], "nothing sent twice before it"


def test_tail_categorized_frames(server: Server) -> None:
    tenant = f"tail-{uuid.uuid4().hex[:8]}"
    with server.client(**{"X-Scope-OrgID": tenant}) as c:
        body = {"streams": [{"stream": {"job": "cat"}, "values": [[str(time.time_ns()), "x", {"trace_id": "t"}]]}]}
        assert c.post("/loki/api/v1/push", json=body).status_code == 204
    headers = {"X-Scope-OrgID": tenant, "X-Loki-Response-Encoding-Flags": "categorize-labels"}
    with connect(ws_url(server, query='{job="cat"}'), additional_headers=headers) as ws:
        frame = orjson.loads(ws.recv(timeout=20))
    assert frame["encodingFlags"] == ["categorize-labels"]
    assert frame["streams"][0]["stream"] == {"job": "cat", "service_name": "cat"}  # Loki 3's ingest defaults
    assert frame["streams"][0]["values"][0][2] == {"structuredMetadata": {"trace_id": "t", "detected_level": "unknown"}}


def test_tail_bad_query_is_http_400(server: Server) -> None:
    with pytest.raises(InvalidStatus) as e, connect(ws_url(server, query="{job=")):
        pass
    assert e.value.response.status_code == 400
    with pytest.raises(InvalidStatus) as e, connect(ws_url(server, query='{job="x"}', delay_for="9")):
        pass
    assert e.value.response.status_code == 400 and b"delay_for" in e.value.response.body
    with pytest.raises(InvalidStatus) as e, connect(ws_url(server, query='rate({job="x"}[1m])')):
        pass
    assert e.value.response.status_code == 400 and b"only log queries" in e.value.response.body
