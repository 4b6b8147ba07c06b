"""Descriptors: idle files are closed and reopened without losing or repeating a line, the number held
open is capped, and a process out of descriptors (EMFILE) ships every file and keeps checkpointing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.unit.test_tail_source import Row, Tail, append, texts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    return tmp_path / "logs"


def open_fds(tail: Tail) -> int:
    return sum(tail.open_fds_to(p) for p in (tail.tmp / "logs").iterdir())


def test_an_idle_file_is_closed_then_reopened_when_it_grows(tmp_path: Path, logs: Path) -> None:
    tail = Tail(tmp_path, close_idle_ms=5000)
    append(logs / "a.log", "one", "two")
    rows = tail.scan_read()
    assert texts(rows) == ["one", "two"]
    assert tail.open_fds_to(logs / "a.log") == 1
    rows += tail.settle(6)
    assert tail.open_fds_to(logs / "a.log") == 0
    assert tail.count("observ_adapter_files_open") == 0
    append(logs / "a.log", "three")
    rows += tail.scan_read()
    assert texts(rows) == ["one", "two", "three"]
    assert len({r[0] for r in rows}) == 1
    assert tail.open_fds_to(logs / "a.log") == 1


def test_a_file_rotated_away_while_closed_is_read_to_its_end(tmp_path: Path, logs: Path) -> None:
    tail = Tail(tmp_path, close_idle_ms=1000)
    live = logs / "app.log"
    append(live, "g1 one")
    rows = tail.scan_read() + tail.settle(2)
    assert tail.open_fds_to(live) == 0
    append(live, "g1 two", "g1 three")  # written while closed, then rotated before any scan
    live.rename(logs / "app.log.1")
    append(live, "g2 one")
    rows += tail.settle(8)
    assert sorted(texts(rows)) == ["g1 one", "g1 three", "g1 two", "g2 one"]
    by_source = Counter(r[0] for r in rows)
    assert sorted(by_source.values()) == [1, 3]
    assert tail.open_fds_to(logs / "app.log.1") == 0  # let go after rotate_wait


def test_copytruncate_while_closed_reads_the_rest_from_the_copy(tmp_path: Path, logs: Path) -> None:
    tail = Tail(tmp_path, close_idle_ms=1000)
    live = logs / "app.log"
    append(live, "one")
    rows = tail.scan_read() + tail.settle(2)
    assert tail.open_fds_to(live) == 0
    append(live, "two")
    (logs / "app.log.1").write_bytes(live.read_bytes())
    os.truncate(live, 0)
    append(live, "after")
    rows += tail.settle(8)
    assert sorted(texts(rows)) == ["after", "one", "two"]


def test_a_file_rewritten_to_the_same_size_while_closed_is_read_anew(tmp_path: Path, logs: Path) -> None:
    tail = Tail(tmp_path, close_idle_ms=1000)
    live = logs / "app.log"
    append(live, "first")
    rows = tail.scan_read() + tail.settle(2)
    assert tail.open_fds_to(live) == 0
    mtime = live.stat().st_mtime_ns
    live.write_text("other\n")  # truncated and rewritten in place, same size
    os.utime(live, ns=(mtime + 1_000_000, mtime + 1_000_000))  # even where mtimes are coarse
    rows += tail.settle(3)
    assert texts(rows) == ["first", "other"]
    assert len({r[0] for r in rows}) == 2


def test_open_files_are_capped_and_every_line_is_read_once(tmp_path: Path, logs: Path) -> None:
    tail = Tail(tmp_path, max_open_files=4)
    expected = []
    for i in range(20):
        lines = [f"f{i} line {n}" for n in range(3)]
        append(logs / f"f{i}.log", *lines)
        expected += lines
    rows: list[Row] = []
    for _ in range(30):
        rows += tail.scan_read()
        assert open_fds(tail) <= 4
    assert tail.count("observ_adapter_files_waiting") == 0
    for i in range(20):
        append(logs / f"f{i}.log", f"f{i} more")
        expected.append(f"f{i} more")
    for _ in range(30):
        rows += tail.scan_read()
        assert open_fds(tail) <= 4
    assert sorted(texts(rows)) == sorted(expected)


CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
from collectors.log_adapter.events import Metrics
from collectors.log_adapter.sources.tail.config import TailConfig
from collectors.log_adapter.sources.tail.source import TailSource

limit, files, logs, checkpoint = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
config = TailConfig(include=[f"{logs}/*.log"], checkpoint_path=checkpoint, glob_interval_ms=20,
                    checkpoint_interval_ms=20, close_idle_ms=1000, rotate_wait_ms=200, max_open_files=10_000)
metrics = Metrics()
src = TailSource(config, metrics)
hog = []
while True:  # leave the tailer far fewer descriptors than its cap (half the limit) counts on
    fd = os.open(os.devnull, os.O_RDONLY)
    if fd >= limit - 12:
        os.close(fd)
        break
    hog.append(fd)
got, saves = [], []

def pump(expected, seconds):
    deadline = time.monotonic() + seconds
    while len(got) < expected and time.monotonic() < deadline:
        for chunk in src.read(1 << 20):
            got.extend(line.decode() for line in chunk.lines)
            src.commit(chunk.source, chunk.ends[-1])
        if os.path.exists(checkpoint):
            saves.append(os.stat(checkpoint).st_mtime_ns)
        time.sleep(0.005)

pump(files * 3, 60)
for i in range(files):  # every file grows while most are closed; a fifth are rotated before a scan sees it
    name = logs / f"f{i}.log"
    with open(name, "a") as f:
        f.write(f"f{i} grown\n")
    if i % 5 == 0:
        name.rename(logs / f"f{i}.log.1")
        with open(name, "a") as f:
            f.write(f"f{i} next generation\n")
pump(files * 4 + files // 5, 60)
pump(len(got) + 1, 1)  # rotate_wait and a last save
src.close()
value = lambda name, **labels: metrics.registry.get_sample_value(name, labels) or 0.0
print(json.dumps({
    "lines": got,
    "emfile": value("observ_adapter_source_errors_total", reason="too_many_open_files"),
    "checkpoint_failures": value("observ_adapter_source_errors_total", reason="checkpoint_write_failed"),
    "distinct_saves": len(set(saves)),
}))
"""


def test_past_the_descriptor_limit_every_line_is_shipped_once_and_checkpoints_move(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()  # no fixture: the child tails it
    files = 200
    expected: list[str] = []
    for i in range(files):
        lines = [f"f{i} line {n}" for n in range(3)]
        (logs / f"f{i}.log").write_text("".join(line + "\n" for line in lines))
        expected += lines
    checkpoint = tmp_path / "state" / "checkpoints.json"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "64", str(files), str(logs), str(checkpoint)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    for i in range(files):
        expected.append(f"f{i} grown")
        if i % 5 == 0:
            expected.append(f"f{i} next generation")
    assert Counter(result["lines"]) == Counter(expected)
    assert result["emfile"] > 0, "the child never ran out of descriptors: the test proves nothing"
    assert result["checkpoint_failures"] == 0
    assert result["distinct_saves"] > 10
    offsets = {r["loc"]: r["offset"] for r in json.loads(checkpoint.read_text())["records"]}
    sizes = {str(p): p.stat().st_size for p in logs.iterdir()}
    assert {loc: offsets[loc] for loc in sizes if loc.endswith(".log")} == {
        loc: size for loc, size in sizes.items() if loc.endswith(".log")
    }
    # Rotated files read to their end and all committed may already be forgotten.
    assert all(offsets[loc] == size for loc, size in sizes.items() if loc in offsets)
