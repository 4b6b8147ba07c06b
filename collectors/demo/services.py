"""One demo service: a small HTTP server on loopback whose routes do some work, call other services over real HTTP
(trace context in W3C `traceparent`), fail or slow down as the topology and the fault switch say, and report it
all through `Telemetry`. `/metrics`, `/healthz` (failing with the error fault) and `/readyz` are served on the
same port, as an app exposes them.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from collectors.demo.faults import SLOW_SECONDS, FaultMode, Faults, error_message
from collectors.demo.telemetry import Telemetry
from collectors.demo.topology import Call, Profile, Route

_PROPAGATOR = TraceContextTextMapPropagator()

_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/handlers.py", line 88, in handle\n'
    "    result = backend.call(request)\n"
    '  File "/app/backend.py", line 41, in call\n'
    "    raise BackendError(message)\n"
    "BackendError: {message}"
)

Answer = tuple[int, str]
"""An HTTP status and, for an error, its message."""


def _pattern(template: str) -> re.Pattern[str]:
    """`/product/{id}` → a regex whose group `id` is that segment."""
    return re.compile(re.escape(template).replace(r"\{id\}", "(?P<id>[^/]+)") + r"\Z")


class DemoService:
    """Serves on 127.0.0.1 (a free port); `downstream` maps the services it calls to their base URLs."""

    def __init__(
        self,
        name: str,
        profile: Profile,
        telemetry: Telemetry,
        faults: Faults,
        rng: random.Random,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.profile = profile
        self.telemetry = telemetry
        self.downstream: dict[str, str] = {}
        self._faults = faults
        self._rng = rng
        self._sleep = sleep
        self._routes = [(route, _pattern(route.template)) for route in profile.routes]
        self._client = httpx.Client(timeout=10.0, trust_env=False)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name=f"demo-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop answering, then flush the spans still batched."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        self._client.close()
        self.telemetry.shutdown()

    def handle(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[int, bytes, str]:
        """One request: status, body and content type."""
        if method == "GET" and path == "/metrics":
            body, content_type = self.telemetry.exposition(headers.get("accept", ""))
            return 200, body, content_type
        if method == "GET" and path == "/readyz":
            return 200, b'{"status":"ready"}', "application/json"
        if method == "GET" and path == "/healthz":
            if self._faults.mode(self.name) is FaultMode.error:
                return 503, orjson.dumps({"status": "failing", "error": error_message(self.name)}), "application/json"
            return 200, b'{"status":"ok"}', "application/json"
        found = next(((r, m) for r, p in self._routes if r.method == method and (m := p.match(path))), None)
        if found is None:
            return 404, orjson.dumps({"error": f"no route {method} {path}"}), "application/json"
        route, match = found
        item = match.groupdict().get("id") or str(self._rng.randrange(1000))
        status, message = self._traced(route, path, item, headers)
        answer: dict[str, object] = {"error": message} if status >= 400 else {"ok": True}
        return status, orjson.dumps(answer), "application/json"

    def _traced(self, route: Route, path: str, item: str, headers: Mapping[str, str]) -> Answer:
        """`item`: the request's `{id}` (or a random one), passed on to the calls, as a product ID is."""
        started = time.perf_counter()
        attributes = {"http.request.method": route.method, "http.route": route.template, "url.path": path}
        with self.telemetry.tracer.start_as_current_span(
            f"{route.method} {route.template}",
            context=_PROPAGATOR.extract(dict(headers)),
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            status, message = self._serve(route, item)
            seconds = time.perf_counter() - started
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, message))
                span.add_event("exception", {"exception.type": "BackendError", "exception.message": message})
            self.telemetry.observe(route.method, route.template, status, seconds)
            self._log(route, path, status, message, seconds)
        return status, message

    def _serve(self, route: Route, item: str) -> Answer:
        mode = self._faults.mode(self.name)
        if mode is FaultMode.slow:
            self._sleep(SLOW_SECONDS * self._rng.uniform(0.9, 1.3))
        if mode is FaultMode.error:
            return 503, error_message(self.name)
        slow = self._rng.random() < self.profile.slow_share
        self._sleep(self._rng.uniform(1.0, 2.5) if slow else self._rng.lognormvariate(0, 0.5) * route.work_s)
        roll = self._rng.random()
        for failure in route.failures:
            if roll < failure.share:
                return failure.status, failure.message
            roll -= failure.share
        for call in route.calls:
            status, message = self._call(call, item)
            if status >= 500:
                return 502, f"{call.service} answered {status}: {message}"
        return 200, ""

    def _call(self, call: Call, item: str) -> Answer:
        path = call.path.replace("{id}", item)
        with self.telemetry.tracer.start_as_current_span(
            f"{call.method} {call.path}",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": call.method, "peer.service": call.service, "url.path": path},
        ) as span:
            headers: dict[str, str] = {}
            _PROPAGATOR.inject(headers)
            try:
                resp = self._client.request(call.method, self.downstream[call.service] + path, headers=headers)
            except httpx.HTTPError as e:
                status, message = 503, f"{call.service} unreachable: {e}"
            else:
                status, message = resp.status_code, str(orjson.loads(resp.content).get("error", ""))
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, message))
        return status, message

    def _log(self, route: Route, path: str, status: int, message: str, seconds: float) -> None:
        level = "error" if status >= 500 else "warn" if status >= 400 else "info"
        msg = "request failed" if status >= 500 else "request handled"
        duration_ms = round(seconds * 1000, 1)
        self.telemetry.log(
            level, msg, method=route.method, route=route.template, path=path, status=status, duration_ms=duration_ms
        )
        if status >= 500:
            self.telemetry.log("error", message, stream="stderr", status=status)
            if status != 502 and self._rng.random() < 0.3:
                self.telemetry.plain("stderr", f"ERROR handler failed\n{_TRACEBACK.format(message=message)}")


def _handler(service: DemoService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, content_type = service.handle(self.command, self.path.split("?", 1)[0], headers)
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, format: str, *args: object) -> None:
            """The service logs its requests itself, as JSON."""

    return Handler
