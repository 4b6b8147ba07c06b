"""`observ up --demo` serves the Loki API: Grafana's requests answer over the demo's lines."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.harness import ROOT, free_port, wait_for


def test_up_answers_grafana_requests(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "observ.cli.main", "up", "--port", str(port), "--data", str(tmp_path / "data"),
            "--demo", "--demo-rate", "200"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:

        def payments_lines() -> bool:
            try:
                r = httpx.get(f"{base}/loki/api/v1/query_range", params={"query": '{service="payments"}', "limit": 20})
            except httpx.HTTPError:
                return False
            return r.status_code == 200 and sum(len(s["values"]) for s in r.json()["data"]["result"]) == 20

        wait_for(payments_lines, 60, "20 payments lines through the Loki API")
        health = httpx.get(f"{base}/loki/api/v1/query", params={"query": "vector(1)+vector(1)", "time": "4000000000"})
        assert health.json()["data"]["result"][0]["value"] == [4000000000, "2"]
        assert {"payments"} <= set(httpx.get(f"{base}/loki/api/v1/label/service/values").json()["data"])
        volume = httpx.get(
            f"{base}/loki/api/v1/query_range",
            params={"query": 'sum by (level) (count_over_time({service=~".+"}[1m]))', "step": "60"},
        ).json()["data"]
        assert volume["resultType"] == "matrix" and volume["result"]
        flagged = httpx.get(
            f"{base}/loki/api/v1/query_range",
            params={"query": '{service="payments"} | json', "limit": 5},
            headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
        ).json()["data"]
        entry = flagged["result"][0]["values"][0]
        assert len(entry) == 3 and len(entry[2]["structuredMetadata"]["trace_id"]) == 32
        assert "msg" in entry[2]["parsed"]
        fields = httpx.get(f"{base}/loki/api/v1/detected_fields", params={"query": '{service="payments"}'}).json()
        assert "msg" in {f["label"] for f in fields["fields"]}
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
