"""`observ up --demo` as a newcomer runs it: data flows, the API answers, a restart duplicates nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx

from tests.integration.harness import ROOT, free_port, wait_for


def start_up(data: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "observ.cli.main", "up", "--port", str(port), "--data", str(data), *extra]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]


def count(data: Path) -> int:
    with duckdb.connect(str(data / "observ.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM logs").fetchone()[0]


def duplicates(data: Path) -> int:
    with duckdb.connect(str(data / "observ.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) - count(DISTINCT (pod, stream, ts, line)) FROM logs").fetchone()[0]


def test_up_demo_serves_recent_lines_and_restarts_without_duplicates(tmp_path: Path) -> None:
    data = tmp_path / "observ-data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_up(data, port, "--demo", "--demo-rate", "200")
    try:
        wait_for(lambda: _ok(f"{base}/readyz"), 30, "/readyz")

        def four_services() -> bool:
            services = httpx.get(f"{base}/api/v1/services").json()
            return len(services) == 4 and all(s["lines"] > 5 for s in services)

        wait_for(four_services, 30, "lines from all four demo services")
        body = httpx.get(f"{base}/api/v1/logs", params={"service": "payments", "limit": 5}).json()
        assert body["service"] == "payments" and len(body["lines"]) == 5
        first = body["lines"][0]
        assert len(first["trace_id"]) == 32 and first["pod"].startswith("payments-") and first["ts"].isdigit()
        assert [int(x["ts"]) for x in body["lines"]] == sorted((int(x["ts"]) for x in body["lines"]), reverse=True)
        assert (
            httpx.get(f"{base}/api/v1/logs", params={"service": "payments"}, headers={"X-Scope-OrgID": "other"}).json()[
                "lines"
            ]
            == []
        )
        metrics = httpx.get(f"{base}/metrics").text
        assert "observ_adapter_lines_read_total" in metrics
        assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        stop(proc)
    stored = count(data)
    assert stored > 0 and (data / "adapter-checkpoints.json").exists()
    glob = str(data / "demo-logs/var/log/pods/*/*/*.log")
    proc = start_up(data, port, "--include", glob)
    try:
        wait_for(lambda: _ok(f"{base}/readyz"), 30, "/readyz after restart")
        time.sleep(3)
    finally:
        stop(proc)
    assert count(data) >= stored
    assert duplicates(data) == 0, "restarting over the same files must not store any line twice"


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
