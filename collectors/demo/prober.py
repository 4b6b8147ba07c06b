"""A blackbox prober for the demo, answering as Prometheus' blackbox_exporter does: a scrape of
`/probe?target=<url>&module=http_2xx` requests the target there and then, and reports `probe_success`,
`probe_duration_seconds` and `probe_http_status_code` in a registry of its own.

Only the demo's own URLs are probed: anything else is 400, so the prober cannot be pointed elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Prober:
    """Serves on 127.0.0.1 (a free port); `targets` are the URLs it agrees to probe."""

    def __init__(self, targets: Collection[str], timeout_s: float = 2.0) -> None:
        self.targets = set(targets)
        self._client = httpx.Client(timeout=timeout_s, trust_env=False)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="demo-prober", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def answer(self, path: str) -> tuple[int, bytes]:
        """Status and body of one request to the prober."""
        url = urlsplit(path)
        if url.path != "/probe":
            return 404, b"only /probe?target=<url> is served\n"
        target = parse_qs(url.query).get("target", [""])[0]
        if not target:
            return 400, b"target parameter is missing\n"
        if target not in self.targets:
            return 400, f"target {target[:200]!r} is not a demo service this prober probes\n".encode()
        return 200, self.probe(target)

    def probe(self, target: str) -> bytes:
        registry = CollectorRegistry()
        success = Gauge("probe_success", "Whether the probe succeeded.", registry=registry)
        duration = Gauge("probe_duration_seconds", "How long the probe took.", registry=registry)
        status = Gauge("probe_http_status_code", "Response HTTP status code (0: no answer).", registry=registry)
        started = time.perf_counter()
        try:
            code = self._client.get(target).status_code
        except httpx.HTTPError:
            code = 0
        duration.set(time.perf_counter() - started)
        status.set(code)
        success.set(1 if 200 <= code < 300 else 0)
        return generate_latest(registry)


def _handler(prober: Prober) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = prober.answer(self.path)
            self.send_response(status)
            self.send_header("content-type", CONTENT_TYPE_LATEST if status == 200 else "text/plain; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Probes are counted in Prometheus, not logged."""

    return Handler
