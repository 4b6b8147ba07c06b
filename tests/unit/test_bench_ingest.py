"""bench/ingest.py: the sidecar's clock waits for as many entries as the sidecar makes of the file, so a stack
trace's continuation lines (merged into the entry above) do not leave it waiting forever, and the last batch is not
left out."""

from __future__ import annotations

from pathlib import Path

from tests.unit.bench_modules import load_bench


def test_expected_entries_counts_the_lines_that_open_an_entry(tmp_path: Path) -> None:
    bench = load_bench("ingest")
    stamp = "2026-12-03T08:00:00.000000000Z stdout F"
    lines = [
        "081109 203615 148 INFO dfs.DataNode: PacketResponder 1 terminating",
        "java.lang.IllegalStateException: boom",
        "\tat org.example.Main.run(Main.java:10)",
        "Caused by: java.io.IOException: closed",
        "   ... 3 more",
        '{"level":"error","msg":"next entry"}',
        "level=info msg=last",
    ]
    raw = tmp_path / "0.log"
    raw.write_text("".join(f"{stamp} {line}\n" for line in lines))
    assert bench.expected_entries(raw) == 3
