"""Push in every encoding Loki clients use, then read it back through the query API."""

from __future__ import annotations

import gzip
import time
import uuid

import cramjam
import httpx
import orjson

from observ.api.loki.logproto import PushRequest
from tests.contract.conftest import NS, Server


def fresh_tenant() -> dict[str, str]:
    return {"X-Scope-OrgID": f"push-{uuid.uuid4().hex[:8]}"}


def lines(c: httpx.Client, query: str, **params: str) -> list[tuple[dict[str, str], str, str]]:
    r = c.get("/loki/api/v1/query_range", params={"query": query, "since": "1h", "direction": "forward", **params})
    assert r.status_code == 200, r.text
    return [(s["stream"], v[0], v[1]) for s in r.json()["data"]["result"] for v in s["values"]]


def test_json_push_roundtrip(server: Server) -> None:
    now = time.time_ns()
    body = {
        "streams": [
            {
                "stream": {"service": "checkout", "env": "prod"},
                "values": [[str(now - 2 * NS), "first"], [str(now - NS), "second", {"trace_id": "abc", "user": "u1"}]],
            }
        ]
    }
    with server.client(**fresh_tenant()) as c:
        assert c.post("/loki/api/v1/push", json=body).status_code == 204
        got = lines(c, '{service="checkout"}')
    assert [(g[1], g[2]) for g in got] == [(str(now - 2 * NS), "first"), (str(now - NS), "second")]
    loki3 = {"service_name": "checkout", "detected_level": "unknown"}  # added on push, as Loki 3 adds them
    assert got[0][0] == {"service": "checkout", "env": "prod", **loki3}
    assert got[1][0] == {"service": "checkout", "env": "prod", "trace_id": "abc", "user": "u1", **loki3}, "metadata"


def test_gzip_json_push(server: Server) -> None:
    now = time.time_ns()
    body = gzip.compress(orjson.dumps({"streams": [{"stream": {"job": "gz"}, "values": [[str(now), "zipped"]]}]}))
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", **fresh_tenant()}
    with server.client(**headers) as c:
        assert c.post("/loki/api/v1/push", content=body).status_code == 204
        assert [g[2] for g in lines(c, '{job="gz"}')] == ["zipped"]


def test_snappy_protobuf_push(server: Server) -> None:
    now = time.time_ns()
    req = PushRequest()
    s = req.streams.add(labels='{job="proto", pod="p-1"}')
    for i in range(3):
        e = s.entries.add(line=f"proto line {i}")
        e.timestamp.seconds, e.timestamp.nanos = divmod(now - (3 - i) * NS, NS)
    s.entries[2].structuredMetadata.add(name="span_id", value="0123456789abcdef")
    body = bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
    with server.client(**{"Content-Type": "application/x-protobuf", **fresh_tenant()}) as c:
        assert c.post("/loki/api/v1/push", content=body).status_code == 204
        got = lines(c, '{job="proto"}')
    assert [g[2] for g in got] == ["proto line 0", "proto line 1", "proto line 2"]
    assert got[0][0] == {"job": "proto", "pod": "p-1", "service_name": "proto", "detected_level": "unknown"}
    assert got[2][0]["span_id"] == "0123456789abcdef"


def test_bad_bodies_are_400_and_store_nothing(server: Server) -> None:
    now = str(time.time_ns())
    half_good = {"streams": [{"stream": {"a": "1"}, "values": [[now, "ok"]]}, {"values": [[1, "x"]]}]}
    bad = [
        (b"not json", "application/json"),
        (orjson.dumps(half_good), "application/json"),
        (b"\x00\x01garbage", "application/x-protobuf"),
    ]
    tenant = fresh_tenant()
    with server.client(**tenant) as c:
        for body, ctype in bad:
            r = c.post("/loki/api/v1/push", content=body, headers={"Content-Type": ctype})
            assert r.status_code == 400 and r.text.strip(), body
        assert lines(c, '{a="1"}') == []


def test_validation_keeps_good_streams(server: Server) -> None:
    now = str(time.time_ns())
    body = {
        "streams": [
            {"stream": {f"l{i:02}": "v" for i in range(16)}, "values": [[now, "too many labels"]]},
            {"stream": {"a": "1"}, "values": [[now, "kept"], [now, "x" * 300_000]]},
        ]
    }
    with server.client(**fresh_tenant()) as c:
        r = c.post("/loki/api/v1/push", json=body)
        assert r.status_code == 400
        [labels, line] = r.text.splitlines()
        assert labels.endswith("' has 16 label names; limit 15")
        assert line == (  # Loki 3 quotes the stream with the service_name it added
            "Max entry size '262144' bytes exceeded for stream '{a=\"1\", service_name=\"unknown_service\"}' "
            "while adding an entry with length '300000' bytes"
        )
        assert [g[2] for g in lines(c, '{a="1"}')] == ["kept"]


def test_pushing_twice_stores_twice(server: Server) -> None:
    """A second push to a stream is not mistaken for a replay (pushes have no file positions)."""
    now = str(time.time_ns())
    body = {"streams": [{"stream": {"job": "twice"}, "values": [[now, "a"]]}]}
    with server.client(**fresh_tenant()) as c:
        assert c.post("/loki/api/v1/push", json=body).status_code == 204
        body["streams"][0]["values"] = [[now, "b"]]  # type: ignore[index]
        assert c.post("/loki/api/v1/push", json=body).status_code == 204
        assert sorted(g[2] for g in lines(c, '{job="twice"}')) == ["a", "b"]


def test_a_retried_push_is_stored_once_as_loki_does(server: Server) -> None:
    """Promtail, Alloy and OTel collectors re-send a request after a timeout: same stream, ts and line = one entry."""
    now = time.time_ns()
    values = [[str(now - NS), "GET /a 200"], [str(now - NS), "GET /a 200"], [str(now), "GET /b 500"]]
    body = {"streams": [{"stream": {"job": "retry"}, "values": values}]}
    with server.client(**fresh_tenant()) as c:
        for _ in range(3):
            assert c.post("/loki/api/v1/push", json=body).status_code == 204
        gz = gzip.compress(orjson.dumps(body))
        assert (
            c.post(
                "/loki/api/v1/push",
                content=gz,
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            ).status_code
            == 204
        )
        assert [g[2] for g in lines(c, '{job="retry"}')] == ["GET /a 200", "GET /b 500"]
        r = c.get(
            "/loki/api/v1/query", params={"query": 'sum(count_over_time({job="retry"}[1h]))', "time": str(now + NS)}
        )
        assert r.json()["data"]["result"][0]["value"][1] == "2"
