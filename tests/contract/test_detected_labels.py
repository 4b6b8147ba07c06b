"""`/loki/api/v1/detected_labels` over HTTP: the shared corpus (conftest.py) and a tenant of ID-valued labels."""

from __future__ import annotations

import uuid

import httpx

from tests.contract.conftest import BETA_MARK, NS, Server, window

ADDED = {"service_name"}
"""Labels ingest may add to the corpus' streams (Loki 3's `service_name` discovery): not asserted here."""


def detected(client: httpx.Client, **params: str) -> dict[str, int]:
    r = client.get("/loki/api/v1/detected_labels", params=params)
    assert r.status_code == 200, r.text
    assert BETA_MARK not in r.text and r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["detectedLabels"]
    return {d["label"]: d["cardinality"] for d in body["detectedLabels"] if d["label"] not in ADDED}


def test_every_stream_label_with_its_cardinality(server: Server, alpha: httpx.Client) -> None:
    assert detected(alpha, **window(server)) == {"level": 2, "namespace": 2, "service": 3, "team": 1}


def test_query_scopes_the_streams(server: Server, alpha: httpx.Client) -> None:
    assert detected(alpha, query='{namespace="prod"}', **window(server)) == {
        "level": 1, "namespace": 1, "service": 2, "team": 1,
    }  # fmt: skip
    posted = alpha.post("/loki/api/v1/detected_labels", data={"query": '{service="worker"}', **window(server)})
    assert {d["label"] for d in posted.json()["detectedLabels"]} - ADDED == {"level", "namespace", "service"}


def test_id_valued_labels_are_left_out_static_ones_kept(server: Server) -> None:
    streams = [
        {"stream": {"job": "ids", "request": str(i), "trace": str(uuid.UUID(int=i + 1)), "pod": str(i),
                    "canary": str(i % 2), "shard": str(i + 5)}, "values": [[str(server.t0 + i * NS), f"line {i}"]]}
        for i in range(4)
    ]  # fmt: skip
    with server.client(**{"X-Scope-OrgID": f"ids-{uuid.uuid4().hex[:8]}"}) as c:
        assert c.post("/loki/api/v1/push", json={"streams": streams}).status_code == 204
        assert detected(c, **window(server)) == {"job": 1, "pod": 4, "canary": 2}


def test_nothing_found_is_an_empty_object(server: Server, alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/detected_labels", params={"query": '{service="nope"}', **window(server)})
    assert (r.status_code, r.text) == (200, "{}\n")


def test_bad_requests_are_400_in_lokis_words(server: Server, alpha: httpx.Client) -> None:
    r = alpha.get("/loki/api/v1/detected_labels", params={"query": '{service="api"} | json', **window(server)})
    assert (r.status_code, r.text) == (400, "only label matchers are supported")
    r = alpha.get("/loki/api/v1/detected_labels", params={"start": "20", "end": "10"})
    assert (r.status_code, r.text) == (400, "end timestamp must not be before or equal to start time")
