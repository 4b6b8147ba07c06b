"""Log writers that rotate like kubelet (rename + create) and like logrotate's copytruncate."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path


def rfc3339(ns: int) -> str:
    """CRI's timestamp form with nanoseconds, e.g. 2026-11-25T10:00:00.000000001Z."""
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"


class RotatingWriter:
    """Appends numbered lines to one file and rotates it every `rotate_every` lines.

    `lines()` is exactly what must arrive: the message text of each line, once. CRI lines are stamped
    `base_s` (default: when the writer was made, whole seconds) plus their sequence number in nanoseconds,
    so queries over "the last hour" find them whatever the date.
    """

    def __init__(self, path: Path, name: str, fmt: str, rotation: str, rotate_every: int) -> None:
        assert fmt in ("cri", "plain") and rotation in ("rename", "copytruncate")
        self.path = path
        self.name = name
        self.fmt = fmt
        self.rotation = rotation
        self.rotate_every = rotate_every
        self.written = 0
        self.rotations = 0
        self.base_s = int(time.time())
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "ab")  # noqa: SIM115 - kept open like an application's log file

    def message(self, i: int) -> str:
        return f'{self.name} seq={i:07d} level=info user=u{i % 97} msg="request done" took={i % 13}ms'

    def window(self) -> dict[str, str]:
        """Loki `start`/`end` parameters around every line written (a minute either side)."""
        return {"start": str((self.base_s - 60) * 10**9), "end": str((self.base_s + 60) * 10**9)}

    def lines(self) -> list[str]:
        return [self.message(i) for i in range(self.written)]

    def write(self, n: int) -> None:
        chunk = []
        for _ in range(n):
            msg = self.message(self.written)
            if self.fmt == "cri":
                chunk.append(f"{rfc3339(self.base_s * 10**9 + self.written)} stdout F {msg}\n")
            else:
                chunk.append(msg + "\n")
            self.written += 1
            if self.written % self.rotate_every == 0:
                self._f.write("".join(chunk).encode())
                chunk = []
                self.rotate()
        self._f.write("".join(chunk).encode())
        self._f.flush()

    def rotate(self) -> None:
        self._f.flush()
        self.rotations += 1
        if self.rotation == "rename":
            self._f.close()
            os.rename(self.path, self.path.with_name(f"{self.path.name}.{self.rotations:04d}"))
            self._f = open(self.path, "ab")  # noqa: SIM115
        else:
            for k in range(4, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{k}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{k + 1}"))
            shutil.copyfile(self.path, self.path.with_name(f"{self.path.name}.1"))
            self._f.truncate(0)
            self._f.seek(0)

    def close(self) -> None:
        self._f.close()
