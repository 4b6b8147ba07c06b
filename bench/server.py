"""`observ serve` for the benches that measure it over HTTP (bench/load.py, bench/traces.py --http)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def serve(data: Path) -> Iterator[tuple[str, psutil.Process]]:
    """`observ serve` on a free loopback port over a fresh store in `data`: its URL and process, once ready."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "observ.cli.main", "serve", "--data", str(data), "--create", "--port", str(port)]
    server = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=5) as client:
            for _ in range(600):
                if server.poll() is not None:
                    raise SystemExit(f"observ serve exited with {server.returncode}: {server.stderr.read().decode()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/ready").status_code == 200:
                        break
                time.sleep(0.1)
            else:
                raise SystemExit("observ serve was not ready within 60 s")
        yield url, psutil.Process(server.pid)
    finally:
        server.terminate()
        server.wait(60)
