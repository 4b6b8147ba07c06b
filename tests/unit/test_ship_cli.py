"""`observ ship`: `--data` is a folder holding the checkpoints, and the command says what it is doing."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from collectors.log_adapter import main
from collectors.log_adapter.cli import ship
from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.events import Metrics
from collectors.log_adapter.progress import Progress, Snapshot


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[AdapterConfig]:
    configs: list[AdapterConfig] = []
    monkeypatch.setattr(main, "run", configs.append)
    return configs


def invoke(*args: str) -> None:
    app = typer.Typer()
    app.command()(ship)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


def test_checkpoints_live_in_the_data_folder(tmp_path: Path, ran: list[AdapterConfig]) -> None:
    invoke("app.log", "--data", str(tmp_path / "state"))
    assert ran[0].tail.checkpoint_path == str(tmp_path / "state" / "adapter-checkpoints.json")


def test_data_flag_moves_the_checkpoint_of_a_config_file_but_not_an_explicit_one(
    tmp_path: Path, ran: list[AdapterConfig]
) -> None:
    derived = tmp_path / "derived.yaml"
    derived.write_text(f"data: {tmp_path / 'from-file'}\ntail:\n  include: [app.log]\n")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text(f"tail:\n  include: [app.log]\n  checkpoint_path: {tmp_path / 'cp.json'}\n")
    invoke("--config", str(derived))
    invoke("--config", str(derived), "--data", str(tmp_path / "flag"))
    invoke("--config", str(explicit), "--data", str(tmp_path / "flag"))
    assert [c.tail.checkpoint_path for c in ran] == [
        str(tmp_path / "from-file" / "adapter-checkpoints.json"),
        str(tmp_path / "flag" / "adapter-checkpoints.json"),
        str(tmp_path / "cp.json"),
    ]


def test_default_checkpoint_is_under_the_default_data_folder() -> None:
    assert Path(AdapterConfig().tail.checkpoint_path) == Path("observ-data/adapter-checkpoints.json")


def busy_metrics() -> Metrics:
    m = Metrics()
    m.files_open.set(3)
    m.files_waiting.set(2)
    m.lines_read.inc(1500)
    m.entries_shipped.inc(1200)
    m.bytes_shipped.inc(3 * 1024 * 1024)
    m.lag_bytes.set(2048)
    m.checkpoint_age.set(0.4)
    m.dropped.labels("sink_rejected").inc(1)
    m.source_errors.labels("permission_denied").inc(2)
    return m


def test_status_line_says_files_lines_shipped_rate_and_lag() -> None:
    m = busy_metrics()
    before = Snapshot.read(m.registry, at=100.0)
    m.entries_shipped.inc(500)
    now = Snapshot.read(m.registry, at=110.0)
    assert now.line(before) == (
        "observ ship: files 3 open, 2 waiting for a handle; lines read 1,500; "
        "entries shipped 1,700 (50/s, 3.0 MiB); lag 2.0 KiB unread; in flight 0 B; checkpoint saved 0s ago; "
        "problems 1 dropped, 2 errors"
    )


def test_without_a_terminal_progress_is_plain_periodic_lines() -> None:
    out = io.StringIO()
    progress = Progress(busy_metrics().registry, "title", Console(file=out, force_terminal=False), interval_s=0.05)
    progress.start()
    deadline = time.monotonic() + 10
    while out.getvalue().count("\n") < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    progress.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("observ ship: files 3 open") for line in lines)
    assert "\x1b[" not in out.getvalue()


def test_on_a_terminal_progress_is_a_live_table() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    progress = Progress(busy_metrics().registry, "observ ship -> kafka", console, interval_s=10)
    progress.start()
    deadline = time.monotonic() + 10
    while "entries shipped" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    progress.stop()
    text = out.getvalue()
    assert "observ ship -> kafka" in text
    assert "1,200" in text and "2.0 KiB unread" in text
