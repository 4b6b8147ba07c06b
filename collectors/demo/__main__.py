"""`python -m collectors.demo`: the demo workload of `observ up --demo` on its own, as an app beside its sidecar
(docker-compose.yml, k8s/).

Its logs go to CRI files under `--logs` (the volume the sidecar tails) and its spans to `--traces-url` (the
sidecar's OTLP ambassador on localhost). The services listen on loopback ports of their own choosing, so one
gateway on `--host:--port` is what another container reaches: `/metrics/<service>` (each service's exposition,
OpenMetrics with exemplars), `/probe?target=http://<service>/healthz` (the blackbox probe), the fault switch of
`observ demo fault --addr` (`/demo/faults`) and `/healthz`.
"""

from __future__ import annotations

import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import typer
from pydantic import ValidationError

from collectors.demo.faults import Fault, UnknownService
from collectors.demo.workload import DemoWorkload

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
Answer = tuple[int, bytes, str]


class Gateway:
    """Answers for the workload's services by name, as Prometheus and `observ demo fault` address them."""

    def __init__(self, workload: DemoWorkload) -> None:
        self.workload = workload

    def get(self, path: str, accept: str) -> Answer:
        url = urlsplit(path)
        if url.path == "/healthz":
            return 200, b'{"status":"ok"}', JSON
        if url.path == "/demo/faults":
            return 200, orjson.dumps(self.workload.faults.snapshot()), JSON
        if url.path.startswith("/metrics/"):
            service = self.workload.services.get(url.path.removeprefix("/metrics/"))
            if service is None:
                return 404, f"no demo service at {url.path}; /metrics/<service>\n".encode(), TEXT
            body, content_type = service.telemetry.exposition(accept)
            return 200, body, content_type
        if url.path == "/probe":
            return self._probe(url.query)
        return 404, b"served: /healthz /metrics/<service> /probe?target=<url> /demo/faults\n", TEXT

    def _probe(self, query: str) -> Answer:
        """`target=http://frontend/healthz` probes that service's real (loopback) address."""
        target = urlsplit(parse_qs(query).get("target", [""])[0])
        service = self.workload.services.get(target.hostname or "")
        real = target._replace(netloc=service.address).geturl() if service else target.geturl()
        status, body = self.workload.prober.answer("/probe?" + urlencode({"target": real}))
        return status, body, "text/plain; version=0.0.4; charset=utf-8" if status == 200 else TEXT

    def put(self, path: str, body: bytes) -> Answer:
        service = path.removeprefix("/demo/faults/")
        if service == path:
            return 404, b"PUT /demo/faults/<service> only\n", TEXT
        try:
            self.workload.faults.set(service, Fault.model_validate_json(body).mode)
        except ValidationError:
            return 400, b'bad fault: expected {"mode": "off"|"error"|"slow"}\n', TEXT
        except UnknownService as e:
            return 404, f"{e}\n".encode(), TEXT
        return 200, orjson.dumps(self.workload.faults.snapshot()), JSON


def _handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, answer: Answer) -> None:
            status, body, content_type = answer
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(gateway.get(self.path, self.headers.get("accept", "")))

        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            self._send(gateway.put(self.path, body))

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes every few seconds: counted by Prometheus, not logged."""

    return Handler


def run(
    logs: Annotated[
        Path, typer.Option(help="Root of the CRI log files (<logs>/var/log/pods/...): the sidecar's volume.")
    ] = Path("demo-logs"),
    traces_url: Annotated[str, typer.Option(help="OTLP/HTTP traces endpoint; '' keeps spans in the process.")] = (
        "http://127.0.0.1:4318/v1/traces"
    ),
    rate: Annotated[float, typer.Option(min=0.1, max=1000, help="Frontend requests per second.")] = 20.0,
    host: Annotated[str, typer.Option(help="Address of the gateway.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the gateway.")] = 9100,
) -> None:
    """Run the demo services with traffic until SIGTERM/SIGINT, behind one gateway."""
    workload = DemoWorkload(logs, rate=rate, traces_url=traces_url or None)
    server = ThreadingHTTPServer((host, port), _handler(Gateway(workload)))
    server.daemon_threads = True

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, name="demo-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workload.start()
    typer.echo(f"demo: gateway on {host}:{port}, logs under {workload.glob}, spans to {traces_url or 'nowhere'}")
    try:
        server.serve_forever(0.5)
    finally:
        workload.stop()
        server.server_close()


if __name__ == "__main__":
    typer.run(run)
