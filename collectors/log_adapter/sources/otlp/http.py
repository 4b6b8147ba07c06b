"""OTLP/HTTP on the stdlib's ThreadingHTTPServer: `POST /v1/traces` and `POST /v1/logs` (the sidecar stays free
of the web stack).

The content type is checked (415) and the declared length against the limit (413) before the body is
read; a request refused before its body was read closes the connection. At most `workers` requests are
decoded at once: the others wait up to `ack_timeout_ms`, then get 503 with Retry-After.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from collectors.log_adapter.sources.otlp.ambassador import Ambassador
from collectors.log_adapter.sources.otlp.events import Signal
from observ.otlp.decode import Format, body_format
from observ.otlp.errors import BodyTooLarge, OtlpError, Unavailable
from observ.otlp.refusal import Refusal
from observ.otlp.response import MEDIA_TYPES, answer_format, status_body

PATHS: dict[str, Signal] = {"/v1/traces": "spans", "/v1/logs": "log_records"}
READ_TIMEOUT_S = 30
"""A client that stops sending its body mid-way holds a thread no longer than this."""


def _handler(ambassador: Ambassador, slots: threading.BoundedSemaphore) -> type[BaseHTTPRequestHandler]:
    config = ambassador.config

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse their connection
        disable_nagle_algorithm = True  # headers and body are two writes: else each answer waits ~40 ms for an ACK
        timeout = READ_TIMEOUT_S

        def do_POST(self) -> None:
            signal = PATHS.get(self.path.split("?", 1)[0])
            if signal is None:
                self._plain(404, f"not found: OTLP/HTTP takes POST {' or '.join(PATHS)}\n")
                return
            content_type = self.headers.get("Content-Type", "")
            fmt = answer_format(content_type)
            self.close_connection = True  # until the body is read: what is left of it cannot be skipped
            if not slots.acquire(timeout=config.ack_timeout_ms / 1000):
                busy = Unavailable("busy", f"{config.workers} requests are being handled; retry later")
                self._refuse(ambassador.refusal(busy, "http"), fmt)
                return
            try:
                body_format(content_type)  # 415 before the body is read
                data = self._body()
                self.close_connection = False
                encoding = self.headers.get("Content-Encoding", "")
                tenant = self.headers.get("X-Scope-OrgID", "")
                answer = ambassador.export(signal, data, content_type, encoding, tenant, "http")
            except Exception as e:
                self._refuse(ambassador.refusal(e, "http"), fmt)
                return
            finally:
                slots.release()
            self._reply(200, answer, MEDIA_TYPES[fmt])

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] in PATHS:
                self._plain(405, "method not allowed: OTLP/HTTP exports are POST\n", {"Allow": "POST"})
            else:
                self._plain(404, "not found\n")

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                raise OtlpError("chunked bodies are not supported: send a Content-Length")
            declared = self.headers.get("Content-Length")
            if declared is None:
                raise OtlpError("a Content-Length is required")
            try:
                length = int(declared)
            except ValueError:
                raise OtlpError(f"Content-Length {declared!r} is not a number of bytes") from None
            if length < 0:
                raise OtlpError(f"Content-Length {length} is negative")
            if length > config.max_body_bytes:
                raise BodyTooLarge(f"request body too large: {length} bytes, limit {config.max_body_bytes}")
            data = self.rfile.read(length)
            if len(data) < length:
                raise OtlpError(f"the body ended after {len(data)} of its {length} bytes")
            return data

        def _refuse(self, refusal: Refusal, fmt: Format) -> None:
            retry = {"Retry-After": str(refusal.retry_after_s)} if refusal.retry_after_s else {}
            self._reply(refusal.http_status, status_body(refusal, fmt), MEDIA_TYPES[fmt], retry)

        def _plain(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
            self.close_connection = True
            self._reply(status, text.encode(), "text/plain; charset=utf-8", headers)

        def _reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Every export would be a line; the counters and refusal warnings say what matters."""

    return Handler


def serve_http(ambassador: Ambassador) -> ThreadingHTTPServer:
    """Listening on `otlp.host:otlp.http_port` (OSError when it cannot), served on a daemon thread."""
    config = ambassador.config
    server = ThreadingHTTPServer(
        (config.host, config.http_port), _handler(ambassador, threading.BoundedSemaphore(config.workers))
    )
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.1,), name="otlp-http", daemon=True).start()
    return server
