"""What a client may send and get back is bounded: request bodies, pushed timestamps, label answers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.contract.conftest import Server, window

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
