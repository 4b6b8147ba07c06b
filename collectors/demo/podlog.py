"""A container log file as kubelet writes it: CRI lines under /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log.

The demo services write their stdout and stderr here instead of to a terminal, so `observ up --demo` reads
them through the same path labels, CRI parsing, multiline merging and rename rotation as production.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from pathlib import Path


def cri(ts: dt.datetime, stream: str, text: str) -> str:
    """`text` as full (`F`) CRI lines, one per line of text, with kubelet's nanosecond RFC 3339 timestamp."""
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return "".join(f"{stamp} {stream} F {part}\n" for part in text.split("\n"))


class PodLog:
    """One container's log file; thread-safe appends, renamed to `0.log.<stamp>` past `rotate_bytes` like kubelet."""

    def __init__(self, root: Path, namespace: str, pod: str, uid: uuid.UUID, container: str, rotate_bytes: int) -> None:
        self.path = root / "var/log/pods" / f"{namespace}_{pod}_{uid}" / container / "0.log"
        self.rotate_bytes = rotate_bytes
        self.lines_written = 0
        self.rotations = 0
        self._written = 0
        self._lock = threading.Lock()

    @staticmethod
    def glob(root: Path) -> str:
        return str(root / "var/log/pods/*/*/*.log")

    def write(self, stream: str, text: str, now: dt.datetime | None = None) -> None:
        data = cri(now or dt.datetime.now(dt.UTC), stream, text).encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as f:
                f.write(data)
            self._written += len(data)
            self.lines_written += text.count("\n") + 1
            if self._written >= self.rotate_bytes:
                self.rotations += 1
                stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
                # The count keeps two rotations within one clock tick from overwriting each other.
                os.rename(self.path, self.path.with_name(f"0.log.{stamp}.{self.rotations}"))
                self._written = 0
