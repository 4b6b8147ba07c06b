"""What a client may send and get back is bounded: request bodies, pushed timestamps, label answers."""

from __future__ import annotations

import gzip
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.contract.conftest import NS, Server, window

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MIB = 1 << 20


def padded_form(total_mib: int) -> Iterator[bytes]:
    """A valid query padded with an unknown parameter: only the size is wrong."""
    yield b'query={service="db"}&time=0&pad='
    for _ in range(total_mib):
        yield b"a" * MIB


@pytest.mark.parametrize("path", ["/loki/api/v1/query_range", "/loki/api/v1/query", "/loki/api/v1/series"])
def test_form_bodies_over_10_mb_are_refused_and_the_server_stays_up(
    server: Server, alpha: httpx.Client, path: str
) -> None:
    declared = alpha.post(path, content=b"".join(padded_form(64)), headers=FORM)
    assert (declared.status_code, declared.text) == (400, "http: POST too large")
    chunked = alpha.post(path, content=padded_form(64), headers=FORM)
    assert (chunked.status_code, chunked.text) == (400, "http: POST too large")
    assert alpha.get("/ready").status_code == 200
    r = alpha.post("/loki/api/v1/query_range", data={"query": '{service="db"}', **window(server)})
    assert r.status_code == 200 and len(r.json()["data"]["result"]) == 1


def test_push_bodies_over_the_cap_are_413_raw_or_decompressed(server: Server, alpha: httpx.Client) -> None:
    """push.max_body_bytes (64 MiB) holds for the bytes sent and for what gzip would inflate them to."""
    json_type = {"Content-Type": "application/json"}
    raw = alpha.post("/loki/api/v1/push", content=b" " * (64 * MIB + 1), headers=json_type)
    bomb = gzip.compress(b" " * (64 * MIB + 1), compresslevel=9)
    inflated = alpha.post("/loki/api/v1/push", content=bomb, headers={**json_type, "Content-Encoding": "gzip"})
    assert (raw.status_code, inflated.status_code) == (413, 413)
    assert raw.text.startswith("request body too large: 67108865 bytes, limit: 67108864 bytes")
    assert alpha.get("/ready").status_code == 200


def test_push_refuses_entries_too_new_or_out_of_reach_and_stores_the_rest(server: Server) -> None:
    now = time.time_ns()
    values = [
        [str(now - NS), "now"],
        [str(now + 11 * 60 * NS), "eleven minutes ahead"],
        [str(-(2**62) - 1), "before 1824"],
        [str(2**63 - 1), "2262"],
    ]
    body = {"streams": [{"stream": {"service": "clock"}, "values": values}]}
    with server.client(**{"X-Scope-OrgID": f"clock-{uuid.uuid4().hex[:8]}"}) as c:
        r = c.post("/loki/api/v1/push", json=body)
        assert r.status_code == 400
        refused = r.text.splitlines()
        assert len(refused) == 3 and all(
            m.startswith('entry for stream \'{service="clock", service_name="clock"}\' has timestamp too')
            for m in refused
        )
        assert sum("timestamp too new" in m for m in refused) == 2
        got = c.get(
            "/loki/api/v1/query_range",
            params={"query": '{service="clock"}', "since": "2h", "end": str(now + 3600 * NS)},
        )
        assert got.status_code == 200, got.text
        assert [v[1] for s in got.json()["data"]["result"] for v in s["values"]] == ["now"]
        metrics = c.get("/metrics").text
    assert 'observ_push_discarded_lines_total{reason="too_far_in_future"}' in metrics


def test_label_values_and_labels_agree_on_structured_metadata(server: Server, alpha: httpx.Client) -> None:
    """The corpus' api lines carry trace_id/span_id metadata: neither is a label, in either endpoint
    (the engine answers; a stream label that happens to be named trace_id would be listed in both)."""
    labels = alpha.get("/loki/api/v1/labels", params=window(server)).json()["data"]
    assert "service" in labels and "trace_id" not in labels and "span_id" not in labels
    for name in ("trace_id", "span_id"):
        r = alpha.get(f"/loki/api/v1/label/{name}/values", params=window(server))
        assert r.json() == {"status": "success", "data": []}
