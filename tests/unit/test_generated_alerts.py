"""Committed alerts/generated/ is what `observ slo generate alerts/services.yaml` writes; promtool accepts it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from observ.slo.generate import generate
from observ.slo.load import load_definitions

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "alerts" / "generated"


def test_committed_files_are_up_to_date() -> None:
    files = generate(load_definitions(ROOT / "alerts" / "services.yaml"))
    stale = [f.path for f in files if (GENERATED / f.path).read_text(encoding="utf-8") != f.content]
    assert not stale, f"run: observ slo generate alerts/services.yaml -o alerts/generated  (stale: {stale})"


def test_promtool_lints_and_tests_every_committed_file() -> None:
    rules = sorted(p.name for p in GENERATED.glob("*.rules.yml"))
    tests = sorted(p.name for p in GENERATED.glob("*.test.yml"))
    assert rules and len(rules) == len(tests)
    lint = subprocess.run(
        ["promtool", "check", "rules", "--lint=all", "--lint-fatal", *rules],
        cwd=GENERATED,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # One promtool per file, in parallel: each replays days of history.
    procs = [
        subprocess.Popen(["promtool", "test", "rules", t], cwd=GENERATED, stdout=subprocess.PIPE, text=True)
        for t in tests
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out
