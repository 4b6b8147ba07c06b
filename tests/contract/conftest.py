"""A real server on a loopback port (uvicorn in a thread, the real engine over DuckDB), fed through its push API.

Two tenants share the store: `alpha` (the one tests read) and `beta`, whose every line and label
value carries the marker BETA_MARK, so any answer to alpha that contains it is a leak.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from observ.api.app import create_app
from observ.api.config import ApiConfig
from observ.cli.datadir import listen
from observ.cli.serve import uvicorn_config
from observ.store.logstore import LogStore

NS = 10**9
BETA_MARK = "zz-beta-secret"
ALPHA = {"X-Scope-OrgID": "alpha"}
BETA = {"X-Scope-OrgID": "beta"}


@dataclass
class Server:
    url: str
    store: LogStore
    t0: int
    """Timestamp (ns) of the corpus' first entry; entries follow one second apart."""

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def serve_app(app: object) -> tuple[uvicorn.Server, threading.Thread, str]:
    """`app` on a free loopback port, uvicorn in a daemon thread; returns once it accepts connections."""
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def start_server(data: Path, config: ApiConfig) -> tuple[uvicorn.Server, threading.Thread, str, LogStore]:
    store = LogStore(data / "observ.duckdb")
    server, thread, url = serve_app(create_app(store, CollectorRegistry(), lambda: True, config=config))
    return server, thread, url, store


def stop_server(server: uvicorn.Server, thread: threading.Thread, store: LogStore) -> None:
    server.should_exit = True
    thread.join(timeout=30)
    store.close()


def alpha_corpus(t0: int) -> dict[str, object]:
    """60 entries: api (JSON lines, trace IDs), db (logfmt), worker (plain text), one per second."""
    api, db, worker = [], [], []
    for i in range(60):
        ts = str(t0 + i * NS)
        if i % 3 == 0:
            status = 500 if i % 9 == 0 else 200
            line = orjson.dumps({"msg": "request", "status": status, "took": f"{i + 1}ms", "path": f"/p{i % 4}"})
            api.append([ts, line.decode(), {"trace_id": f"{i:032x}", "span_id": f"{i:016x}"}])
        elif i % 3 == 1:
            db.append([ts, f'level=info query="select {i}" rows={i * 10} duration={i}ms'])
        else:
            worker.append([ts, f"job {i} done in {i}s"])
    return {
        "streams": [
            {"stream": {"service": "api", "namespace": "prod", "level": "info", "team": "web"}, "values": api},
            {"stream": {"service": "db", "namespace": "prod", "level": "info"}, "values": db},
            {"stream": {"service": "worker", "namespace": "batch", "level": "warn"}, "values": worker},
        ]
    }


def beta_corpus(t0: int) -> dict[str, object]:
    values = [[str(t0 + i * NS), f"request {i} {BETA_MARK} status=500"] for i in range(60)]
    return {
        "streams": [
            {"stream": {"service": "api", "namespace": "prod", "level": "info", "team": BETA_MARK}, "values": values},
            {"stream": {"service": f"svc-{BETA_MARK}", "level": "error"}, "values": values[:10]},
        ]
    }


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = ApiConfig.model_validate({"tail": {"poll_interval_s": 0.1}})
    srv, thread, url, store = start_server(tmp_path_factory.mktemp("contract"), config)
    t0 = (time.time_ns() // NS - 600) * NS
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            for headers, body in ((ALPHA, alpha_corpus(t0)), (BETA, beta_corpus(t0))):
                r = c.post("/loki/api/v1/push", json=body, headers=headers)
                assert r.status_code == 204, r.text
        yield Server(url, store, t0)
    finally:
        stop_server(srv, thread, store)


@pytest.fixture
def alpha(server: Server) -> Iterator[httpx.Client]:
    with server.client(**ALPHA) as c:
        yield c


def window(server: Server) -> dict[str, str]:
    """start/end covering the whole corpus (end exclusive)."""
    return {"start": str(server.t0), "end": str(server.t0 + 60 * NS)}
