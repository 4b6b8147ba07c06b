"""Which regular files the globs match right now, by inode: two names of one file are one file."""

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
    return "open_failed"


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
            found[key] = Found(path, st.st_dev, st.st_ino)
    return found, problems


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"
