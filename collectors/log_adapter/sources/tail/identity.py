"""Is this the content we were reading? Fingerprints, anchors and the copytruncate copy search.

An inode alone is not an identity (inodes are reused, copytruncate keeps the
inode but restarts the content), and a first line alone is not either (many
files start alike). A lineage is (device, inode, first-line hash, generation);
the bytes just before our read position ("anchor") tell whether the content
under that position is still the one we read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

Inode = tuple[int, int]
"""(st_dev, st_ino)"""

FP_MAX = 256
"""Bytes of the first line that identify a file."""
ANCHOR = 64
"""Bytes before the read position compared on every read and at restart."""
HEAD = FP_MAX + ANCHOR
"""Raw bytes of a file's start kept while it is read: they tell apart copies whose first lines match."""

OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
"""O_NONBLOCK: a FIFO matched by a glob must not hang the reader."""


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def source_id(dev: int, ino: int, fp: str, gen: int) -> str:
    return f"{dev}:{ino}:{fp}:{gen}"


def fingerprint_length(head: bytes) -> int | None:
    """How many leading bytes identify the file, once its first line is complete (or long enough)."""
    nl = head.find(b"\n", 0, FP_MAX)
    if nl >= 0:
        return nl + 1
    if len(head) >= FP_MAX:
        return FP_MAX
    return None


def pread_all(fd: int, n: int, pos: int) -> bytes:
    """Up to n bytes at pos; short only at end of file."""
    data = os.pread(fd, n, pos)
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = os.pread(fd, n - got, pos + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def anchor_at(fd: int, end: int) -> bytes:
    """The bytes just before `end` that the anchor covers."""
    n = min(ANCHOR, end)
    return pread_all(fd, n, end - n) if n else b""


@dataclass(frozen=True, slots=True)
class Evidence:
    """What we know of a lineage's content: its head, and the bytes before `anchor_end`."""

    fp: str
    fp_len: int
    anchor_end: int
    anchor: str
    """digest of the ANCHOR (or fewer) bytes before anchor_end; empty when anchor_end is 0."""
    head: bytes = b""
    """Raw bytes the content starts with, up to HEAD (known while reading, not after a restart)."""
    tail: bytes = b""
    """Raw bytes just before anchor_end (known while reading, not after a restart)."""

    def head_matches(self, fd: int, size: int) -> bool:
        return size >= self.fp_len and digest(pread_all(fd, self.fp_len, 0)) == self.fp

    def anchor_matches(self, fd: int) -> bool:
        return not self.anchor or digest(anchor_at(fd, self.anchor_end)) == self.anchor

    def same_content(self, fd: int, size: int, offset: int) -> bool:
        """True when the file still holds what we read, so resuming at `offset` is right."""
        return size >= offset and size >= self.anchor_end and self.head_matches(fd, size) and self.anchor_matches(fd)

    def copy_rank(self, fd: int, size: int) -> int | None:
        """How well a file that starts like ours is shown to hold our content: 2 up to anchor_end;
        1 when shorter but agreeing with raw bytes we hold beyond the fingerprint; 0 on its head
        alone; None when some byte contradicts it."""
        if size >= self.anchor_end:
            return 2 if self.anchor_matches(fd) else None
        checked = False
        n = min(size, len(self.head))
        if n > self.fp_len:
            if pread_all(fd, n, 0) != self.head[:n]:
                return None
            checked = True
        start = self.anchor_end - len(self.tail)
        if self.tail and size > start:
            if pread_all(fd, size - start, start) != self.tail[: size - start]:
                return None
            checked = True
        return 1 if checked else 0


@dataclass(slots=True)
class Copy:
    path: str
    fd: int
    dev: int
    ino: int
    size: int


def find_copy(
    directory: str,
    ev: Evidence,
    skip: set[Inode],
    owned: Callable[[int, int, int, int], bool],
) -> Copy | None:
    """The sibling that copytruncate copied our content into, if any.

    It starts like our file; if it is at least as long as what we read, the
    anchor must match too (else it is another file that merely starts alike).
    A shorter copy (we read past the moment of the copy) must agree with the
    raw bytes of ours it covers, if we hold any. A file that still holds
    another known lineage (`owned(dev, ino, fd, size)`) is never ours, however
    alike. Among several, the best shown (`Evidence.copy_rank`) and then the
    newest wins.
    """
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    best: tuple[int, float, Copy] | None = None
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in skip or st.st_size < ev.fp_len:
            continue
        try:
            fd = os.open(entry.path, OPEN_FLAGS)
        except OSError:
            continue
        keep = False
        try:
            if ev.head_matches(fd, st.st_size) and not owned(st.st_dev, st.st_ino, fd, st.st_size):
                shown = ev.copy_rank(fd, st.st_size)
                if shown is not None:
                    rank = (shown, st.st_mtime)
                    if best is None or rank > best[:2]:
                        if best is not None:
                            os.close(best[2].fd)
                        best = (*rank, Copy(entry.path, fd, st.st_dev, st.st_ino, st.st_size))
                        keep = True
        except OSError:
            pass
        if not keep:
            os.close(fd)
    return best[2] if best else None
