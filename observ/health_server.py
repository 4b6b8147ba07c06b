"""`/metrics`, `/healthz` and `/readyz` for processes that are not FastAPI apps.

Stdlib only, so the sidecar keeps its lean import path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def serve_health(
    host: str,
    port: int,
    registry: CollectorRegistry,
    ready: Callable[[], bool],
    problem: Callable[[], str | None] = lambda: None,
) -> ThreadingHTTPServer:
    """Start the endpoints on a daemon thread; `ready()` decides /readyz (200 or 503), `problem()` /healthz."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                trouble = problem()
                self._reply(503 if trouble else 200, f"{trouble}\n".encode() if trouble else b"ok\n")
            elif path == "/readyz":
                ok = ready()
                self._reply(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
            else:
                self._reply(404, b"not found\n")

        def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes every few seconds would drown the process log."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server
