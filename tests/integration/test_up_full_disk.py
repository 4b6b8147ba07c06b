"""`observ up` on a disk that fills up: nothing is lost or skipped, /healthz says why, and ingestion resumes.

The fault comes from the kernel: a 32 MiB tmpfs filled to the last block (ENOSPC) where this machine
lets the test mount one (root or passwordless sudo), otherwise the process' own file-size limit
lowered to zero with prlimit(2) (EFBIG): either way every write of the store fails until it is lifted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.integration.harness import free_port, wait_for
from tests.integration.test_up import start_up, stop


def fill(disk: Path) -> Path:
    """Write zeros until the kernel says ENOSPC, to the last block."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        for chunk in (1 << 20, 4096):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)
    return filler


class DiskFault:
    """Makes the store's folder unwritable for one process, and writable again."""

    def __init__(self, root: Path) -> None:
        mnt = root / "small-disk"
        mnt.mkdir()
        self._sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        cmd = [*self._sudo, "mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)]
        self.tmpfs = subprocess.run(cmd, capture_output=True).returncode == 0
        self.folder = mnt / "data"
        self.error = "No space left on device" if self.tmpfs else "File too large"
        self._filler: Path | None = None
        self._pid = 0

    def attach(self, pid: int) -> None:
        self._pid = pid

    def fill(self) -> None:
        if self.tmpfs:
            self._filler = fill(self.folder.parent)
        else:
            resource.prlimit(self._pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    def free(self) -> None:
        if self._filler is not None:
            self._filler.unlink()
            self._filler = None
        elif not self.tmpfs and self._pid:
            with contextlib.suppress(ProcessLookupError):
                resource.prlimit(self._pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    def close(self) -> None:
        self.free()
        if self.tmpfs:
            subprocess.run([*self._sudo, "umount", "-l", str(self.folder.parent)], check=False)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[DiskFault]:
    fault = DiskFault(tmp_path)
    try:
        yield fault
    finally:
        fault.close()


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


def test_a_full_disk_holds_ingestion_until_space_returns_and_loses_nothing(tmp_path: Path, disk: DiskFault) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    append(log, 0, 2_000)
    proc = start_up(disk.folder, port, "--include", str(logs / "*.log"))
    disk.attach(proc.pid)
    try:
        wait_for(lambda: lines_via_api(base) == 2_000, 60, "the first lines stored")
        disk.fill()
        append(log, 2_000, 3_000)
        wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 503, 60, "/healthz to report the full disk")
        health = httpx.get(f"{base}/healthz").json()
        assert health["status"] == "cannot write" and disk.error in health["error"]
        assert lines_via_api(base) == 2_000, "nothing committed past the failure"
        disk.free()
        wait_for(lambda: lines_via_api(base) == 5_000, 60, "ingestion to resume when space returns")
        assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        disk.free()
        stop(proc)
    got = stored(disk.folder / "observ.duckdb")
    assert sorted(got) == sorted(set(got)), "duplicates"
    assert {int(line.split()[2]) for line in got} == set(range(5_000))


def test_a_filled_tmpfs_really_answers_enospc(disk: DiskFault) -> None:
    """Guards the fixture: where a tmpfs can be mounted, the test above meets the kernel's own ENOSPC."""
    if not disk.tmpfs:
        pytest.skip("no tmpfs can be mounted here; the full-disk test uses RLIMIT_FSIZE instead")
    filler = fill(disk.folder.parent)
    with pytest.raises(OSError) as e, (disk.folder.parent / "x").open("wb", buffering=0) as f:
        f.write(b"\0" * 8192)
    assert e.value.errno == errno.ENOSPC
    filler.unlink()
    assert shutil.disk_usage(disk.folder.parent).free > 16 << 20
