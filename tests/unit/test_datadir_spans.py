"""`open_stores`: the spans store beside the logs store, with the logs store's one-line refusals."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from observ.cli.datadir import SPANS_FILE, STORE_FILE, open_stores
from observ.cli.refusal import Refused

HOLD = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """Another process holding `<data>/spans.duckdb` open, as a second `observ serve` would."""
    data = tmp_path / "data"
    data.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data / SPANS_FILE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    yield proc, data
    proc.communicate("", timeout=30)


def test_both_stores_are_created_in_the_data_folder(tmp_path: Path) -> None:
    logs, spans = open_stores(tmp_path / "data", create=True)
    try:
        assert (logs.path, spans.path) == (tmp_path / "data" / STORE_FILE, tmp_path / "data" / SPANS_FILE)
        assert spans.count() == 0 and (tmp_path / "data" / "span-segments").is_dir()
    finally:
        spans.close()
        logs.close()


def test_a_held_spans_store_names_its_holder_and_releases_the_logs_store(
    holder: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, data = holder
    with pytest.raises(Refused) as refused:
        open_stores(data, create=True)
    message = str(refused.value)
    assert message.startswith(f"{data / SPANS_FILE} is in use by another process (PID {proc.pid}: ")
    assert "\n" not in message
    # the logs store opened first was closed again: another process can take it
    probe = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", str(data / STORE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
