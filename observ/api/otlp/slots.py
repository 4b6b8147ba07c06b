"""Reused memory-mapped files that carry request bodies to the decoder processes and their rows back.

A ProcessPoolExecutor pickles arguments and results through a pipe. For bench/traces.py's bodies (~500 KB in,
~700 KB of Arrow rows out) that cost 1.3-1.5 us a span in the serving process and 1.8-2.0 us in the decoders,
about a fifth of ingest's CPU; a fresh file per request costs as much again in page faults. A slot is a file
that each side maps once and reuses: a body is one copy in, the rows one copy out. A request that finds no free
slot, or does not fit one, goes through the pipe as before.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import queue
import tempfile
from collections.abc import Iterator
from pathlib import Path

SLOTS = 4
"""Requests decoding (or waiting for a decoder) at once through slots; more take the pipe."""
SLOT_BYTES = 8 * 1024 * 1024
"""A slot's size: a collector's batch of a few thousand spans and its rows fit; bigger bodies take the pipe.
The slots are reserved when made (32 MiB in all by default)."""
_PREFIX = "observ-decode-"
log = logging.getLogger(__name__)


def _directory() -> Path:
    """Shared memory when the system has it (tmpfs: no disk writes), else the temporary folder."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


class Slots:
    """The serving process's slots: files `observ-decode-<pid>-*`, mapped here and, by path, in each decoder."""

    def __init__(self, count: int = SLOTS, size: int = SLOT_BYTES, directory: Path | None = None) -> None:
        self.size = size
        self.directory = directory or _directory()
        _remove_orphans(self.directory)
        self._paths: list[str] = []
        self._maps: list[mmap.mmap] = []
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        try:
            for i in range(count):
                try:
                    self._make(size)
                except OSError as e:  # no room (a small /dev/shm), a read-only folder: the rest through the pipe
                    log.warning("decoder slots: %d of %d made in %s, the next refused: %s", i, count, self.directory, e)
                    break
                self._free.put(i)
        except BaseException:
            self.close()
            raise

    def _make(self, size: int) -> None:
        fd, path = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=self.directory)
        try:
            _reserve(fd, size)
            self._maps.append(mmap.mmap(fd, size))
        except BaseException:
            Path(path).unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        self._paths.append(path)

    @contextlib.contextmanager
    def take(self) -> Iterator[int | None]:
        """A free slot for the request, given back after it; None when all are in use."""
        try:
            slot = self._free.get_nowait()
        except queue.Empty:
            yield None
            return
        try:
            yield slot
        finally:
            self._free.put(slot)

    def path(self, slot: int) -> str:
        return self._paths[slot]

    def write(self, slot: int, data: bytes) -> None:
        self._maps[slot][: len(data)] = data

    def read(self, slot: int, size: int) -> bytes:
        """A copy: the slot is reused once the request is answered."""
        return self._maps[slot][:size]

    def close(self) -> None:
        for m in self._maps:
            m.close()
        for path in self._paths:
            Path(path).unlink(missing_ok=True)
        self._maps, self._paths = [], []


def _reserve(fd: int, size: int) -> None:
    """The file's `size` bytes allocated now: a write through a map of a sparse file on a full tmpfs or disk kills
    the process with SIGBUS, where this raises OSError up front."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)
    else:  # macOS
        os.ftruncate(fd, size)
        os.pwrite(fd, bytes(size), 0)


def _remove_orphans(directory: Path) -> None:
    """Slot files of serving processes that died without closing them."""
    if not directory.is_dir():
        return
    for f in directory.glob(f"{_PREFIX}*"):
        pid = f.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdecimal() and not _alive(int(pid)):
            f.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


_mapped: dict[str, mmap.mmap] = {}
"""A decoder process's maps of the slots it was handed, by path (mapped once)."""


def mapped(path: str) -> mmap.mmap:
    """In a decoder process: the slot at `path`, mapped on first use."""
    m = _mapped.get(path)
    if m is None:
        fd = os.open(path, os.O_RDWR)
        try:
            m = _mapped[path] = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
    return m
