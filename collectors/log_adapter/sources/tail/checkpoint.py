"""Durable positions of content lineages, written atomically so SIGKILL leaves the old or the new file.

A record is keyed by its source id (the lineage), and points at the inode that
currently holds that content: after copytruncate the lineage moves to the copy.
Offsets are the committed low watermark (everything before was acknowledged);
`anchor` is a hash of the bytes just before `anchor_end`, so a restart can tell
"same content, resumed" from "truncated and rewritten past our offset".
`gens` remembers the last generation used on each inode, beyond the life of
its records, so a rewritten or reused inode never gets an id it had before
(the ingester would drop its lines as already stored).
No log content is stored: fingerprints are hashes.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import orjson

from collectors.log_adapter.sources.tail.identity import Inode

VERSION = 1


@dataclass(slots=True, eq=False)
class Checkpoint:
    source: str
    dev: int
    ino: int
    fp: str
    """Hash of the first `fp_len` bytes of the file."""
    fp_len: int
    gen: int
    """Truncation generation of this inode: bumped when its content starts over."""
    offset: int
    """Committed: every line ending at or before it was delivered."""
    path: str
    """Path the lineage was discovered under (labels are derived from it)."""
    loc: str
    """Where the inode was last seen (a rotated name, or the copy after copytruncate)."""
    size: int = 0
    anchor_end: int = 0
    anchor: str = ""
    final: bool = False
    """The content ends at `anchor_end` for good (a copytruncate copy shorter than what we had read)."""
    done: bool = False
    """Read to its end after rotation and all delivered: never opened again. Kept until forgotten
    so that the file is not mistaken for a copy of, or a successor to, another lineage."""
    seen: float = 0.0
    """Clock time the inode was last seen; persisted as `idle_s`, the age at saving (clocks differ)."""
    mtime_ns: int = 0
    """Modification time last seen on the file. Its rotated siblings modified earlier are older
    generations; later ones may be successors rotated away before a scan saw them."""
    emitted: int = 0
    """End of the last line handed out; commits never pass it (not persisted)."""
    closed_end: int | None = None
    """Set once the file is closed: the record is dropped when commits reach it (not persisted)."""

    def to_json(self, now: float) -> dict[str, object]:
        return {
            "source": self.source,
            "dev": self.dev,
            "ino": self.ino,
            "fp": self.fp,
            "fp_len": self.fp_len,
            "gen": self.gen,
            "offset": self.offset,
            "path": self.path,
            "loc": self.loc,
            "size": self.size,
            "anchor_end": self.anchor_end,
            "anchor": self.anchor,
            "final": self.final,
            "done": self.done,
            "idle_s": round(max(0.0, now - self.seen), 3),
            "mtime_ns": self.mtime_ns,
        }

    @classmethod
    def from_json(cls, d: dict[str, object], now: float) -> Checkpoint:
        def num(key: str, default: int | None = None) -> int:
            v = d.get(key, default)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"record field {key!r} is not an integer: {v!r}")
            return v

        idle = d.get("idle_s", 0.0)
        if not isinstance(idle, int | float):
            raise ValueError(f"record field 'idle_s' is not a number: {idle!r}")
        offset = num("offset")
        # Written before the field existed: only siblings modified from now on count as successors.
        mtime_ns = num("mtime_ns") if "mtime_ns" in d else time.time_ns()
        return cls(
            source=str(d["source"]),
            dev=num("dev"),
            ino=num("ino"),
            fp=str(d["fp"]),
            fp_len=num("fp_len"),
            gen=num("gen"),
            offset=offset,
            path=str(d["path"]),
            loc=str(d.get("loc") or d["path"]),
            size=num("size", 0),
            anchor_end=num("anchor_end", 0),
            anchor=str(d.get("anchor", "")),
            final=d.get("final") is True,
            done=d.get("done") is True,
            seen=now - float(idle),
            mtime_ns=mtime_ns,
            emitted=offset,
        )


class CheckpointError(Exception):
    pass


class CheckpointStore:
    """The records of one adapter, in memory, with atomic load and save."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.records: dict[str, Checkpoint] = {}
        self.gens: dict[Inode, tuple[int, float]] = {}
        """inode -> (last generation used, clock time the inode was last seen)"""
        self.scanned_ns: int | None = None
        """Wall time of the last scan: what was modified later at a path we knew nothing of is new."""

    def load(self, now: float) -> bool:
        """Read the file; False when there is none. Raises CheckpointError when it is unusable."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return False
        except OSError as e:
            raise CheckpointError(f"{self.path}: {e.strerror}") from e
        try:
            doc = orjson.loads(raw)
            if doc.get("version") != VERSION:
                raise ValueError(f"unknown version {doc.get('version')!r}")
            records = [Checkpoint.from_json(d, now) for d in doc["records"]]
            gens = {(int(dev), int(ino)): (int(gen), now - float(idle)) for dev, ino, gen, idle in doc["gens"]}
            scanned = doc.get("scanned_ns")
            scanned_ns = None if scanned is None else int(scanned)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{self.path}: {e}") from e
        self.records = {r.source: r for r in records}
        self.gens = gens
        self.scanned_ns = scanned_ns
        return True

    def save(self, now: float) -> None:
        """tmp file, fsync, rename over, fsync the directory: a crash leaves the old or the new file."""
        doc = {
            "version": VERSION,
            "records": [r.to_json(now) for r in self.records.values()],
            "gens": [[dev, ino, gen, round(max(0.0, now - seen), 3)] for (dev, ino), (gen, seen) in self.gens.items()],
            "scanned_ns": self.scanned_ns,
        }
        data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        tmp = f"{self.path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def set_aside(self) -> str | None:
        """Keep an unusable file for inspection instead of overwriting it."""
        aside = f"{self.path}.corrupt"
        with contextlib.suppress(OSError):
            os.replace(self.path, aside)
            return aside
        return None

    def at_inode(self, dev: int, ino: int) -> Checkpoint | None:
        """The newest lineage located at this inode."""
        best: Checkpoint | None = None
        for r in self.records.values():
            if r.ino == ino and r.dev == dev and (best is None or r.gen > best.gen):
                best = r
        return best

    def add(self, record: Checkpoint) -> None:
        self.records[record.source] = record

    def remove(self, record: Checkpoint) -> None:
        self.records.pop(record.source, None)

    def get(self, source: str) -> Checkpoint | None:
        return self.records.get(source)

    def next_gen(self, dev: int, ino: int) -> int:
        last = self.gens.get((dev, ino))
        return 0 if last is None else last[0] + 1

    def note_gen(self, dev: int, ino: int, gen: int, now: float) -> None:
        last = self.gens.get((dev, ino))
        self.gens[(dev, ino)] = (gen if last is None else max(gen, last[0]), now)

    def touch(self, key: Inode, now: float) -> None:
        last = self.gens.get(key)
        if last is not None:
            self.gens[key] = (last[0], now)

    def expire(self, now: float, after: float, keep: set[str]) -> None:
        """Forget what was not seen for `after` seconds (files gone for good), except `keep` sources."""
        for rec in [r for r in self.records.values() if r.source not in keep and now - r.seen >= after]:
            self.remove(rec)
        for key in [k for k, (_, seen) in self.gens.items() if now - seen >= after]:
            del self.gens[key]
