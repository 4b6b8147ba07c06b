"""The demo's blackbox prober: blackbox_exporter's /probe answers, and only for the demo's own URLs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collectors.demo.prober import Prober


@pytest.fixture
def prober() -> Iterator[Prober]:
    p = Prober(["http://127.0.0.1:9/healthz"])
    p.start()
    yield p
    p.stop()


def _samples(body: bytes) -> dict[str, float]:
    return {s.name: s.value for f in text_string_to_metric_families(body.decode()) for s in f.samples}


@pytest.fixture
def health() -> Iterator[tuple[str, list[int]]]:
    """A /healthz answering the status at the head of the list."""
    statuses = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses[0])
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz", statuses
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "success"), [(200, 1), (204, 1), (503, 0), (404, 0)])
def test_a_probe_succeeds_on_2xx_only_and_reports_the_status(
    prober: Prober, health: tuple[str, list[int]], status: int, success: int
) -> None:
    target, statuses = health
    statuses[0] = status
    prober.targets.add(target)
    resp = httpx.get(f"http://{prober.address}/probe", params={"target": target, "module": "http_2xx"})
    assert resp.status_code == 200
    samples = _samples(resp.content)
    assert (samples["probe_success"], samples["probe_http_status_code"]) == (success, status)
    assert samples["probe_duration_seconds"] >= 0


def test_a_target_nobody_answers_is_a_failed_probe_not_an_error(prober: Prober) -> None:
    resp = httpx.get(f"http://{prober.address}/probe", params={"target": "http://127.0.0.1:9/healthz"})
    assert resp.status_code == 200
    assert _samples(resp.content) == {"probe_success": 0, "probe_duration_seconds": pytest.approx(0, abs=2),
                                      "probe_http_status_code": 0}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/probe", 400, "target parameter is missing"),
        ("/probe?target=", 400, "target parameter is missing"),
        ("/probe?target=http://169.254.169.254/latest", 400, "target 'http://169.254.169.254/latest' is not a demo"),
        ("/probe?target=" + "a" * 5000, 400, "target '" + "a" * 199),
        ("/metrics", 404, "only /probe?target=<url> is served"),
    ],
)
def test_bad_requests_say_what_was_wrong(prober: Prober, path: str, status: int, message: str) -> None:
    resp = httpx.get(f"http://{prober.address}{path}")
    assert resp.status_code == status and resp.text.startswith(message)
    assert len(resp.text) < 400
