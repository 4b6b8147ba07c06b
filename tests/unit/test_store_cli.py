"""`observ store retention|merge`: the config file's `store:` section applies, a dry run changes nothing, files go."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from observ.cli.datadir import open_stores
from observ.cli.main import app as cli
from observ.store.config import StoreConfig
from tests.unit.test_segments import batch
from tests.unit.traces.helpers import cols, span


def filled(data: Path) -> list[Path]:
    """Three log segments of tenant t1 (ts 1000..1209) and one of t2, two span segments of t1; their files."""
    logs, spans = open_stores(data, create=True)
    logs.config = StoreConfig(segment_min_rows=1)
    for k, tenant in ((0, "t1"), (1, "t1"), (2, "t1"), (0, "t2")):
        logs.append([batch("api", 10, start=k * 100, source=f"s{k}{tenant}", tenant=tenant)])
        logs.compact()
    for t in (1, 2):
        spans.append([cols(span(t, 1, start=t * 1000))])
        spans.compact()
    logs.close()
    spans.close()
    return sorted((data / "segments").iterdir()) + sorted((data / "span-segments").iterdir())


def counts(data: Path) -> tuple[int, int]:
    logs, spans = open_stores(data, create=False)
    try:
        return logs.count(), spans.count()
    finally:
        logs.close()
        spans.close()


def test_retention_follows_the_store_section_per_tenant(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = filled(data)
    config = tmp_path / "serve.yaml"
    # now 1250 ns: t1 keeps 100 ns (cutoff 1150: segments ending 1009 and 1109 go), t2 forever; spans 200 ns
    # (cutoff 1050: the trace ending 1010 goes, the one at 2000 stays)
    config.write_text(
        "store:\n  logs: {retention: {period: 100ns, tenants: {t2: 0}}}\n  spans: {retention: {period: 200ns}}\n"
    )
    args = ["store", "retention", "--data", str(data), "--config", str(config), "--now-ns", "1250"]
    dry = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete" in dry.output and counts(data) == (40, 2)
    assert all(f.exists() for f in files)
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert "deleted" in done.output and "t1" in done.output and "t2" not in done.output
    assert counts(data) == (20, 1)
    assert [f.exists() for f in files] == [False, False, True, True, False, True]


def test_merge_replaces_small_segments_and_removes_their_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = filled(data)
    done = CliRunner().invoke(cli, ["store", "merge", "--data", str(data)])
    assert done.exit_code == 0, done.output
    assert counts(data) == (40, 2)
    left = sorted((data / "segments").iterdir()) + sorted((data / "span-segments").iterdir())
    assert [f.name for f in left] == [
        "seg-000000000004.parquet", "seg-000000000005.parquet", "seg-000000000003.parquet"
    ]  # fmt: skip
    assert [f.exists() for f in files] == [False, False, False, True, False, False]  # t2's lone segment stays


def test_a_bad_store_section_is_one_line_saying_where(tmp_path: Path) -> None:
    data = tmp_path / "data"
    filled(data)
    config = tmp_path / "serve.yaml"
    config.write_text("store:\n  logs: {retention: {period: forever}}\n")
    result = CliRunner().invoke(cli, ["store", "retention", "--data", str(data), "--config", str(config)])
    assert result.exit_code == 1
    assert "store.logs.retention.period" in result.output and "not a duration: 'forever'" in result.output
