"""Tails files matched by globs, follows rotation, and checkpoints what was acknowledged.

Exactly-once is settled downstream: each line carries (source, end offset) and
the ingester drops what it already stored for that source. So a source id must
name one content lineage forever: `dev:ino:fp:gen`, where `fp` hashes the
first line (up to 256 bytes) and `gen` counts the times that inode's content
started over (copytruncate, inode reuse). Nothing of a file is shipped before
its first line is complete, so the fingerprint cannot change under us.

Rotation:
- rename + create: the old inode stays open and is read to its end while the
  new file is picked up; it is closed once idle `rotate_wait_ms` after its path
  moved on. A rotated name that also matches the globs is the same inode, hence
  the same source, never read twice.
- fast rename rotation: a file read to its end whose path now leads elsewhere
  triggers a scan at once, not a glob interval later. Generations that lived at
  the path only between two looks anyway (the reader was behind, or we were
  down) are found among its rotated siblings (`0.log.<date>`, `app.log.1`):
  whenever the path's occupant changed, siblings that no lineage owns and that
  were modified since the newest lineage we knew there become lineages of their own.
- copytruncate: a shrunk file, or bytes before our position that changed, means
  its content started over. The part we had not read yet is taken from the
  copy in the same directory (same head, same bytes before our position) under
  the old source; the truncated file goes on from 0 as a new generation.
- restart: lineages are matched by inode and content, not by path, so a file
  renamed while we were down is found in its directory and finished.

Descriptors: a file read to its end is closed ("parked") when it has not grown
for `close_idle_ms`, or at once when another file waits for a descriptor
(`max_open_files`, at most half of RLIMIT_NOFILE). Everything else about it
stays, position and anchor included; a scan reopens it by inode when it grew or
shrank at its path, or when its path moved on (found again by inode in its
folder, so what was written before the rotation is read to its end). EMFILE
lowers the cap to what the process can hold, and files wait for a later scan.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass

from collectors.log_adapter.events import Dropped, Metrics, SourceError
from collectors.log_adapter.sources.tail.checkpoint import Checkpoint, CheckpointError, CheckpointStore
from collectors.log_adapter.sources.tail.config import TailConfig
from collectors.log_adapter.sources.tail.discovery import (
    Found,
    Sibling,
    compressed,
    open_reason,
    rotated_siblings,
    scan,
)
from collectors.log_adapter.sources.tail.identity import (
    ANCHOR,
    FP_MAX,
    HEAD,
    OPEN_FLAGS,
    Copy,
    Evidence,
    Inode,
    anchor_at,
    digest,
    find_copy,
    fingerprint_length,
    pread_all,
    source_id,
)
from collectors.log_adapter.sources.tail.lines import Lines, LineSplitter

__all__ = ["Lines", "TailSource"]

_SEEK_BACK = 64 * 1024
_MTIME_SLACK_NS = 1_000_000_000
"""File times come from a coarse clock (a tick behind ours, or whole seconds on some filesystems)."""
_SPARE_HANDLES = 8
"""Descriptors left to the rest of the process when EMFILE says where its limit is."""
_OUT_OF_HANDLES = (errno.EMFILE, errno.ENFILE)


def handle_cap(configured: int) -> int:
    """At most half the soft descriptor limit: checkpoints, Kafka's sockets and the metrics endpoint need the rest."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft // 2))


@dataclass(slots=True, eq=False)
class _Tailed:
    """An open file whose lineage is known, being read."""

    rec: Checkpoint
    fd: int
    split: LineSplitter
    size: int
    """Last size seen; reading stops here until a fresh fstat says more."""
    tail: bytes
    """The bytes just before split.pos: re-read with every chunk to notice replaced content."""
    last_data: float
    moved_at: float | None = None
    """When its path stopped leading to it (renamed, deleted, or a copy)."""
    head: bytes = b""
    """The first bytes read, up to HEAD: with `tail`, what tells our copytruncate copy from look-alikes."""
    verified_end: int = 0
    """The record's anchor held here when we resumed below it: saves keep that stronger evidence
    until reading passes it (else a crash meanwhile leaves only the anchor at the offset)."""
    path_checked: float = float("-inf")
    """When we last looked whether its path still leads to it (at its end)."""

    @property
    def parked(self) -> bool:
        """Closed, read to its end, to free its descriptor (fd is -1); a scan reopens it when it changes."""
        return self.fd < 0


@dataclass(slots=True, eq=False)
class _Pending:
    """An open file whose first line is not complete yet: no identity, nothing shipped."""

    fd: int
    dev: int
    ino: int
    path: str
    loc: str
    at_end: bool
    fresh: bool
    """No lineage lived on this inode before: it may be a copytruncate copy in the making."""
    size: int = -1
    changed: float = 0.0
    checked_size: int = -1
    moved_at: float | None = None


class TailSource:
    def __init__(self, config: TailConfig, metrics: Metrics, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.metrics = metrics
        self.clock = clock
        now = clock()
        self.store = CheckpointStore(config.checkpoint_path)
        self._errors: dict[str, set[str]] = {}
        had_checkpoint = self._load(now)
        self._start_at_end = config.start_at == "end" and not had_checkpoint
        self._tailed: dict[str, _Tailed] = {}
        self._by_inode: dict[Inode, _Tailed] = {}
        self._pending: dict[Inode, _Pending] = {}
        self._last_scan = float("-inf")
        self._rescan = False
        """A file read to its end no longer is at its path: scan without waiting for the interval."""
        self._path_check_s = config.glob_interval_ms / 4000
        """Idle files look at their path 4 times per glob interval: a stat each, on every file."""
        self._occupants: dict[str, Inode] = {}
        """What each globbed path held at the last scan."""
        self._looked_ns = (self.store.scanned_ns or time.time_ns()) - _MTIME_SLACK_NS
        """Since when we have been looking: older files at a path we know nothing of are history."""
        self._last_save = now
        self._must_save = True
        """Also at the first read: when we started looking must survive a crash, or what was written
        meanwhile at a new path would look like history after the restart."""
        self._rr = 0
        self._readable = 0
        self._cap = handle_cap(config.max_open_files)
        self._waiting: set[Inode] = set()
        """Files with something for us that found no descriptor at the last scan."""

    # -- public API ------------------------------------------------------

    def read(self, budget_bytes: int) -> list[Lines]:
        """Lines available now, round-robin over files, about `budget_bytes` in all; never blocks."""
        now = self.clock()
        cfg = self.config
        out: list[Lines] = []
        if self._rescan or now - self._last_scan >= cfg.glob_interval_ms / 1000:
            self._scan(now, out)
        if self._pending:
            self._identify(now)
        left = self._read_round_robin(budget_bytes, now, out)
        if self._rescan and left > 0:
            self._scan(now, out)
            if self._pending:
                self._identify(now)
            self._read_round_robin(left, now, out)
        self._timeouts(now, out)
        self._readable = sum(max(0, t.size - t.split.pos) for t in self._tailed.values())
        self.metrics.files_open.set(self._held())
        self.metrics.files_waiting.set(len(self._waiting))
        # The sizes this read saw: no fstat per file per read (lag_bytes() is the fresh figure).
        self.metrics.lag_bytes.set(self._readable + sum(max(0, p.size) for p in self._pending.values()))
        if self._must_save or now - self._last_save >= cfg.checkpoint_interval_ms / 1000:
            # A new lineage is saved before its first line leaves: its generation must survive a crash.
            self.save_checkpoints()
        self.metrics.checkpoint_age.set(max(0.0, now - self._last_save))
        return out

    def commit(self, source: str, offset: int) -> None:
        """Everything of `source` before `offset` is delivered; persisted by the next save."""
        rec = self.store.get(source)
        if rec is None:
            return
        rec.offset = min(offset, rec.emitted)
        if rec.closed_end is not None and rec.offset >= rec.closed_end:
            rec.done = True

    def save_checkpoints(self) -> None:
        now = self.clock()
        for t in self._tailed.values():
            self._sync(t, now)
        while True:
            try:
                self.store.save(now)
                break
            except OSError as e:
                if e.errno in _OUT_OF_HANDLES and self._make_room():
                    continue  # a descriptor was freed for it
                self._report(self.config.checkpoint_path, "checkpoint_write_failed", e.strerror or str(e))
                return
        self._clear(self.config.checkpoint_path)
        self._last_save = now
        self._must_save = False

    def lag_bytes(self) -> int:
        """Unread bytes by a fresh fstat: while backpressure stops read(), the sizes it saw go stale."""
        lag = 0
        for t in self._tailed.values():
            try:
                size = t.size if t.parked else os.fstat(t.fd).st_size
            except OSError:
                size = t.size
            lag += max(0, size - t.split.pos)
        return lag + sum(max(0, p.size) for p in self._pending.values())

    def idle(self) -> bool:
        """Nothing was left unread by the last read(): the caller may sleep a little."""
        return self._readable == 0

    def close(self) -> None:
        """Save, then close every file. Partial lines are not flushed: the checkpoint is before them.
        Files whose first line completed since the last read get their record now, so a restart finds
        them even if they are renamed out of the globs meanwhile."""
        if self._pending:
            self._identify(self.clock())
        self.save_checkpoints()
        for t in self._tailed.values():
            if not t.parked:
                os.close(t.fd)
        for p in self._pending.values():
            os.close(p.fd)
        self._tailed.clear()
        self._by_inode.clear()
        self._pending.clear()

    # -- checkpoints -------------------------------------------------------

    def _load(self, now: float) -> bool:
        try:
            return self.store.load(now)
        except CheckpointError as e:
            aside = self.store.set_aside()
            self._report(self.config.checkpoint_path, "checkpoint_unreadable", f"{e}; kept as {aside}")
            return True

    def _sync(self, t: _Tailed, now: float) -> None:
        rec = t.rec
        rec.size = t.size
        if rec.final or t.split.pos >= t.verified_end:
            rec.anchor_end = t.size if rec.final else t.split.pos
            rec.anchor = digest(t.tail) if t.tail else ""
        rec.seen = now
        rec.mtime_ns = _mtime_ns(t.fd, rec.mtime_ns)
        self.store.touch((rec.dev, rec.ino), now)

    # -- discovery ---------------------------------------------------------

    def _scan(self, now: float, out: list[Lines]) -> None:
        cfg = self.config
        self._last_scan = now
        self._rescan = False
        self.store.scanned_ns = time.time_ns()
        found, problems = scan(cfg.include, cfg.exclude)
        for p in problems:
            self._report(p.path, p.reason, p.detail)
        self._waiting.clear()
        self._wake_parked(found)
        newest = self._newest_by_path()
        for key, t in self._by_inode.items():
            f = found.get(key)
            if f is not None:
                t.moved_at = None
                t.rec.loc = f.path
            elif t.moved_at is None:
                t.moved_at = now
        for key, pending in self._pending.items():
            if key in found:
                pending.moved_at = None
            elif pending.moved_at is None:
                pending.moved_at = now
        # Truncations first: a copytruncate copy that matches the globs belongs to the old lineage.
        for t in list(self._tailed.values()):
            if t.rec.final or t.parked or self._tailed.get(t.rec.source) is not t:
                continue
            if self._check_size(t, now, out):
                self._check_anchor(t, now, out)
        located: set[Inode] = set()
        for rec in self.store.records.values():
            key = (rec.dev, rec.ino)
            located.add(key)
            if key in found:
                rec.seen = now
        for key in found:
            self.store.touch(key, now)
        new = [f for key, f in found.items() if key not in self._by_inode and key not in self._pending]
        # Checkpointed inodes first: finishing a lineage may claim its copy before it looks new.
        new.sort(key=lambda f: (f.dev, f.ino) not in located)
        for f in new:
            if (f.dev, f.ino) not in self._by_inode and (f.dev, f.ino) not in self._pending:
                self._admit(f, now)
        self._search_moved(found, now)
        self._adopt_rotated(newest, found, now)
        self.store.expire(now, cfg.forget_after_ms / 1000, keep=set(self._tailed))
        self._start_at_end = False

    def _open(self, path: str, key: Inode) -> tuple[int, os.stat_result] | None:
        if self._held() >= self._cap and not self._make_room():
            self._waiting.add(key)
            return None
        try:
            fd = os.open(path, OPEN_FLAGS)
        except OSError as e:
            if e.errno in _OUT_OF_HANDLES:
                self._out_of_handles(key, e)
            else:
                self._report(path, open_reason(e), e.strerror or "")
            return None
        try:
            st = os.fstat(fd)
        except OSError as e:
            os.close(fd)
            self._report(path, "read_error", e.strerror or "")
            return None
        if (st.st_dev, st.st_ino) != key or not stat.S_ISREG(st.st_mode):
            os.close(fd)  # replaced between the scan and the open: the next scan sees the new one
            return None
        self._clear(path)
        return fd, st

    # -- descriptors -------------------------------------------------------

    def _held(self) -> int:
        return sum(1 for t in self._tailed.values() if not t.parked) + len(self._pending)

    def _out_of_handles(self, key: Inode, e: OSError) -> None:
        """The process hit its limit below our cap: hold fewer from now on; this file waits for a later scan."""
        self._waiting.add(key)
        held = self._held()
        self._cap = max(1, min(self._cap, held - _SPARE_HANDLES))
        while self._held() > self._cap and self._make_room():
            pass
        detail = f"{e.strerror}: {held} files open, now at most {self._cap}; the others wait their turn"
        SourceError("too_many_open_files", "(descriptors)", detail).emit(self.metrics)

    def _make_room(self) -> bool:
        """Park the file read to its end that has waited longest for data; False when none can go."""
        now = self.clock()
        idle = [t for t in self._tailed.values() if not t.parked and t.moved_at is None and not t.rec.final]
        idle = [t for t in idle if not t.split.pending and t.size <= t.split.pos]
        return any(self._park(t, now) for t in sorted(idle, key=lambda t: t.last_data))

    def _park(self, t: _Tailed, now: float) -> bool:
        """Close a file read to its end, keeping all we know of it; False if it changed meanwhile."""
        try:
            size = os.fstat(t.fd).st_size
        except OSError:
            return False
        if size != t.split.pos:
            t.size = max(t.size, size)  # grown: read on; shrunk: the next size check handles the truncation
            return False
        self._sync(t, now)
        os.close(t.fd)
        t.fd = -1
        return True

    def _wake_parked(self, found: dict[Inode, Found]) -> None:
        """Reopen parked files that changed at their path, or whose path moved on: a rotated file is found
        again by inode in its folder and read to its end; one deleted while parked is let go."""
        for t in [t for t in self._tailed.values() if t.parked]:
            rec = t.rec
            key = (rec.dev, rec.ino)
            f = found.get(key)
            if f is not None:
                if f.size != t.split.pos or f.mtime_ns != rec.mtime_ns:  # written to, maybe to the same size
                    self._unpark(t, f.path)
                continue
            try:
                path = _locate(os.path.dirname(rec.loc), key)
            except OSError:
                continue  # the folder cannot be listed now (EMFILE too): next scan
            if path is None:
                self._forget(t)
            else:
                self._unpark(t, path)

    def _unpark(self, t: _Tailed, path: str) -> None:
        opened = self._open(path, (t.rec.dev, t.rec.ino))
        if opened is not None:
            t.fd = opened[0]
            t.rec.loc = path
            t.path_checked = float("-inf")

    def _admit(self, f: Found, now: float) -> None:
        key = (f.dev, f.ino)
        opened = self._open(f.path, key)
        if opened is None:
            return
        fd, st = opened
        rec = self.store.at_inode(f.dev, f.ino)
        if rec is not None:
            if self._same_content(rec, fd, st.st_size):
                self._resume(rec, fd, st.st_size, f.path, now, moved=False)
                return
            self._retire(rec, now)
        fresh = rec is None and key not in self.store.gens
        self._pending[key] = _Pending(
            fd, f.dev, f.ino, f.path, f.path, at_end=self._start_at_end and fresh, fresh=fresh, changed=now
        )

    def _search_moved(self, found: dict[Inode, Found], now: float) -> None:
        """Checkpointed inodes no longer at a globbed path: renamed while we were not reading them."""
        by_dir: dict[str, list[Checkpoint]] = {}
        for rec in self.store.records.values():
            key = (rec.dev, rec.ino)
            if (
                rec.source in self._tailed
                or rec.closed_end is not None
                or rec.done
                or key in found
                or key in self._by_inode
                or key in self._pending
            ):
                continue
            by_dir.setdefault(os.path.dirname(rec.loc), []).append(rec)
        for directory, recs in by_dir.items():
            try:
                entries = {e.inode(): e for e in os.scandir(directory)}
            except OSError:
                continue
            for rec in recs:
                entry = entries.get(rec.ino)
                if entry is None:
                    continue
                opened = self._open(entry.path, (rec.dev, rec.ino))
                if opened is None:
                    continue
                fd, st = opened
                if self._same_content(rec, fd, st.st_size):
                    self._resume(rec, fd, st.st_size, entry.path, now, moved=True)
                else:
                    os.close(fd)
                    self._retire(rec, now)

    def _newest_by_path(self) -> dict[str, int]:
        """The latest mtime of the lineages known under each discovery path."""
        newest: dict[str, int] = {}
        for r in self.store.records.values():
            if r.mtime_ns > newest.get(r.path, -1):
                newest[r.path] = r.mtime_ns
        for p in self._pending.values():
            m = _mtime_ns(p.fd, 0)
            if m > newest.get(p.path, -1):
                newest[p.path] = m
        return newest

    def _adopt_rotated(self, newest: dict[str, int], found: dict[Inode, Found], now: float) -> None:
        """Generations that lived at a path only between two looks at it (fast rotation, a reader
        behind, a restart). Sought when the path's occupant changed, or while nothing is there (a
        writer that creates its file lazily). A generation we missed was created after the last write
        to the newest one we knew there, so its mtime is not older; older rotated files predate what
        we read. At a path we know nothing of, what is older than our looking is history; and what is
        older than forget_after_ms may be a file we read and forgot. Inodes we hold and copies of
        recorded lineages are skipped. A path never occupied while we looked is out of reach."""
        occupants = {f.path: key for key, f in found.items()}
        forgotten_ns = time.time_ns() - self.config.forget_after_ms * 1_000_000
        for path in newest.keys() | occupants.keys():
            now_at = occupants.get(path)
            if now_at == self._occupants.get(path) and (now_at is not None or os.path.lexists(path)):
                continue
            since_ns = max(newest.get(path, self._looked_ns), forgotten_ns)
            for s in rotated_siblings(path, since_ns, self.config.exclude):
                key = (s.dev, s.ino)
                if key not in found and key not in self._by_inode and key not in self._pending:
                    self._adopt(s, path, now)
        self._occupants = occupants

    def _adopt(self, s: Sibling, path: str, now: float) -> None:
        """A rotated sibling nobody read: a new lineage under its original `path`, read from its start."""
        key = (s.dev, s.ino)
        opened = self._open(s.path, key)
        if opened is None:
            return
        fd, st = opened
        try:
            head = pread_all(fd, FP_MAX, 0)
            skip = compressed(head) or self._known(key, fd, st.st_size, head)
        except OSError as e:
            self._report(s.path, "read_error", e.strerror or "")
            skip = True
        if skip:
            os.close(fd)
            return
        self._pending[key] = _Pending(
            fd, s.dev, s.ino, path, s.path, at_end=False, fresh=True, changed=now, moved_at=now
        )

    def _known(self, key: Inode, fd: int, size: int, head: bytes) -> bool:
        """Holds a recorded lineage's content: on that lineage's inode, or elsewhere as a copy verified
        past the head (many files start alike)."""
        fps: dict[int, str] = {}
        for r in self.store.records.values():
            if r.fp_len > len(head) or size < r.anchor_end or ((r.dev, r.ino) != key and not r.anchor):
                continue
            fp = fps.get(r.fp_len)
            if fp is None:
                fp = fps[r.fp_len] = digest(head[: r.fp_len])
            if fp == r.fp and self._evidence(r).anchor_matches(fd):
                return True
        return False

    # -- lineages ----------------------------------------------------------

    def _evidence(self, rec: Checkpoint) -> Evidence:
        return Evidence(rec.fp, rec.fp_len, rec.anchor_end, rec.anchor)

    def _same_content(self, rec: Checkpoint, fd: int, size: int) -> bool:
        offset = min(rec.offset, rec.anchor_end) if rec.final else rec.offset
        return self._evidence(rec).same_content(fd, size, offset)

    def _find_copy(self, rec: Checkpoint, ev: Evidence) -> Copy | None:
        """The copytruncate copy of `rec`: never a file we read, nor one holding another lineage."""
        skip = {k for k, t in self._by_inode.items() if t.rec is not rec}
        skip.add((rec.dev, rec.ino))

        def owned(dev: int, ino: int, fd: int, size: int) -> bool:
            return any(
                r is not rec and r.ino == ino and r.dev == dev and self._same_content(r, fd, size)
                for r in self.store.records.values()
            )

        return find_copy(os.path.dirname(rec.loc), ev, skip, owned)

    def _resume(self, rec: Checkpoint, fd: int, size: int, loc: str, now: float, moved: bool) -> None:
        """Continue a lineage at its committed offset, or after what this run already handed out."""
        start = rec.offset if rec.closed_end is None else rec.closed_end
        if rec.final and start < rec.anchor_end:
            rec.final = False  # not all of it was delivered: read it again up to its end
        if rec.final:
            size = min(size, rec.anchor_end)
        try:
            tail = anchor_at(fd, size if rec.final else start)
            head = pread_all(fd, min(start, HEAD), 0) if start else b""
        except OSError as e:
            os.close(fd)
            self._report(loc, "read_error", e.strerror or "")
            return
        rec.loc = loc
        rec.seen = now
        rec.emitted = start
        rec.closed_end = None
        rec.done = False
        split = LineSplitter(rec.path, rec.source, self.config.max_line_bytes, start)
        t = _Tailed(rec, fd, split, size, tail, now, now if moved else None, head, rec.anchor_end)
        self._tailed[rec.source] = t
        self._by_inode[(rec.dev, rec.ino)] = t

    def _retire(self, rec: Checkpoint, now: float) -> None:
        """The record's inode holds other content now (seen at restart): finish it from a copy, or count the loss."""
        copy = self._find_copy(rec, self._evidence(rec))
        if copy is not None:
            self._drop_pending((copy.dev, copy.ino))
            rec.dev, rec.ino = copy.dev, copy.ino
            if copy.size < rec.anchor_end:
                # Shorter than what we had read: keep it as the lineage's end, never as a new file.
                try:
                    rec.anchor = digest(anchor_at(copy.fd, copy.size))
                except OSError:
                    rec.anchor = ""
                rec.anchor_end = copy.size
                rec.final = True
            self._resume(rec, copy.fd, copy.size, copy.path, now, moved=True)
            self._must_save = True
            return
        lost = rec.size - rec.offset
        if lost > 0:
            Dropped("truncated_unread", rec.path, f"{lost} bytes").emit(self.metrics)
        self.store.remove(rec)

    def _identify(self, now: float) -> None:
        """Give pending files an identity once their first line is complete (or the writer went idle)."""
        cfg = self.config
        for key, p in list(self._pending.items()):
            try:
                size = os.fstat(p.fd).st_size
            except OSError as e:
                self._report(p.loc, "read_error", e.strerror or "")
                continue
            if size != p.size:
                p.size = size
                p.changed = now
            idle = now - p.changed
            gone = p.moved_at is not None and now - max(p.moved_at, p.changed) >= cfg.rotate_wait_ms / 1000
            if size == 0:
                if gone:
                    os.close(p.fd)
                    del self._pending[key]
                continue
            timed_out = idle >= cfg.partial_line_timeout_ms / 1000 or gone
            if size == p.checked_size and not timed_out:
                continue
            p.checked_size = size
            try:
                head = pread_all(p.fd, FP_MAX, 0)
            except OSError as e:
                self._report(p.loc, "read_error", e.strerror or "")
                continue
            n = fingerprint_length(head)
            if n is None:
                if not timed_out or not head:
                    continue
                n = len(head)
            if p.fresh and self._copy_of_live(p, head):
                continue
            self._start(p, head[:n], now)
            del self._pending[key]

    def _copy_of_live(self, p: _Pending, head: bytes) -> bool:
        """A new sibling holding the same bytes as a file we read is its copytruncate copy in the
        making (copied, not truncated yet): wait for the truncation rather than read it twice."""
        directory = os.path.dirname(p.loc)
        for t in self._tailed.values():
            rec = t.rec
            if t.moved_at is not None or rec.final or os.path.dirname(rec.loc) != directory:
                continue
            if rec.fp_len > len(head):
                continue
            if digest(head[: rec.fp_len]) != rec.fp:
                continue
            try:
                if t.parked:
                    # Read to its end at t.split.pos: a copy holds those very bytes before it.
                    if p.size >= t.split.pos and anchor_at(p.fd, t.split.pos) == t.tail:
                        return True
                    continue
                size = os.fstat(t.fd).st_size
                if size < t.split.pos or not self._still_ours(t):
                    return True  # the truncation came too; the next look at the original claims this copy
                end = min(p.size, size)
                if anchor_at(p.fd, end) == anchor_at(t.fd, end):
                    return True
            except OSError:
                continue
        return False

    def _start(self, p: _Pending, head: bytes, now: float) -> None:
        fp = digest(head)
        gen = self.store.next_gen(p.dev, p.ino)
        while source_id(p.dev, p.ino, fp, gen) in self.store.records:
            gen += 1
        self.store.note_gen(p.dev, p.ino, gen, now)
        source = source_id(p.dev, p.ino, fp, gen)
        start = self._last_line_end(p) if p.at_end else 0
        rec = Checkpoint(
            source,
            p.dev,
            p.ino,
            fp,
            len(head),
            gen,
            start,
            p.path,
            p.loc,
            size=p.size,
            seen=now,
            mtime_ns=_mtime_ns(p.fd, 0),
            emitted=start,
        )
        self.store.add(rec)
        self._must_save = True
        self._resume(rec, p.fd, p.size, p.loc, now, moved=False)
        if rec.source in self._tailed:
            self._tailed[rec.source].moved_at = p.moved_at

    def _last_line_end(self, p: _Pending) -> int:
        """Where `start_at: end` begins: after the last complete line, so no line is read from its middle."""
        end = p.size
        limit = max(0, p.size - self.config.max_line_bytes)
        while end > limit:
            n = min(_SEEK_BACK, end - limit)
            try:
                chunk = os.pread(p.fd, n, end - n)
            except OSError:
                break
            i = chunk.rfind(b"\n")
            if i >= 0:
                return end - n + i + 1
            end -= n
        return p.size

    # -- reading -----------------------------------------------------------

    def _read_round_robin(self, budget: int, now: float, out: list[Lines]) -> int:
        """Returns what is left of the budget."""
        files = [t for t in self._tailed.values() if not t.parked]
        if not files:
            return budget
        start = self._rr % len(files)
        self._rr += 1
        active = files[start:] + files[:start]
        chunk = self.config.read_chunk_bytes
        left = budget
        while active and left > 0:
            more: list[_Tailed] = []
            for t in active:
                if left <= 0:
                    break
                if self._tailed.get(t.rec.source) is not t:
                    continue
                want = min(chunk, left)
                got = self._step(t, want, now, out)
                left -= got
                if got == want:
                    more.append(t)
            active = more
        return left

    def _check_size(self, t: _Tailed, now: float, out: list[Lines]) -> bool:
        """Refresh the size; False when the file shrank below our position (handled here)."""
        try:
            size = os.fstat(t.fd).st_size
        except OSError as e:
            self._report(t.rec.loc, "read_error", e.strerror or "")
            return False
        if size < t.split.pos:
            self._truncated(t, t.size, now, out)
            return False
        t.size = size
        return True

    def _path_moved_on(self, t: _Tailed) -> bool:
        """At its end, does the file's path lead elsewhere now? One stat instead of waiting for a scan."""
        try:
            st = os.stat(t.rec.loc)
        except OSError:
            return True
        return (st.st_dev, st.st_ino) != (t.rec.dev, t.rec.ino)

    def _still_ours(self, t: _Tailed) -> bool:
        """Do the bytes before our position still read as we read them? Before the first byte is
        read there is no anchor yet: the head must still be the one identified."""
        if t.tail:
            return anchor_at(t.fd, t.split.pos) == t.tail
        return self._evidence(t.rec).head_matches(t.fd, os.fstat(t.fd).st_size)

    def _check_anchor(self, t: _Tailed, now: float, out: list[Lines]) -> None:
        """Rewritten to exactly our length or beyond? Reads notice it only once the file grows."""
        try:
            same = self._still_ours(t)
        except OSError as e:
            self._report(t.rec.loc, "read_error", e.strerror or "")
            return
        if not same:
            self._truncated(t, t.size, now, out)

    def _step(self, t: _Tailed, want: int, now: float, out: list[Lines]) -> int:
        if t.rec.final:
            return 0
        pos = t.split.pos
        if t.size <= pos:
            if not self._check_size(t, now, out):
                return 0
            if t.size <= pos:
                if t.moved_at is None and not self._rescan and now - t.path_checked >= self._path_check_s:
                    t.path_checked = now
                    self._rescan = self._path_moved_on(t)
                return 0
        # The first read covers the head and an anchor's worth past it: many files start alike.
        n = min(max(want, FP_MAX + ANCHOR) if pos == 0 else want, t.size - pos)
        a = len(t.tail)
        try:
            data = os.pread(t.fd, n + a, pos - a)
        except OSError as e:
            self._report(t.rec.loc, "read_error", e.strerror or "")
            return 0
        if a:
            if data[:a] != t.tail:
                self._truncated(t, t.size, now, out)  # rewritten under us: shrunk and grown past pos
                return 0
            data = data[a:]
        elif pos == 0 and digest(data[: t.rec.fp_len]) != t.rec.fp:
            self._truncated(t, t.size, now, out)  # rewritten between identification and the first read
            return 0
        got = len(data)
        if got < n:
            t.size = pos + got
            if not got:
                return 0
        if self._errors:
            self._clear(t.rec.loc)
        t.last_data = now
        t.tail = data[-ANCHOR:] if got >= ANCHOR else (t.tail + data)[-ANCHOR:]
        if pos < HEAD:
            t.head = (t.head + data)[:HEAD]
        self.metrics.bytes_read.inc(got)
        lines = t.split.feed(data)
        if lines is not None:
            self._emit(t, lines, out)
        return got

    def _emit(self, t: _Tailed, lines: Lines, out: list[Lines]) -> None:
        t.rec.emitted = t.split.consumed
        self.metrics.lines_read.inc(len(lines.lines))
        out.append(lines)

    def _truncated(self, t: _Tailed, last_size: int, now: float, out: list[Lines]) -> None:
        """The content of t's inode started over: finish the old lineage from its copy, start a new one."""
        rec = t.rec
        key = (rec.dev, rec.ino)
        pos = t.split.pos
        ev = Evidence(rec.fp, rec.fp_len, pos, digest(t.tail) if t.tail else "", t.head, t.tail)
        copy = self._find_copy(rec, ev)
        del self._by_inode[key]
        t.verified_end = 0
        truncated_fd = t.fd
        truncated_loc = rec.loc
        if copy is not None:
            self._drop_pending((copy.dev, copy.ino))
            t.fd = copy.fd
            rec.dev, rec.ino, rec.loc = copy.dev, copy.ino, copy.path
            self._by_inode[(copy.dev, copy.ino)] = t
            t.moved_at = now
            t.size = copy.size
            if copy.size < pos:
                # We had read past the moment of the copy: nothing more is in it, and the rest of
                # a partial line went with the truncation. Kept open while its name is globbed,
                # so the copy is not taken for a new file.
                rec.final = True
                try:
                    t.tail = anchor_at(copy.fd, copy.size)
                except OSError:
                    t.tail = b""
                lines = t.split.flush(cut=True)
                if lines is not None:
                    self._emit(t, lines, out)
        else:
            lines = t.split.flush(cut=True)
            if lines is not None:
                self._emit(t, lines, out)
            lost = last_size - pos
            if lost > 0:
                Dropped("truncated_unread", rec.path, f"{lost} bytes").emit(self.metrics)
            del self._tailed[rec.source]
            self.store.remove(rec)
        self._pending[key] = _Pending(
            truncated_fd, key[0], key[1], rec.path, truncated_loc, at_end=False, fresh=False, changed=now
        )
        self._must_save = True

    def _drop_pending(self, key: Inode) -> None:
        p = self._pending.pop(key, None)
        if p is not None:
            os.close(p.fd)

    def _timeouts(self, now: float, out: list[Lines]) -> None:
        cfg = self.config
        partial = cfg.partial_line_timeout_ms / 1000
        rotate = cfg.rotate_wait_ms / 1000
        close_idle = cfg.close_idle_ms / 1000
        for t in list(self._tailed.values()):
            if t.parked or self._tailed.get(t.rec.source) is not t:
                continue
            if t.rec.final:
                if t.moved_at is not None and now - t.moved_at >= rotate:
                    self._close(t, out)
                continue
            if t.size > t.split.pos:
                continue
            idle = now - t.last_data
            if t.split.pending and idle >= partial:
                if not self._check_size(t, now, out) or t.size > t.split.pos:
                    continue
                lines = t.split.flush()
                if lines is not None:
                    self._emit(t, lines, out)
            moved_on = t.moved_at is not None and now - max(t.moved_at, t.last_data) >= rotate
            if moved_on and self._check_size(t, now, out) and t.size <= t.split.pos:
                self._close(t, out)
            elif t.moved_at is None and idle >= close_idle and not t.split.pending:
                self._park(t, now)

    def _close(self, t: _Tailed, out: list[Lines]) -> None:
        """Done with a rotated file: its record stays until its lines are committed, then it is forgotten."""
        lines = t.split.flush()
        if lines is not None:
            self._emit(t, lines, out)
        self._sync(t, self.clock())
        os.close(t.fd)
        self._forget(t)

    def _forget(self, t: _Tailed) -> None:
        """No more reading from this file: its record stays until its lines are committed."""
        rec = t.rec
        del self._tailed[rec.source]
        self._by_inode.pop((rec.dev, rec.ino), None)
        rec.closed_end = rec.emitted
        rec.done = rec.offset >= rec.closed_end

    # -- errors --------------------------------------------------------------

    def _report(self, path: str, reason: str, detail: str) -> None:
        """Once per condition: a file that stays unreadable does not flood the log."""
        reasons = self._errors.setdefault(path, set())
        if reason not in reasons:
            reasons.add(reason)
            SourceError(reason, path, detail).emit(self.metrics)

    def _clear(self, path: str) -> None:
        """The condition is over: a later failure is news again."""
        self._errors.pop(path, None)


def _locate(directory: str, key: Inode) -> str | None:
    """The name an inode has in a folder now, if any; OSError when the folder cannot be listed."""
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.inode() == key[1]:
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if (st.st_dev, st.st_ino) == key:
                        return entry.path
    return None


def _mtime_ns(fd: int, default: int) -> int:
    with contextlib.suppress(OSError):
        return os.fstat(fd).st_mtime_ns
    return default
