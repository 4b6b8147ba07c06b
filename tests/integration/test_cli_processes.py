"""The console commands as users run them: a data folder or port they cannot use is one line on stderr and exit 1.

Also `observ up --config`: the single node takes the same settings file as `observ serve`.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.harness import ROOT, free_port, wait_for

OBSERV = str(Path(sys.executable).parent / "observ")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OBSERV, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def refused(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The one stderr line of a command that refused to start."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"observ {command}: "), result.stderr
    return lines[0]


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([OBSERV, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]


def answers(url: str, **headers: str) -> bool:
    try:
        return httpx.get(url, headers=headers, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def running_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    data, port = tmp_path / "data", free_port()
    proc = start("up", "--data", str(data), "--port", str(port))
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 60, "observ up /healthz")
        yield proc, data
    finally:
        stop(proc)


def test_a_second_process_on_a_data_folder_names_the_one_holding_it(
    running_up: tuple[subprocess.Popen[bytes], Path],
) -> None:
    holder, data = running_up
    for args in (
        ["up", "--port", str(free_port())],
        ["serve", "--port", str(free_port())],
        ["ingest", "--metrics-port", "0", "--bootstrap", "127.0.0.1:1"],
    ):
        line = refused(run(*args, "--data", str(data)), args[0])
        assert "is in use by another process" in line and f"PID {holder.pid}:" in line and "observ up" in line


def test_serve_refuses_a_folder_without_a_store_unless_asked_to_create_one(tmp_path: Path) -> None:
    typo = tmp_path / "obsrev-data"
    line = refused(run("serve", "--data", str(typo), "--port", str(free_port())), "serve")
    assert "holds no observ store" in line and "--create" in line
    assert not typo.exists(), "a refused serve must not leave an empty folder behind"


@pytest.mark.parametrize("command", ["up", "serve", "ingest"])
def test_data_is_a_folder_in_every_command(tmp_path: Path, command: str) -> None:
    file = tmp_path / "observ.duckdb"
    file.write_bytes(b"")
    for data in (file, tmp_path / "new" / "observ.duckdb"):
        line = refused(run(command, "--data", str(data), "--port" if command != "ingest" else "--metrics-port", "0"),
                       command)  # fmt: skip
        assert "--data names the data folder" in line
    assert not (tmp_path / "new").exists()


def _unwritable() -> Path:
    """A folder nobody may write in, root included (sysfs)."""
    folder = Path("/sys")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pytest.skip("/sys is writable here")
    except OSError:
        return folder


def test_a_data_folder_that_cannot_be_written_or_created_is_one_line() -> None:
    folder = _unwritable()
    assert "is not writable" in refused(run("up", "--data", str(folder), "--port", "0"), "up")
    assert "is not writable" in refused(run("ingest", "--data", str(folder), "--metrics-port", "0"), "ingest")
    assert "cannot create the data folder" in refused(
        run("up", "--data", str(folder / "observ-data"), "--port", "0"), "up"
    )


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = refused(run("up", "--data", str(tmp_path / "d"), "--port", str(port)), "up")
    assert f"cannot listen on 127.0.0.1:{port}" in line


def test_a_bad_config_file_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("api: {auth: {tokens: {s3cr3t: []}}}\n")
    assert "api.auth.tokens" in refused(run("up", "--config", str(cfg), "--data", str(tmp_path / "d")), "up")
    cfg.write_text("api: {auth: [\n")
    assert f"{cfg}:2:1 is not valid YAML" in refused(run("serve", "--config", str(cfg)), "serve")
    assert "cannot read --config" in refused(run("up", "--config", str(tmp_path / "missing.yaml")), "up")


def test_up_takes_the_serve_config_and_flags_override_it(tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "cfg.yaml"
    settings = {
        "port": free_port(),
        "data": str(tmp_path / "from-config"),
        "api": {"auth": {"tokens": {"s3cr3t-a": ["team-a"]}}, "limits": {"max_entries": 7}},
    }
    cfg.write_text(yaml.safe_dump(settings))
    data = tmp_path / "from-flag"
    proc = start("up", "--config", str(cfg), "--port", str(port), "--data", str(data))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{base}/healthz"), 60, "observ up --config /healthz")
        assert httpx.get(f"{base}/loki/api/v1/labels").status_code == 401
        assert httpx.get(f"{base}/loki/api/v1/labels", headers={"Authorization": "Bearer wrong"}).status_code == 401
        authed = {"Authorization": "Bearer s3cr3t-a"}
        assert httpx.get(f"{base}/loki/api/v1/labels", headers=authed).status_code == 200
        too_many = httpx.get(f"{base}/loki/api/v1/query_range", params={"query": '{a="b"}', "limit": 8}, headers=authed)
        assert too_many.status_code == 400 and "max_entries_limit" in too_many.text
        query = run("query", '{service="none"}', "--limit", "5", "--addr", base, "--token", "s3cr3t-a")
        assert query.returncode == 0, query.stderr
        denied = run("query", '{service="none"}', "--addr", base)
        assert denied.returncode == 1 and "401" in denied.stderr
    finally:
        stop(proc)
    assert (data / "observ.duckdb").exists() and not (tmp_path / "from-config").exists()
