"""The file tailer against real files in tmp_path, with an injected clock."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest

from collectors.log_adapter.events import Metrics
from collectors.log_adapter.sources.tail.config import TailConfig
from collectors.log_adapter.sources.tail.source import TailSource

Row = tuple[str, int, int, bytes, bool]
"""(source, start, end, line, truncated)"""


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def tick(self, seconds: float) -> None:
        self.t += seconds


class Tail:
    """A TailSource plus the bookkeeping tests need: flat rows, restarts, metric reads."""

    def __init__(self, tmp_path: Path, include: list[str] | None = None, **settings: object) -> None:
        self.tmp = tmp_path
        self.clock = Clock()
        self.settings: dict[str, object] = {
            "include": include or [str(tmp_path / "logs" / "*.log")],
            "checkpoint_path": str(tmp_path / "state" / "checkpoints.json"),
            **settings,
        }
        self.metrics = Metrics()
        self.src = self._new()

    def _new(self) -> TailSource:
        return TailSource(TailConfig.model_validate(self.settings), self.metrics, clock=self.clock)

    def read(self, budget: int = 1 << 30) -> list[Row]:
        rows: list[Row] = []
        for chunk in self.src.read(budget):
            assert len(chunk.lines) == len(chunk.starts) == len(chunk.ends) == len(chunk.truncated)
            rows.extend(
                zip(
                    [chunk.source] * len(chunk.lines),
                    chunk.starts,
                    chunk.ends,
                    chunk.lines,
                    chunk.truncated,
                    strict=True,
                )
            )
        return rows

    def scan_read(self) -> list[Row]:
        """Let a glob interval pass, then read everything available."""
        self.clock.tick(1.01)
        rows = self.read()
        while True:
            more = self.read()
            if not more:
                return rows
            rows += more

    def settle(self, seconds: float = 6.0) -> list[Row]:
        """Let timeouts (partial line, rotate wait) expire, reading all along."""
        rows: list[Row] = []
        for _ in range(int(seconds / 1.0) + 1):
            rows += self.scan_read()
        return rows

    def commit_all(self, rows: list[Row]) -> None:
        ends: dict[str, int] = {}
        for source, _, end, _, _ in rows:
            ends[source] = max(ends.get(source, 0), end)
        for source, end in ends.items():
            self.src.commit(source, end)

    def restart(self) -> None:
        self.src.close()
        self.src = self._new()

    def kill(self) -> None:
        """Like SIGKILL: nothing saved; the fds die with the process."""
        abandon(self.src)
        self.src = self._new()

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def open_fds_to(self, path: Path) -> int:
        """How many of our fds point at `path` (also after it was renamed or deleted)."""
        n = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.removesuffix(" (deleted)") == str(path):
                n += 1
        return n


def abandon(src: TailSource) -> None:
    for t in src._tailed.values():
        os.close(t.fd)
    for p in src._pending.values():
        os.close(p.fd)
    src._tailed.clear()
    src._pending.clear()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


def append(path: Path, *lines: str | bytes) -> None:
    with open(path, "ab") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else line.encode() + b"\n")


def texts(rows: list[Row]) -> list[str]:
    return [r[3].decode() for r in rows]


def sources(rows: list[Row]) -> set[str]:
    return {r[0] for r in rows}


def per_source(rows: list[Row]) -> list[list[str]]:
    """Texts of each source in delivery order; sources in order of first delivery.
    Order only holds within a source: files are read round-robin."""
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(r[3].decode())
    return list(out.values())


# -- lines and offsets -------------------------------------------------------------


def test_lines_carry_offsets_and_lose_their_newline(tmp_path: Path, logs: Path) -> None:
    append(logs / "a.log", b"one\ntwo\r\n\nthree\n\xff\xfe bad utf8\n")
    tail = Tail(tmp_path)
    rows = tail.read()
    assert [(r[1], r[2], r[3]) for r in rows] == [
        (0, 4, b"one"),
        (4, 9, b"two"),
        (9, 10, b""),
        (10, 16, b"three"),
        (16, 28, b"\xff\xfe bad utf8"),
    ]
    assert len(sources(rows)) == 1
    assert tail.count("observ_adapter_lines_read_total") == 5
    assert tail.count("observ_adapter_read_bytes_total") == 28


def test_source_id_is_dev_ino_fingerprint_generation(tmp_path: Path, logs: Path) -> None:
    append(logs / "a.log", "hello")
    rows = Tail(tmp_path).read()
    st = os.stat(logs / "a.log")
    dev, ino, fp, gen = rows[0][0].split(":")
    assert (int(dev), int(ino), gen) == (st.st_dev, st.st_ino, "0")
    assert len(fp) == 16


def test_nothing_is_shipped_before_the_first_line_is_complete(tmp_path: Path, logs: Path) -> None:
    append(logs / "a.log", b"first line, still being writ")
    tail = Tail(tmp_path)
    assert tail.read() == []
    tail.clock.tick(2)
    assert tail.read() == []
    append(logs / "a.log", b"ten\nsecond\n")
    assert texts(tail.read()) == ["first line, still being written", "second"]


def test_partial_last_line_waits_for_the_timeout(tmp_path: Path, logs: Path) -> None:
    append(logs / "a.log", "complete", b"no newline yet")
    tail = Tail(tmp_path, partial_line_timeout_ms=5000)
    assert texts(tail.read()) == ["complete"]
    tail.clock.tick(4.9)
    assert tail.read() == []
    tail.clock.tick(0.2)
    rows = tail.read()
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [(9, 23, b"no newline yet", False)]
    append(logs / "a.log", " and more")
    assert [(r[1], r[3]) for r in tail.read()] == [(23, b" and more")]


def test_a_growing_partial_line_is_not_cut_by_the_timeout(tmp_path: Path, logs: Path) -> None:
    append(logs / "a.log", "x", b"growing")
    tail = Tail(tmp_path, partial_line_timeout_ms=5000)
    tail.read()
    for _ in range(5):
        tail.clock.tick(3)
        append(logs / "a.log", b"+")
        assert tail.read() == []
    append(logs / "a.log", b"\n")
    assert texts(tail.read()) == ["growing+++++"]


def test_ten_megabyte_line_is_cut_in_bounded_memory(tmp_path: Path, logs: Path) -> None:
    big = 10 * 1024 * 1024
    with open(logs / "a.log", "wb") as f:
        f.write(b"before\n")
        for _ in range(big // (1 << 20)):
            f.write(b"x" * (1 << 20))
        f.write(b"\nafter\n")
    tail = Tail(tmp_path, max_line_bytes=1 << 20, read_chunk_bytes=256 * 1024)
    tracemalloc.start()
    try:
        rows: list[Row] = []
        for _ in range(100):
            rows += tail.read(1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(r[1], r[2], len(r[3]), r[4]) for r in rows] == [
        (0, 7, 6, False),
        (7, 7 + big + 1, 1 << 20, True),
        (7 + big + 1, 7 + big + 7, 5, False),
    ]
    assert rows[2][3] == b"after"
    assert peak < 4 * (1 << 20), peak


def test_long_lines_inside_one_chunk_are_cut_too(tmp_path: Path, logs: Path) -> None:
    append(logs / "a.log", "a" * 300, "b" * 256 + "\r", "c")
    rows = Tail(tmp_path, max_line_bytes=256).read()
    assert [(len(r[3]), r[4]) for r in rows] == [(256, True), (256, False), (1, False)]
    assert rows[1][2] == 301 + 258


# -- discovery ---------------------------------------------------------------


def test_new_pods_are_discovered_at_the_glob_interval(tmp_path: Path) -> None:
    pods = tmp_path / "var" / "log" / "pods"
    first = pods / "default_web-1_uid1" / "app"
    first.mkdir(parents=True)
    append(first / "0.log", "2024-01-01T00:00:00Z stdout F hello")
    tail = Tail(tmp_path, include=[str(pods / "*" / "*" / "*.log")], glob_interval_ms=1000)
    assert texts(tail.read()) == ["2024-01-01T00:00:00Z stdout F hello"]
    second = pods / "kube-system_dns-2_uid2" / "dns"
    second.mkdir(parents=True)
    append(second / "0.log", "2024-01-01T00:00:01Z stderr F world")
    tail.clock.tick(0.5)
    assert tail.read() == []
    tail.clock.tick(0.6)
    rows = tail.read()
    assert texts(rows) == ["2024-01-01T00:00:01Z stderr F world"]
    assert len(sources(rows)) == 1


def test_recursive_globs_excludes_and_symlinks(tmp_path: Path) -> None:
    pods = tmp_path / "pods"
    (pods / "ns_a_1" / "c").mkdir(parents=True)
    (pods / "ns_b_2" / "c").mkdir(parents=True)
    append(pods / "ns_a_1" / "c" / "0.log", "a")
    append(pods / "ns_b_2" / "c" / "0.log", "b")
    append(pods / "ns_b_2" / "c" / "0.log.gz", "zipped")
    containers = tmp_path / "containers"
    containers.mkdir()
    os.symlink(pods / "ns_a_1" / "c" / "0.log", containers / "a_ns_c-123.log")
    tail = Tail(
        tmp_path,
        include=[str(pods / "**" / "*.log*"), str(containers / "*.log")],
        exclude=["*.gz", "*/ns_b_2/*"],
    )
    chunks = tail.src.read(1 << 20)
    assert [(c.path, c.lines) for c in chunks] == [(str(pods / "ns_a_1" / "c" / "0.log"), [b"a"])]


def test_start_at_end_applies_only_to_the_first_scan_of_a_fresh_install(tmp_path: Path, logs: Path) -> None:
    append(logs / "old.log", "history 1", "history 2", b"half a li")
    tail = Tail(tmp_path, start_at="end")
    assert tail.read() == []
    append(logs / "old.log", b"ne\n", "fresh")
    append(logs / "new.log", "new file 1")
    rows = tail.scan_read()
    assert sorted(texts(rows)) == ["fresh", "half a line", "new file 1"]
    tail.commit_all(rows)
    tail.restart()
    append(logs / "later.log", "later 1")
    assert texts(tail.scan_read()) == ["later 1"]


def test_round_robin_shares_the_budget(tmp_path: Path, logs: Path) -> None:
    for name in ("a.log", "b.log"):
        append(logs / name, *[f"{name} line {i:04d}" for i in range(5000)])
    tail = Tail(tmp_path, read_chunk_bytes=4096)
    rows = tail.read(64 * 1024)
    per_file = {s: sum(1 for r in rows if r[0] == s) for s in sources(rows)}
    assert len(per_file) == 2
    assert min(per_file.values()) > 1000
    assert tail.src.lag_bytes() > 0 and not tail.src.idle()
    while tail.read():
        pass
    assert tail.src.lag_bytes() == 0 and tail.src.idle()


# -- rotation ------------------------------------------------------------------


def test_rename_rotation_reads_the_old_file_to_its_end(tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "a1", "a2")
    tail = Tail(tmp_path, rotate_wait_ms=5000)
    rows = tail.read()
    os.rename(app, logs / "app.log.1")  # not matched by *.log
    append(logs / "app.log.1", "a3 written after the rename")
    append(app, "b1")
    rows += tail.scan_read()
    append(logs / "app.log.1", "a4 still late")
    rows += tail.settle(10)
    assert sorted(texts(rows)) == sorted(["a1", "a2", "a3 written after the rename", "a4 still late", "b1"])
    old, new = (
        {r[0] for r in rows if r[3].startswith(b"a")},
        {r[0] for r in rows if r[3].startswith(b"b")},
    )
    assert len(old) == 1 and len(new) == 1 and old != new
    assert tail.open_fds_to(logs / "app.log.1") == 0
    assert tail.open_fds_to(app) == 1


def test_rotated_name_matching_the_glob_is_not_read_twice(tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "a1", "a2")
    tail = Tail(tmp_path, include=[str(logs / "app.log*")])
    rows = tail.read()
    os.rename(app, logs / "app.log.1")
    append(logs / "app.log.1", "a3")
    append(app, "b1")
    rows += tail.settle(10)
    assert sorted(texts(rows)) == ["a1", "a2", "a3", "b1"]
    assert len({r[0] for r in rows if r[3].startswith(b"a")}) == 1


def test_deleted_file_is_read_to_its_end_then_closed(tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "a1")
    tail = Tail(tmp_path)
    rows = tail.read()
    with open(app, "ab") as f:
        os.unlink(app)
        f.write(b"a2 written after unlink\n")
        f.flush()
        rows += tail.scan_read()
    rows += tail.settle(10)
    assert texts(rows) == ["a1", "a2 written after unlink"]
    assert tail.open_fds_to(app) == 0


def copytruncate(path: Path, copy: Path) -> None:
    shutil.copyfile(path, copy)
    os.truncate(path, 0)


def test_copytruncate_reads_the_rest_from_the_copy(tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    append(app, *[f"old {i}" for i in range(3)])
    tail = Tail(tmp_path)
    rows = tail.read()
    append(app, "old 3", "old 4")  # not read yet when logrotate strikes
    copytruncate(app, logs / "app.log.1")
    append(app, "new 0", "new 1")
    rows += tail.settle(10)
    assert per_source(rows) == [["old 0", "old 1", "old 2", "old 3", "old 4"], ["new 0", "new 1"]]
    assert [r[2] for r in rows if r[3].startswith(b"old")] == [6, 12, 18, 24, 30]
    assert tail.count("observ_adapter_dropped_entries_total", reason="truncated_unread") == 0
    assert tail.open_fds_to(logs / "app.log.1") == 0


def test_copytruncate_copy_matching_the_glob_is_not_read_twice(tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    append(app, *[f"old {i}" for i in range(2)])
    tail = Tail(tmp_path, include=[str(logs / "app.log*")])
    rows = tail.read()
    append(app, "old 2", "old 3", "old 4")
    copytruncate(app, logs / "app.log.1")
    append(app, "new 0")
    rows += tail.settle(10)
    assert per_source(rows) == [["old 0", "old 1", "old 2", "old 3", "old 4"], ["new 0"]]


def test_copy_in_the_making_is_not_read_as_a_new_file(tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    append(app, *[f"old {i}" for i in range(5)])
    tail = Tail(tmp_path, include=[str(logs / "app.log*")])
    rows = tail.read()
    shutil.copyfile(app, logs / "app.log.1")  # copied; the truncate comes after a scan
    rows += tail.scan_read()
    os.truncate(app, 0)
    append(app, "new 0")
    rows += tail.settle(10)
    assert per_source(rows) == [["old 0", "old 1", "old 2", "old 3", "old 4"], ["new 0"]]


def test_copytruncate_copy_is_told_from_a_newer_file_starting_alike(tmp_path: Path, logs: Path) -> None:
    """Both are shorter than what we read and share the fingerprint (a banner longer than it):
    the bytes we read beyond the fingerprint decide, not the newest mtime."""
    banner = "=" * 300
    app = logs / "app.log"
    append(app, banner, "old 0")
    tail = Tail(tmp_path, include=[str(logs / "app.log*")])
    rows = tail.read()
    shutil.copyfile(app, logs / "app.log.1")
    append(app, "old 1")  # written after the copy: logrotate itself loses it
    rows += tail.read()
    os.truncate(app, 0)
    append(app, "new 0")
    append(logs / "app.log.2", banner, "other")
    rows += tail.scan_read() + tail.settle(10)
    assert sorted(per_source(rows)) == [[banner, "old 0", "old 1"], [banner, "other"], ["new 0"]]


def test_truncation_without_a_copy_counts_what_was_lost(tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    append(app, *[f"old {i}" for i in range(2)])
    tail = Tail(tmp_path)
    rows = tail.read()
    append(app, "old 2", "old 3", "old 4")
    tail.clock.tick(1.01)
    tail.read(0)  # a scan sees the new size; nothing is read
    os.truncate(app, 0)
    append(app, "new 0")
    rows += tail.settle(10)
    assert per_source(rows) == [["old 0", "old 1"], ["new 0"]]
    assert tail.count("observ_adapter_dropped_entries_total", reason="truncated_unread") == 1


def test_truncated_and_regrown_past_our_position_is_noticed(tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "old 0", "old 1")
    tail = Tail(tmp_path)
    rows = tail.read()
    copytruncate(app, logs / "app.log.1")
    append(app, *[f"new {i}" for i in range(10)])
    rows += tail.settle(10)
    assert per_source(rows) == [["old 0", "old 1"], [f"new {i}" for i in range(10)]]


def test_same_first_line_after_truncation_gets_a_new_generation(tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "=== banner ===", "run 1")
    tail = Tail(tmp_path)
    rows = tail.read()
    os.truncate(app, 0)
    append(app, "=== banner ===", "run 2")
    rows += tail.settle(10)
    assert texts(rows) == ["=== banner ===", "run 1", "=== banner ===", "run 2"]
    first, second = rows[0][0], rows[2][0]
    assert first.rsplit(":", 1)[0] == second.rsplit(":", 1)[0]
    assert (first[-2:], second[-2:]) == (":0", ":1")


def test_inode_reuse_is_a_new_source(tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "=== banner ===", "first file")
    # The checkpoint lives on another filesystem, so its writes do not take the freed inode.
    state = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    tail = Tail(tmp_path, rotate_wait_ms=1000, checkpoint_path=str(state / "cp.json"))
    rows = tail.read()
    tail.commit_all(rows)
    ino = os.stat(app).st_ino
    os.unlink(app)
    tail.settle(3)
    assert tail.open_fds_to(app) == 0
    for i in range(20):
        append(app, "=== banner ===", "second file")
        if os.stat(app).st_ino == ino:
            break
        os.rename(app, logs / f"keep-{i}")
    else:
        pytest.skip("the filesystem did not reuse the inode")
    more = tail.settle(3)
    assert texts(more) == ["=== banner ===", "second file"]
    assert more[0][1] == 0
    assert more[0][0] != rows[0][0]
    shutil.rmtree(state)


# -- rotation faster than the glob interval ---------------------------------------------


def pod_container(tmp_path: Path) -> tuple[Path, list[str]]:
    """A kubelet container log directory, and the DaemonSet's glob (rotated names do not match it)."""
    container = tmp_path / "var" / "log" / "pods" / "shop_api-7f9c_0d6e" / "api"
    container.mkdir(parents=True)
    return container, [str(tmp_path / "var" / "log" / "pods" / "*" / "*" / "*.log")]


def generation(gen: int, n: int = 3) -> list[str]:
    return [f"2026-11-25T10:00:00.{gen:03d}{i:06d}Z stdout F gen{gen} line {i}" for i in range(n)]


def rotate(live: Path, rotated: Path, *lines: str) -> None:
    """Kubelet: rename, then the runtime reopens a new file and writes on."""
    os.rename(live, rotated)
    append(live, *lines)


def test_generations_rotated_between_two_scans_are_all_read(tmp_path: Path) -> None:
    container, include = pod_container(tmp_path)
    live = container / "0.log"
    append(live, *generation(0))
    tail = Tail(tmp_path, include=include, glob_interval_ms=1000)
    rows = tail.read()
    for gen in range(1, 4):
        rotate(live, container / f"0.log.2026112510000{gen}", *generation(gen))
    # No glob interval passed: generations 1 and 2 never were at the glob path while we looked.
    rows += tail.read()
    assert sorted(per_source(rows)) == [generation(g) for g in range(4)]
    assert {r.path for r in tail.src.store.records.values()} == {str(live)}  # labels come from it
    assert tail.settle(10) == []
    assert sum(tail.open_fds_to(container / f"0.log.2026112510000{gen}") for gen in range(1, 4)) == 0
    assert tail.open_fds_to(live) == 1


def test_a_reader_behind_finds_the_generations_it_never_saw(tmp_path: Path) -> None:
    container, include = pod_container(tmp_path)
    live = container / "0.log"
    append(live, *generation(0, 500))
    tail = Tail(tmp_path, include=include, read_chunk_bytes=4096)
    rows = tail.read(4096)
    assert 0 < len(rows) < 500
    for gen in range(1, 4):
        rotate(live, container / f"0.log.{gen}", *generation(gen))
    rows += tail.settle(10)
    assert sorted(per_source(rows)) == [generation(0, 500), *[generation(g) for g in range(1, 4)]]


def test_a_path_left_empty_is_watched_while_its_last_file_is_open(tmp_path: Path, logs: Path) -> None:
    """A writer that creates its file on the first write: between two scans nothing may be at the path."""
    app = logs / "app.log"
    append(app, "a 0", "a 1")
    tail = Tail(tmp_path)
    rows = tail.read()
    os.rename(app, logs / "app.log.1")
    rows += tail.scan_read()
    for gen, name in (("b", "app.log.2"), ("c", "app.log.3")):
        append(app, f"{gen} 0")
        os.rename(app, logs / name)
    rows += tail.settle(10)
    assert per_source(rows) == [["a 0", "a 1"], ["b 0"], ["c 0"]]


def test_a_new_path_whose_first_generations_rotated_before_we_looked(tmp_path: Path) -> None:
    container, include = pod_container(tmp_path)
    started = time.time_ns()
    tail = Tail(tmp_path, include=include)
    assert tail.read() == []
    live = container / "0.log"
    append(live, *generation(0))
    for gen in range(1, 3):
        rotate(live, container / f"0.log.{gen}", *generation(gen))
    # File times come from a coarse clock: written right after we started, stamped a little before.
    os.utime(container / "0.log.1", ns=(started - 1_000_000, started - 1_000_000))
    rows = tail.scan_read() + tail.settle(10)
    assert sorted(per_source(rows)) == [generation(g) for g in range(3)]


def test_rotated_siblings_that_are_not_new_generations_are_left_alone(tmp_path: Path) -> None:
    container, include = pod_container(tmp_path)
    ancient = container / "0.log.20261124-000000"
    append(ancient, "from before we started")
    hour_ago = time.time() - 3600
    os.utime(ancient, (hour_ago, hour_ago))
    live = container / "0.log"
    append(live, *generation(0))
    tail = Tail(tmp_path, include=include, exclude=["*.skip"])
    rows = tail.read()
    rotate(live, container / "0.log.20261125-100000", *generation(1))
    (container / "0.log.20261124-000000.gz").write_bytes(gzip.compress(b"zipped\n"))
    (container / "0.log.20261124-000000.tmp").write_bytes(gzip.compress(b"kubelet compressing\n"))
    append(container / "0.log.json", "another file, not a rotation")
    append(container / "0.log.1.skip", "excluded by the user")
    rotate(live, container / "0.log.20261125-100001", *generation(2))
    rows += tail.read() + tail.settle(10)
    assert sorted(per_source(rows)) == [generation(g) for g in range(3)]


def test_a_copy_of_what_we_read_is_not_a_new_generation(tmp_path: Path, logs: Path) -> None:
    """logrotate `copy`: our content under a new inode; then the file is renamed anyway."""
    app = logs / "app.log"
    append(app, "a 0", "a 1", "a 2")
    tail = Tail(tmp_path)
    rows = tail.read()
    shutil.copyfile(app, logs / "app.log.1")
    rotate(app, logs / "app.log.2", "b 0")
    rows += tail.read() + tail.settle(10)
    assert per_source(rows) == [["a 0", "a 1", "a 2"], ["b 0"]]


def test_copytruncate_then_rename_before_a_scan(tmp_path: Path, logs: Path) -> None:
    """The copy is claimed by the lineage it holds before rotated siblings are looked at."""
    app = logs / "app.log"
    append(app, "old 0", "old 1", "old 2")
    tail = Tail(tmp_path)
    rows = tail.read()
    append(app, "old 3")
    copytruncate(app, logs / "app.log.1")
    append(app, "mid 0")
    rotate(app, logs / "app.log.2", "new 0")
    rows += tail.scan_read() + tail.settle(10)
    assert per_source(rows) == [["old 0", "old 1", "old 2", "old 3"], ["mid 0"], ["new 0"]]
    assert tail.count("observ_adapter_dropped_entries_total", reason="truncated_unread") == 0


# -- unreadable files -------------------------------------------------------------


def test_unreadable_file_is_reported_once_and_retried(
    tmp_path: Path, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(logs / "locked.log", "secret")
    append(logs / "open.log", "visible")
    real_open = os.open
    denied = str(logs / "locked.log")

    def fake_open(path: str, flags: int, mode: int = 0o777) -> int:
        if path == denied:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", fake_open)
    tail = Tail(tmp_path)
    rows = tail.read()
    rows += tail.scan_read() + tail.scan_read()
    assert texts(rows) == ["visible"]
    assert tail.count("observ_adapter_source_errors_total", reason="permission_denied") == 1
    monkeypatch.setattr(os, "open", real_open)
    assert texts(tail.scan_read()) == ["secret"]


def test_file_vanishing_between_glob_and_open(tmp_path: Path, logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    append(logs / "gone.log", "x")
    real_open = os.open

    def fake_open(path: str, flags: int, mode: int = 0o777) -> int:
        if path.endswith("gone.log"):
            raise FileNotFoundError(2, "No such file or directory", path)
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", fake_open)
    tail = Tail(tmp_path)
    assert tail.read() == [] and tail.scan_read() == []
    assert tail.count("observ_adapter_source_errors_total", reason="vanished") == 1


def test_directories_fifos_and_symlink_loops_matching_the_glob(tmp_path: Path, logs: Path) -> None:
    (logs / "dir.log").mkdir()
    os.mkfifo(logs / "pipe.log")
    os.symlink(logs / "loop.log", logs / "loop.log")
    append(logs / "ok.log", "fine")
    tail = Tail(tmp_path)
    rows = tail.read() + tail.scan_read()
    assert texts(rows) == ["fine"]
    assert tail.count("observ_adapter_source_errors_total", reason="not_regular_file") == 2
    assert tail.count("observ_adapter_source_errors_total", reason="symlink_loop") == 1


# -- the loghub throughput figure ---------------------------------------------------


def test_reads_a_loghub_corpus_intact(tmp_path: Path, logs: Path) -> None:
    corpus = Path("/work/shared/corpora/loghub")
    if not corpus.is_dir():
        pytest.skip("no loghub corpus here")
    data = b"".join(p.read_bytes() for p in sorted(corpus.glob("*_2k.log")))
    (logs / "loghub.log").write_bytes(data)
    tail = Tail(tmp_path, read_chunk_bytes=64 * 1024)
    rows: list[Row] = []
    while more := tail.read(1 << 20):
        rows += more
    tail.clock.tick(6)
    rows += tail.read()
    assert b"\n".join(r[3] for r in rows) == data.replace(b"\r\n", b"\n").rstrip(b"\n")
    assert rows[-1][2] == len(data)
