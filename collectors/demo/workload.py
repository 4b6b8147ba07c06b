"""A small demo workload: a few services writing CRI-format JSON logs with trace IDs.

Files follow the kubelet layout (/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log)
under a root folder, and are rotated by rename like kubelet does, so `observ up
--demo` exercises the same path labels, CRI parsing and rotation as production.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

SERVICES = ("frontend", "checkout", "payments", "inventory")

_ROUTES = {
    "frontend": ["GET /", "GET /product/{id}", "POST /cart", "GET /cart"],
    "checkout": ["POST /checkout", "GET /checkout/{id}"],
    "payments": ["POST /charge", "POST /refund"],
    "inventory": ["GET /stock/{id}", "PUT /stock/{id}"],
}

_ERRORS = [
    "upstream connect error or disconnect/reset before headers",
    "context deadline exceeded",
    "card declined: insufficient funds",
    "connection refused: postgres:5432",
]

_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/handlers.py", line 88, in handle\n'
    "    result = backend.call(request)\n"
    '  File "/app/backend.py", line 41, in call\n'
    '    raise TimeoutError("backend timed out after 2.0s")\n'
    "TimeoutError: backend timed out after 2.0s"
)


@dataclass(slots=True)
class _Pod:
    service: str
    path: Path
    rotate_bytes: int
    written: int = 0


def _cri(ts: dt.datetime, stream: str, text: str) -> str:
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return "".join(f"{stamp} {stream} F {part}\n" for part in text.split("\n"))


class DemoWorkload:
    """Writes `rate` lines per second in total until stopped; thread-safe start/stop."""

    def __init__(self, root: Path, rate: float = 50.0, rotate_bytes: int = 5 * 1024 * 1024) -> None:
        self.root = root
        self.rate = rate
        self.lines_written = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random(7)
        self._pods = []
        for svc in SERVICES:
            pod = f"{svc}-{self._rng.randrange(16**5):05x}"
            uid = uuid.UUID(int=self._rng.getrandbits(128))
            folder = root / "var/log/pods" / f"demo_{pod}_{uid}" / svc
            self._pods.append(_Pod(svc, folder / "0.log", rotate_bytes))

    @property
    def glob(self) -> str:
        return str(self.root / "var/log/pods/*/*/*.log")

    def start(self) -> None:
        for pod in self._pods:
            pod.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="demo-workload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        interval = 1.0 / self.rate
        while not self._stop.wait(interval):
            self.write_request(self._rng.choice(self._pods))

    def write_request(self, pod: _Pod) -> None:
        """One request's log lines, all sharing a trace ID, like an instrumented service."""
        rng = self._rng
        now = dt.datetime.now(dt.UTC)
        trace_id = f"{rng.getrandbits(128):032x}"
        span_id = f"{rng.getrandbits(64):016x}"
        route = rng.choice(_ROUTES[pod.service]).replace("{id}", str(rng.randrange(1000)))
        roll = rng.random()
        status, level = (500, "error") if roll < 0.03 else (429, "warn") if roll < 0.06 else (200, "info")
        ms = round(rng.lognormvariate(3, 0.6), 1)
        record = {
            "ts": now.isoformat(), "level": level, "service": pod.service, "msg": "request handled",
            "route": route, "status": status, "duration_ms": ms, "trace_id": trace_id, "span_id": span_id,
        }  # fmt: skip
        out = _cri(now, "stdout", orjson.dumps(record).decode())
        if status == 500:
            err = {"ts": now.isoformat(), "level": "error", "msg": rng.choice(_ERRORS), "trace_id": trace_id}
            out += _cri(now, "stderr", orjson.dumps(err).decode())
            if rng.random() < 0.3:
                out += _cri(now, "stderr", f"ERROR handler failed trace_id={trace_id}\n{_TRACEBACK}")
        self._append(pod, out)

    def _append(self, pod: _Pod, text: str) -> None:
        data = text.encode()
        with open(pod.path, "ab") as f:
            f.write(data)
        pod.written += len(data)
        self.lines_written += text.count("\n")
        if pod.written >= pod.rotate_bytes:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S%f")
            os.rename(pod.path, pod.path.with_name(f"0.log.{stamp}"))
            pod.written = 0
