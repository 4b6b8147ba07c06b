"""Unknown paths answer Go's plain-text 404 as Loki does; the 404s routes write themselves are unchanged.

The app registers `not_found` for status 404 (`app.add_exception_handler(404, not_found)`), done here on the app
`create_app` builds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from observ.api.app import create_app
from observ.api.loki.routes import not_found
from observ.store.logstore import LogStore
from observ.traces.store import SpanStore


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    logs, spans = LogStore(":memory:"), SpanStore(tmp_path / "spans.duckdb")
    app = create_app(logs, CollectorRegistry(), lambda: True, spans=spans)
    app.add_exception_handler(404, not_found)
    yield TestClient(app)
    logs.close()
    spans.close()


@pytest.mark.parametrize("path", ["/loki/api/v1/nope", "/loki/api/v1/index/volumes", "/api/nope", "/nope"])
def test_an_unknown_path_is_plain_text_404_page_not_found(client: TestClient, path: str) -> None:
    for method in ("GET", "POST"):
        r = client.request(method, path)
        assert (r.status_code, r.text) == (404, "404 page not found\n")
        assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_routes_keep_their_own_404s(client: TestClient) -> None:
    trace = client.get(f"/api/traces/{'ab' * 16}")
    assert (trace.status_code, trace.text) == (404, "trace not found")
    correlation = client.get(f"/api/v1/correlate/traces/{'ab' * 16}")
    assert correlation.status_code == 404 and correlation.json()["detail"].startswith("trace ")
