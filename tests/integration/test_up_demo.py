"""`observ up --demo` as a newcomer runs it, with the real Prometheus from PATH (Debian's package).

One `observ up` process for the whole module: within three minutes of its start every generated SLO recording
rule has a value and every query panel of every committed dashboard returns data (PromQL through the demo's
Prometheus, LogQL through observ's Loki API, TraceQL through its Tempo API); then the fault switch makes
payments fail, which shows in Prometheus' error ratio, in error spans and in error log lines.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from collectors.demo.faults import error_message
from tests.integration.harness import ROOT, free_port, wait_for

STARTUP_BUDGET_S = 180.0
"""The promise to a newcomer: every panel and rule has data within three minutes of `observ up --demo`."""
VARIABLES = {"$route": ".+", "$tenant": ".+", "$service": ".+", "$__interval": "1m", "$__rate_interval": "1m"}
"""Grafana's "All" for the dashboards' template variables, and its interval macros."""


@dataclass
class Up:
    proc: subprocess.Popen[bytes]
    url: str
    prometheus: str
    started: float
    log: Path

    def remaining(self) -> float:
        return max(1.0, STARTUP_BUDGET_S - (time.monotonic() - self.started))

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _no_grpc(folder: Path) -> str:
    """Settings without the OTLP/gRPC receiver: its port 4317 may be another test's."""
    settings = folder / "observ.yaml"
    settings.write_text("api:\n  otlp:\n    grpc_port: 0\n")
    return str(settings)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    assert shutil.which("prometheus"), "the demo's Prometheus: apt-get install prometheus"
    tmp = tmp_path_factory.mktemp("up-demo")
    port, prometheus_port = free_port(), free_port()
    args = [sys.executable, "-m", "observ.cli.main", "up", "--demo", "--port", str(port), "--data", str(tmp / "data"),
            "--prometheus-port", str(prometheus_port), "--config", _no_grpc(tmp), "--demo-rate", "20"]  # fmt: skip
    log = tmp / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    started = time.monotonic()
    running = Up(proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prometheus_port}", started, log)
    try:
        wait_for(lambda: proc.poll() is not None or _ok(f"{running.url}/readyz"), 60, "observ /readyz")
        assert proc.poll() is None, running.log_tail()
        assert _ok(f"{running.prometheus}/-/ready"), running.log_tail()
        yield running
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, running.log_tail()
    assert not _ok(f"{running.prometheus}/-/ready"), "observ up stops its Prometheus"


def test_a_prometheus_port_asked_for_and_taken_is_one_refusal_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [sys.executable, "-m", "observ.cli.main", "up", "--demo", "--port", str(free_port()), "--data",
                str(tmp_path / "data"), "--prometheus-port", str(port), "--config", _no_grpc(tmp_path)]  # fmt: skip
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"observ up: Prometheus cannot listen on 127.0.0.1:{port}: Address already in use "
        "(pick another with --prometheus-port)"
    ]


def _poll_until_all(checks: dict[str, Any], answer: Any, timeout: float) -> dict[str, str]:
    """Calls `answer(check)` for every check still failing until none fails or time is up; what still fails, and
    the last answer it gave."""
    failing = {name: "not asked yet" for name in checks}
    deadline = time.monotonic() + timeout
    while failing:
        for name in list(failing):
            ok, why = answer(checks[name])
            if ok:
                del failing[name]
            else:
                failing[name] = why
        if not failing or time.monotonic() >= deadline:
            break
        time.sleep(5)
    return failing


def _prometheus(up: Up, query: str, instant: bool) -> tuple[bool, str]:
    now = time.time()
    if instant:
        resp = httpx.get(f"{up.prometheus}/api/v1/query", params={"query": query, "time": now}, timeout=30)
    else:
        params = {"query": query, "start": now - 300, "end": now, "step": 15}
        resp = httpx.get(f"{up.prometheus}/api/v1/query_range", params=params, timeout=30)
    return bool(resp.status_code == 200 and resp.json()["data"]["result"]), resp.text[:300]


def _loki(up: Up, query: str) -> tuple[bool, str]:
    now = time.time_ns()
    params = {"query": query, "start": now - 600 * 10**9, "end": now, "step": 60, "limit": 100}
    resp = httpx.get(f"{up.url}/loki/api/v1/query_range", params=params, timeout=30)
    return bool(resp.status_code == 200 and resp.json()["data"]["result"]), resp.text[:300]


def _tempo(up: Up, query: str, limit: int) -> tuple[bool, str]:
    now = int(time.time())
    params = {"q": query, "start": now - 600, "end": now + 1, "limit": limit}
    resp = httpx.get(f"{up.url}/api/search", params=params, timeout=30)
    return bool(resp.status_code == 200 and resp.json().get("traces")), resp.text[:300]


def _panels(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from _panels(node.get("panels") or [])


def dashboard_queries() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Every target of every committed dashboard: `file: panel [refId]` → (datasource type, query, target)."""
    out = {}
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        for panel in _panels(json.loads(path.read_text())["panels"]):
            for target in panel.get("targets") or []:
                kind = (target.get("datasource") or panel.get("datasource") or {})["type"]
                query = target.get("expr") or target.get("query") or ""
                for name, value in VARIABLES.items():
                    query = query.replace(name, value)
                out[f"{path.name}: {panel['title']} [{target.get('refId')}]"] = (kind, query, target)
    return out


def recording_rules() -> dict[str, str]:
    """Every generated recording rule as the selector of the series it records."""
    out = {}
    for path in sorted((ROOT / "alerts" / "generated").glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    matchers = ", ".join(f'{k}="{v}"' for k, v in sorted((rule.get("labels") or {}).items()))
                    out[f"{path.name}: {rule['record']}{{{matchers}}}"] = f"{rule['record']}{{{matchers}}}"
    return out


def test_every_generated_slo_recording_rule_has_a_value_within_three_minutes(up: Up) -> None:
    rules = recording_rules()
    assert len(rules) > 100
    failing = _poll_until_all(rules, lambda selector: _prometheus(up, selector, instant=True), up.remaining())
    assert failing == {}, f"{len(failing)} of {len(rules)} recording rules without a value"
    groups = httpx.get(f"{up.prometheus}/api/v1/rules", timeout=30).json()["data"]["groups"]
    unhealthy = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] == "err"]
    assert unhealthy == []
    assert {g["interval"] for g in groups} == {5, 30}, "the period groups run every 30s, the others every 5s"


def test_every_dashboard_query_panel_returns_data_within_three_minutes(up: Up) -> None:
    queries = dashboard_queries()
    assert {kind for kind, _, _ in queries.values()} == {"prometheus", "loki", "tempo"}

    def answer(check: tuple[str, str, dict[str, Any]]) -> tuple[bool, str]:
        kind, query, target = check
        if kind == "prometheus":
            return _prometheus(up, query, instant=bool(target.get("instant")))
        if kind == "loki":
            return _loki(up, query)
        return _tempo(up, query, int(target.get("limit") or 20))

    failing = _poll_until_all(queries, answer, up.remaining())
    assert failing == {}, f"{len(failing)} of {len(queries)} panel queries without data"


def _payments_error_ratio(up: Up) -> float:
    query = (
        'sum(rate(http_requests_total{service="payments", code=~"5.."}[30s]))'
        ' / sum(rate(http_requests_total{service="payments"}[30s]))'
    )
    result = httpx.get(f"{up.prometheus}/api/v1/query", params={"query": query}, timeout=30).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def _fault(up: Up, mode: str) -> str:
    cli = [sys.executable, "-m", "observ.cli.main", "demo", "fault", "payments", "--mode", mode, "--addr", up.url]
    done = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_fault_switch_fails_payments_in_metrics_spans_and_logs(up: Up) -> None:
    assert _fault(up, "error").strip() == "frontend off, checkout off, payments error, inventory off"
    try:
        wait_for(lambda: _payments_error_ratio(up) > 0.5, 60, "payments' 5xx ratio above 50% in Prometheus", 2)
        message = error_message("payments")
        now = time.time()
        selector = 'http_request_duration_seconds_bucket{service="payments", code="503"}'
        params = {"query": selector, "start": now - 60, "end": now}
        exemplars = httpx.get(f"{up.prometheus}/api/v1/query_exemplars", params=params, timeout=30).json()["data"]
        trace_ids = {e["labels"]["trace_id"] for series in exemplars for e in series["exemplars"]}
        assert trace_ids, "503 answers of payments carry trace_id exemplars"

        def error_span(trace_id: str) -> bool:
            resp = httpx.get(f"{up.url}/api/traces/{trace_id}", timeout=30)
            if resp.status_code != 200:
                return False
            spans = [
                (rs["resource"], span) for rs in resp.json()["batches"]
                for ss in rs["scopeSpans"] for span in ss["spans"]
            ]  # fmt: skip
            return any(
                {"key": "service.name", "value": {"stringValue": "payments"}} in res["attributes"]
                and span.get("status") == {"code": 2, "message": message}
                for res, span in spans
            )

        wait_for(lambda: any(error_span(t) for t in sorted(trace_ids)), 30, "an error span of payments", 2)

        def error_line_with_trace_id() -> bool:
            for trace_id in sorted(trace_ids):
                query = f'{{service="payments"}} |= "{trace_id}" | json | level="error"'
                resp = httpx.get(f"{up.url}/loki/api/v1/query_range", params={"query": query}, timeout=30)
                values = [v[1] for s in resp.json()["data"]["result"] for v in s["values"]]
                lines = [json.loads(v) for v in values if v.startswith("{")]  # not the plain-text tracebacks
                if any(line["msg"] == message and line["trace_id"] == trace_id for line in lines):
                    return True
            return False

        wait_for(error_line_with_trace_id, 30, "an ERROR line with the message and an exemplar's trace ID", 2)
        # observ up handed its Prometheus to the correlation API: payments' window has metrics and exemplars.
        start = int(time.time()) - 60
        answer = httpx.get(f"{up.url}/api/v1/correlate/services/payments", params={"start": start}, timeout=60).json()
        assert answer["missing"] == [] and answer["metrics"]["services"][0]["error_ratio"] > 0.05
        assert {e["trace_id"] for e in answer["exemplars"] if e["reason"] == "error"}
        assert message in {t["template"] for t in answer["top_errors"]}
    finally:
        _fault(up, "off")
