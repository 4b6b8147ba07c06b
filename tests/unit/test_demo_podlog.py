"""The demo's container log files: kubelet's path layout, CRI lines, rotation by rename."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from collectors.demo.podlog import PodLog, cri
from collectors.log_adapter.transforms.enrich import labels_from_path

NOON = dt.datetime(2026, 1, 2, 12, 0, 0, 123456, tzinfo=dt.UTC)


def test_lines_are_full_cri_lines_one_per_line_of_text() -> None:
    assert cri(NOON, "stderr", "ERROR boom\n  at x") == (
        "2026-01-02T12:00:00.123456000Z stderr F ERROR boom\n2026-01-02T12:00:00.123456000Z stderr F   at x\n"
    )


def test_the_path_carries_the_labels_the_sidecar_reads(tmp_path: Path) -> None:
    log = PodLog(tmp_path, "demo", "payments-1a2b3", uuid.UUID(int=5), "payments", 1 << 20)
    log.write("stdout", '{"msg":"hi"}', NOON)
    assert log.path.is_file() and log.lines_written == 1
    assert labels_from_path(str(log.path)) == {"namespace": "demo", "pod": "payments-1a2b3", "container": "payments"}
    assert Path(PodLog.glob(tmp_path)).parent.parent.parent == tmp_path / "var/log/pods"


def test_a_full_file_is_renamed_and_writing_goes_on_in_a_new_one(tmp_path: Path) -> None:
    log = PodLog(tmp_path, "demo", "inventory-0", uuid.UUID(int=6), "inventory", 200)
    for i in range(12):  # about five lines a file, rotated faster than the clock's second ticks
        log.write("stdout", f'{{"n":{i}}}', NOON)
    rotated = sorted(log.path.parent.glob("0.log.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    assert len(rotated) == log.rotations == 2 and log.path.exists()
    lines = [line for p in [*rotated, log.path] for line in p.read_text().splitlines()]
    assert [line.rsplit(" ", 1)[1] for line in lines] == [f'{{"n":{i}}}' for i in range(12)]
    assert all(p.stat().st_size >= 200 for p in rotated) and log.lines_written == 12
