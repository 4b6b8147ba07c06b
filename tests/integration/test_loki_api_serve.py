"""`observ serve` and `observ query` as users run them: real processes, pushes over HTTP, the CLI's output."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from tests.integration.harness import ROOT, Proc, free_port

NS = 10**9


def observ_query(addr: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "observ.cli.main", "query", "--addr", addr, *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_serve_push_then_query_with_the_cli(tmp_path: Path) -> None:
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    args = ["serve", "--create", "--data", str(tmp_path / "data"), "--port", str(port)]
    serve = Proc([sys.executable, "-m", "observ.cli.main", *args], tmp_path / "serve.log", port)
    serve.start()
    now = time.time_ns()
    # 1,500 lines, three per timestamp, so the CLI's 1,000-line batches end inside a timestamp.
    values = [[str(now - (1500 - i) // 3 * NS), f"line {i:04d}"] for i in range(1500)]
    body = {"streams": [{"stream": {"service": "api", "env": "test"}, "values": values}]}
    r = httpx.post(f"{addr}/loki/api/v1/push", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 204, r.text

    raw = observ_query(addr, '{service="api"}', "--since", "1h", "--limit", "1400", "-o", "raw")
    assert raw.returncode == 0, raw.stderr
    got = raw.stdout.splitlines()
    assert len(got) == 1400 and len(set(got)) == 1400
    assert got[0] in {"line 1497", "line 1498", "line 1499"}, "newest first"

    jsonl = observ_query(addr, '{service="api"} |= "line 000"', "--forward", "-o", "jsonl", "--limit", "5")
    rows = [orjson.loads(x) for x in jsonl.stdout.splitlines()]
    assert [r["line"] for r in rows] == [f"line {i:04d}" for i in range(5)]
    loki3 = {"service_name": "api", "detected_level": "unknown"}  # added on push, as Loki 3 adds them
    assert rows[0]["labels"] == {"service": "api", "env": "test", **loki3} and rows[0]["ts"].isdigit()

    metric = observ_query(addr, 'sum(count_over_time({env="test"}[1h]))', "--instant", "-o", "jsonl")
    assert metric.returncode == 0, metric.stderr
    assert orjson.loads(metric.stdout)["value"] == "1500"

    table = observ_query(addr, '{service="api"}', "--limit", "3")
    assert table.returncode == 0 and "line 1499" in table.stdout and "3 results" in table.stderr

    bad = observ_query(addr, '{service="api"')
    assert bad.returncode == 1 and "parse error" in bad.stderr

    assert serve.stop() == 0


def test_query_cli_reports_an_unreachable_server() -> None:
    r = observ_query(f"http://127.0.0.1:{free_port()}", '{a="b"}')
    assert r.returncode == 1 and "cannot reach" in r.stderr


def test_serve_runs_retention_from_its_config_file(tmp_path: Path) -> None:
    """The config file's `store:` section reaches the stores `observ serve` opens, and its maintenance thread
    expires rows past the tenant's period on its own: lines two hours old go, recent ones stay."""
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    config = tmp_path / "serve.yaml"
    config.write_text("store:\n  maintenance_interval_s: 0.2\n  logs:\n    retention:\n      period: 1h\n")
    args = ["serve", "--create", "--data", str(tmp_path / "data"), "--port", str(port), "--config", str(config)]
    serve = Proc([sys.executable, "-m", "observ.cli.main", *args], tmp_path / "serve.log", port)
    serve.start()
    now = time.time_ns()
    old = [[str(now - 2 * 3600 * NS + i), f"old {i}"] for i in range(10)]
    new = [[str(now - 60 * NS + i), f"new {i}"] for i in range(10)]
    body = {"streams": [{"stream": {"service": "api"}, "values": old + new}]}
    r = httpx.post(f"{addr}/loki/api/v1/push", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 204, r.text

    def count() -> str:
        metric = observ_query(addr, 'sum(count_over_time({service="api"}[3h]))', "--instant", "-o", "jsonl")
        assert metric.returncode == 0, metric.stderr
        return orjson.loads(metric.stdout)["value"]

    deadline = time.monotonic() + 60
    while count() != "10" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert count() == "10", "the two-hour-old lines were not expired"
    metrics = httpx.get(f"{addr}/metrics").text
    assert 'observ_store_retention_deleted_rows_total{store="logs",tenant="default"} 10.0' in metrics
    assert serve.stop() == 0
