"""The spans store's own write-ahead log: one Arrow IPC record per group commit, in numbered files.

Why not DuckDB: its WAL serializes every value of a committed row (~3 us of CPU a span, 23 columns) on the one
thread that commits, which capped span ingest near 0.28x DuckDB's own read_json (docs/traces.md). Here a group
commit costs one write and one fsync whatever its size. The hot spans themselves stay in memory (SpanStore);
these files are only read back on open.

A record is a header (magic, payload length, CRC-32 of the payload) and the payload: an Arrow IPC stream of the
group's rows whose schema metadata carries the Kafka offsets and rejected records of the same commit, so rows and
offsets are durable together. A torn last record (a crash mid-write) fails its length or CRC and is cut off; a
failed append truncates its own partial record. Compaction rotates to a new file, and once its segments commit
(with the number of the last file they cover), the files up to it are deleted.
"""

from __future__ import annotations

import base64
import logging
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson
import pyarrow as pa

from observ.store.segments import fsync_dir

__all__ = ["HotLog", "LogRecord", "Rejected", "ipc_rows", "ipc_stream"]

log = logging.getLogger("observ.traces")

_MAGIC = b"OSPN"
_HEADER = struct.Struct("<4sQI")
_SUFFIX = ".arrows"
_META = b"observ"

Rejected = tuple[str, int, int, str, bytes, int]
"""(topic, partition, offset, reason, payload, rejected_ns): a row of `rejected_records`."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One group commit as read back."""

    rows: pa.Table
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)


def _encode(rows: Sequence[pa.Table], schema: pa.Schema, offsets: dict[tuple[str, int], int],
            rejected: Sequence[Rejected]) -> pa.Buffer:  # fmt: skip
    meta = {
        "offsets": [[t, p, o] for (t, p), o in offsets.items()],
        "rejected": [[t, p, o, why, base64.b64encode(body).decode(), ns] for t, p, o, why, body, ns in rejected],
    }
    return ipc_stream(rows, schema.with_metadata({_META: orjson.dumps(meta)}))


def ipc_stream(rows: Sequence[pa.Table], schema: pa.Schema) -> pa.Buffer:
    """The tables as one Arrow IPC stream (what a record holds, and how a prepared append crosses processes)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        for table in rows:
            writer.write_table(table)
    return sink.getvalue()


def ipc_rows(stream: bytes | pa.Buffer) -> pa.Table:
    """The rows of one Arrow IPC stream (`ipc_stream`'s other half, for a prepared append's rows)."""
    return pa.ipc.open_stream(stream).read_all()


def _decode(payload: memoryview) -> LogRecord:
    reader = pa.ipc.open_stream(pa.py_buffer(payload))
    rows = reader.read_all()
    meta = orjson.loads((reader.schema.metadata or {}).get(_META, b"{}"))
    offsets = {(t, p): o for t, p, o in meta.get("offsets", [])}
    rejected = [(t, p, o, why, base64.b64decode(body), ns) for t, p, o, why, body, ns in meta.get("rejected", [])]
    return LogRecord(rows.replace_schema_metadata(None), offsets, rejected)


def _records(data: memoryview, name: str) -> Iterator[tuple[int, LogRecord]]:
    """(end position, record) of each intact record; stops at the first one that is not (logged)."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < _HEADER.size:
            log.warning("span log %s: %d bytes of a torn header at %d cut off", name, len(data) - pos, pos)
            return
        magic, length, crc = _HEADER.unpack_from(data, pos)
        body = data[pos + _HEADER.size : pos + _HEADER.size + length]
        if magic != _MAGIC or len(body) != length or zlib.crc32(body) != crc:
            log.warning("span log %s: the record at byte %d is torn or corrupt; it and what follows are cut off",
                        name, pos)  # fmt: skip
            return
        try:
            record = _decode(body)
        except (pa.ArrowInvalid, orjson.JSONDecodeError, ValueError, TypeError) as e:
            log.warning("span log %s: the record at byte %d does not decode (%s); it and what follows are cut off",
                        name, pos, e)  # fmt: skip
            return
        pos += _HEADER.size + length
        yield pos, record


class HotLog:
    """Numbered files in one folder; appends go to the newest. Not thread-safe: the store's writers' lock guards it."""

    def __init__(self, directory: Path, schema: pa.Schema) -> None:
        self.directory = directory
        self.schema = schema
        directory.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = None
        self._number = max(self.numbers(), default=0)

    def numbers(self) -> list[int]:
        """Numbers of the files present, ascending."""
        found = []
        for p in self.directory.glob(f"*{_SUFFIX}"):
            if p.stem.isdigit():
                found.append(int(p.stem))
        return sorted(found)

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:012d}{_SUFFIX}"

    def replay(self, after: int) -> Iterator[LogRecord]:
        """Every intact record of the files numbered above `after`, oldest first. A file's torn tail is truncated,
        so nothing appended later could follow garbage."""
        for number in self.numbers():
            if number <= after:
                continue
            path = self._path(number)
            data = memoryview(path.read_bytes())
            intact = 0
            for end, record in _records(data, path.name):
                intact = end
                yield record
            if intact < len(data):
                with path.open("r+b") as f:
                    f.truncate(intact)
                    os.fsync(f.fileno())

    def append(
        self, rows: Sequence[pa.Table], offsets: dict[tuple[str, int], int], rejected: Sequence[Rejected]
    ) -> int:
        """One record, written and fsynced; its size in bytes. On any failure the partial record is cut off again and
        OSError raised: the log is as before."""
        payload = _encode(rows, self.schema, offsets, rejected)
        header = _HEADER.pack(_MAGIC, payload.size, zlib.crc32(payload))
        f = self._open()
        start = f.tell()
        try:
            f.write(header)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            self._cut(f, start)
            raise
        return len(header) + payload.size

    def _open(self) -> BinaryIO:
        if self._file is None:
            self._number += 1
            self._file = self._path(self._number).open("ab")
            fsync_dir(self.directory)
        return self._file

    def _cut(self, f: BinaryIO, size: int) -> None:
        try:
            f.truncate(size)
            f.seek(size)
        except OSError:  # the next open starts a new file; replay cuts this one at the torn record
            log.exception("span log %s: a failed append could not be cut off", self._path(self._number).name)
            f.close()
            self._file = None

    def rotate(self) -> int:
        """Close the current file; later appends go to a new one. Returns the last number whose records are all
        written before now: what a compaction of the current hot spans covers."""
        if self._file is not None:
            self._file.close()
            self._file = None
        return self._number

    def drop_through(self, number: int) -> None:
        """Delete the files numbered up to `number` (their records are in segments, or superseded)."""
        for n in self.numbers():
            if n <= number and not (self._file is not None and n == self._number):
                self._path(n).unlink(missing_ok=True)

    def close(self) -> None:
        self.rotate()
