"""/healthz of `observ serve` speaks for the spans store too: an ingester or OTLP receiver that cannot write
spans (disk full) is a 503 with the cause, as for logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from observ.api.app import create_app
from observ.store.hotcold import StoreWriteError
from observ.store.logstore import LogStore
from observ.traces.store import SpanStore
from tests.unit.traces.helpers import cols, fail_log_writes, span


def test_a_spans_store_that_cannot_write_makes_healthz_503_until_a_write_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs, spans = LogStore(tmp_path / "observ.duckdb"), SpanStore(tmp_path / "spans.duckdb")
    c = TestClient(create_app(logs, CollectorRegistry(), lambda: True, spans=spans))
    try:
        assert c.get("/healthz").json() == {"status": "ok"}
        with monkeypatch.context() as m:
            fail_log_writes(spans, m)
            with pytest.raises(StoreWriteError):
                spans.append([cols(span(1, 1))])
        r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["status"] == "cannot write"
        assert r.json()["error"] == "OSError: [Errno 28] No space left on device", r.json()
        spans.append([cols(span(1, 1))])
        assert c.get("/healthz").json() == {"status": "ok"}
    finally:
        spans.close()
        logs.close()
