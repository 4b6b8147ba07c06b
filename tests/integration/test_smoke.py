"""`observ smoke` as a deploy pipeline runs it: against a real `observ up` / `observ serve` it passes naming each
check; against a stopped target, or without the token the target wants, it fails with one line and no traceback."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.harness import ROOT, free_port, wait_for

OBSERV = str(Path(sys.executable).parent / "observ")
CHECKS = ["ready", "push line", "push span", "query line", "query trace", "correlate"]


def smoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OBSERV, "smoke", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def serving(tmp: Path, *args: str) -> Iterator[str]:
    """Runs `observ <args>` on a free port until the test is done; yields its URL once ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [OBSERV, *args, "--port", str(port), "--data", str(tmp / "data")]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"observ {args[0]} exited with {proc.returncode}: {proc.communicate()[1].decode()}")
        return ready(url)

    try:
        wait_for(up, 60, f"{args[0]} /readyz")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a failed run; nothing else printed, no traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("observ smoke: "), result.stderr
    return lines[0]


@pytest.fixture(params=[["up"], ["serve", "--create"]], ids=["up", "serve"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with serving(tmp_path, *request.param) as url:
        yield url


def test_smoke_passes_against_a_running_observ_naming_each_check(target: str) -> None:
    result = smoke("--target", target, "--timeout", "30s")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line[2:13].rstrip() for line in lines[:6]] == CHECKS
    assert all(line.startswith("✓ ") for line in lines[:6]), result.stdout
    assert lines[6].startswith("smoke passed in ") and lines[6].endswith(": 6 checks passed")
    assert result.stderr == ""
    again = smoke("--target", target, "--tenant", "team-b")
    assert again.returncode == 0, again.stdout + again.stderr


def test_smoke_against_a_stopped_target_fails_with_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = smoke("--target", url, "--timeout", "5s")
    assert one_line(result) == f"observ smoke: cannot reach {url}: connection refused"
    assert result.stdout == ""


def test_smoke_with_tokens_and_without_otlp(tmp_path: Path) -> None:
    """A target with bearer tokens and its OTLP receivers off: the token and tenant reach every call, the span
    checks are skipped (not failed), and a run without the token fails on the push, saying so."""
    config = tmp_path / "observ.yaml"
    api = {"auth": {"tokens": {"s3cr3t": ["team-a", "team-b"]}}, "otlp": {"enabled": False}}
    config.write_text(yaml.safe_dump({"api": api}))
    with serving(tmp_path, "up", "--config", str(config)) as url:
        result = smoke("--target", url, "--token", "s3cr3t", "--tenant", "team-b", "--timeout", "30s")
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert lines[2].startswith("- push span") and "skipped: no OTLP receiver" in lines[2]
        assert lines[4].startswith("- query trace")
        assert "skipped: no OTLP receiver" in lines[-1] and lines[-1].startswith("smoke passed in ")
        assert "4 checks passed" in lines[-1]
        refused = one_line(smoke("--target", url, "--timeout", "5s"))
        assert refused.startswith("observ smoke: the log line was not stored: POST /loki/api/v1/push answered 401")
        wrong_tenant = one_line(smoke("--target", url, "--token", "s3cr3t", "--tenant", "team-c", "--timeout", "5s"))
        assert "answered 403: tenant 'team-c' is not allowed for this token" in wrong_tenant
