"""Which regular files the globs match right now, by inode: two names of one file are one file.
Also the rotated siblings of a file, which the globs usually do not match (`0.log.20240101-000000`)."""

from __future__ import annotations

import errno
import glob
import os
import stat
from dataclasses import dataclass
from fnmatch import fnmatchcase

from collectors.log_adapter.sources.tail.identity import Inode


@dataclass(frozen=True, slots=True)
class Found:
    path: str
    dev: int
    ino: int
    size: int = 0
    mtime_ns: int = 0


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    reason: str
    detail: str = ""


def open_reason(e: OSError) -> str:
    """Stable reason labels for the source error counter."""
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission_denied"
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return "vanished"
    if e.errno == errno.EISDIR:
        return "not_regular_file"
    if e.errno == errno.ELOOP:
        return "symlink_loop"
    if e.errno in (errno.EMFILE, errno.ENFILE):
        return "too_many_open_files"
    return "open_failed"


COMPRESSED_SUFFIXES = (".gz", ".tgz", ".bz2", ".xz", ".zst", ".lz4", ".lzma", ".br", ".zip", ".7z", ".Z")
_MAGIC = (
    b"\x1f\x8b",  # gzip (kubelet writes its `.gz` through a `.tmp` name)
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\xfd7zXZ\x00",  # xz
    b"\x04\x22\x4d\x18",  # lz4
    b"PK\x03\x04",  # zip
    *(b"BZh" + bytes([d]) for d in b"123456789"),  # bzip2
)


@dataclass(frozen=True, slots=True)
class Sibling:
    path: str
    dev: int
    ino: int
    mtime_ns: int


def compressed(head: bytes) -> bool:
    """Starts like an archive: never lines to ship, whatever its name."""
    return head.startswith(_MAGIC)


def rotated_name(name: str, base: str) -> bool:
    """`base` plus a rotation suffix with a number in it: `.1`, `.0001`, `.20240101-000000` (kubelet),
    `-20240101` (logrotate dateext). Suffixes without a digit (`app.log.json`) are other files."""
    rest = name[len(base) :]
    return name.startswith(base) and len(rest) > 1 and rest[0] in ".-_" and any(c.isdigit() for c in rest)


def rotated_siblings(path: str, since_ns: int, exclude: list[str]) -> list[Sibling]:
    """Non-empty regular files next to `path` (symlinks resolved) named like its rotations and
    modified at or after `since_ns`, oldest first."""
    directory, base = os.path.split(os.path.realpath(path))
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    out: list[Sibling] = []
    for entry in entries:
        if not rotated_name(entry.name, base) or entry.name.endswith(COMPRESSED_SUFFIXES):
            continue
        if any(fnmatchcase(entry.path, x) for x in exclude):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size > 0 and st.st_mtime_ns >= since_ns:
            out.append(Sibling(entry.path, st.st_dev, st.st_ino, st.st_mtime_ns))
    out.sort(key=lambda s: (s.mtime_ns, s.path))
    return out


def scan(include: list[str], exclude: list[str]) -> tuple[dict[Inode, Found], list[Problem]]:
    paths: set[str] = set()
    quiet_dirs: set[str] = set()
    for pattern in include:
        matched = glob.glob(pattern, recursive=True)
        paths.update(matched)
        if pattern.endswith("**"):
            # `dir/**` lists the directories it walks through too: not a mistake worth an error.
            quiet_dirs.update(matched)
    found: dict[Inode, Found] = {}
    problems: list[Problem] = []
    for path in sorted(paths):
        if any(fnmatchcase(path, x) for x in exclude):
            continue
        try:
            st = os.stat(path)
        except OSError as e:
            problems.append(Problem(path, open_reason(e), e.strerror or ""))
            continue
        if not stat.S_ISREG(st.st_mode):
            if not (stat.S_ISDIR(st.st_mode) and path in quiet_dirs):
                problems.append(Problem(path, "not_regular_file", _kind(st.st_mode)))
            continue
        key = (st.st_dev, st.st_ino)
        prev = found.get(key)
        # Prefer the real file over a symlink (/var/log/containers -> /var/log/pods): labels come from it.
        if prev is None or (os.path.islink(prev.path) and not os.path.islink(path)):
            found[key] = Found(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    return found, problems


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"
