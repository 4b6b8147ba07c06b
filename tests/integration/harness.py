"""Real processes for end-to-end tests: the sidecar and the ingester as users run them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


RUNNING: list[Proc] = []
"""Every Proc started; tests/integration/conftest.py kills what a failed test left behind."""


class Proc:
    """A child process with a metrics endpoint; its output goes to a log file kept for failures."""

    def __init__(self, args: list[str], log: Path, port: int) -> None:
        self.args = args
        self.log = log
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        out = open(self.log, "ab")  # noqa: SIM115 - the child owns it
        out.write(f"\n--- start {self.starts}: {' '.join(self.args)}\n".encode())
        out.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        RUNNING.append(self)
        out.close()
        wait_for(self.healthy, 30, f"{self.args[2]} /healthz")

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"process exited with {self.proc.returncode}; log:\n{self.tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> dict[str, float]:
        """Samples summed over labels, keyed by sample name, plus `name{label=value}` for labelled ones."""
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        out: dict[str, float] = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[s.name] = out.get(s.name, 0.0) + s.value
                for k, v in s.labels.items():
                    key = f"{s.name}{{{k}={v}}}"
                    out[key] = out.get(key, 0.0) + s.value
        return out

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"did not stop on SIGTERM within {timeout}s; log:\n{self.tail()}") from None
        return self.proc.returncode

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def sidecar(tmp: Path, globs: list[str], bootstrap: str, topic: str, *extra: str) -> Proc:
    port = free_port()
    args = [sys.executable, "-m", "collectors.log_adapter", *globs, "--bootstrap", bootstrap, "--topic", topic,
            "--checkpoint", str(tmp / "checkpoints.json"), "--metrics-port", str(port), "-v", *extra]  # fmt: skip
    return Proc(args, tmp / "sidecar.log", port)


def ingester(tmp: Path, bootstrap: str, topic: str, *extra: str) -> Proc:
    port = free_port()
    args = [sys.executable, "-m", "observ.cli.main", "ingest", "--bootstrap", bootstrap, "--topic", topic,
            "--group", f"g-{topic}", "--data", str(tmp), "--metrics-port", str(port), *extra]  # fmt: skip
    return Proc(args, tmp / "ingester.log", port)
