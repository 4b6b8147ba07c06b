"""`observ up` on a disk that fills up: nothing is lost or skipped, /healthz says why, and ingestion resumes."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.integration.harness import free_port, wait_for
from tests.integration.test_up import start_up, stop


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs: a real ENOSPC, from the kernel, for the store's folder only."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    done = subprocess.run([*sudo, "mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode:
        pytest.fail(f"this test mounts a tmpfs and needs root or passwordless sudo: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run([*sudo, "umount", "-l", str(mnt)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros until the kernel says ENOSPC, to the last block."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        for chunk in (1 << 20, 4096):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)
    return filler


def append(log: Path, first: int, n: int) -> None:
    with log.open("a") as f:
        f.write("".join(f'level=info msg="order {i:06d} done" pad={"p" * 200}\n' for i in range(first, first + n)))


def stored(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT line FROM logs").fetchall()]


def lines_via_api(base: str) -> int:
    try:
        return sum(int(s["lines"]) for s in httpx.get(f"{base}/api/v1/services", timeout=2).json())
    except (httpx.HTTPError, ValueError):
        return -1


def test_a_full_disk_holds_ingestion_until_space_returns_and_loses_nothing(tmp_path: Path, small_disk: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    data = small_disk / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    append(log, 0, 2_000)
    proc = start_up(data, port, "--include", str(logs / "*.log"))
    filler = None
    try:
        wait_for(lambda: lines_via_api(base) == 2_000, 60, "the first lines stored")
        filler = fill(small_disk)
        append(log, 2_000, 3_000)
        wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 503, 60, "/healthz to report the full disk")
        health = httpx.get(f"{base}/healthz").json()
        assert health["status"] == "cannot write" and "No space left on device" in health["error"]
        assert lines_via_api(base) == 2_000, "nothing committed past the failure"
        filler.unlink()
        filler = None
        wait_for(lambda: lines_via_api(base) == 5_000, 60, "ingestion to resume when space returns")
        assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        if filler is not None:
            filler.unlink()
        stop(proc)
    got = stored(data / "observ.duckdb")
    assert sorted(got) == sorted(set(got)), "duplicates"
    assert {int(line.split()[2]) for line in got} == set(range(5_000))


def test_the_error_is_enospc_not_a_stand_in(small_disk: Path) -> None:
    """Guards the fixture: the tmpfs really fills, so the test above exercises the kernel's error."""
    filler = fill(small_disk)
    with pytest.raises(OSError) as e, (small_disk / "x").open("wb", buffering=0) as f:
        f.write(b"\0" * 8192)
    assert e.value.errno == errno.ENOSPC
    filler.unlink()
    assert shutil.disk_usage(small_disk).free > 16 << 20
