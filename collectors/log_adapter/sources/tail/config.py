"""Settings of the file tailer; the defaults suit a laptop and a Kubernetes node alike."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

KiB = 1024


class TailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include: list[str]
    """Globs of files to read; `**` crosses directories, e.g. `/var/log/pods/*/*/*.log`."""
    exclude: list[str] = []
    """fnmatch patterns on the full path (`*` also matches `/`)."""
    start_at: Literal["beginning", "end"] = "beginning"
    """Where to start files found by the very first scan when no checkpoint file exists yet.
    Files that appear later, or once a checkpoint exists, are always read from the beginning:
    they were created while we were not looking, and their lines are new."""
    read_chunk_bytes: int = Field(256 * KiB, ge=4 * KiB)
    max_line_bytes: int = Field(256 * KiB, ge=256)
    """Longer lines are cut here; the rest up to the newline is skipped, the line marked truncated.
    256 KiB, as Loki's default: a Kafka record carries a whole batch and the broker's default
    message size limit is 1 MB, so a line near 1 MiB could never be shipped."""
    glob_interval_ms: int = Field(1000, ge=10)
    rotate_wait_ms: int = Field(5000, ge=0)
    """Keep reading a renamed or deleted file until it has been idle this long after its path moved on."""
    partial_line_timeout_ms: int = Field(5000, ge=0)
    """A last line without newline is emitted after this idle time (a writer that never ends its line)."""
    max_open_files: int = Field(512, ge=1)
    """Files held open at once, at most; also never more than half the process's RLIMIT_NOFILE, so the
    checkpoint, the Kafka client and the metrics endpoint always find a descriptor. Past it, files read to
    their end are closed to let waiting ones in, and reopened when they grow."""
    close_idle_ms: int = Field(60_000, ge=1000)
    """A file read to its end that did not grow for this long is closed; a scan reopens it when it grows,
    and finds it by inode if it was rotated away meanwhile."""
    checkpoint_path: str = "./observ-data/adapter-checkpoints.json"
    """In `observ ship`, `<--data>/adapter-checkpoints.json` unless given."""
    checkpoint_interval_ms: int = Field(1000, ge=10)
    forget_after_ms: int = Field(3_600_000, ge=0)
    """Forget the checkpoint of a file not seen (open, or found by a scan) for this long."""
