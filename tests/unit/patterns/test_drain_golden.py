"""Loki's own pattern tables: each test file of `pkg/pattern/drain/testdata` mined line by line gives exactly the
patterns `TestDrain_TrainExtractsPatterns` expects (drain_test.go; the expected outputs are in testdata/).

The inputs are Loki's log files (AGPL-3.0, not committed here): `scripts/loki_testdata.py`, which the test
command runs, fetches them from the Go module proxy into ~/.cache/observ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from observ.patterns import Drain, detect_format

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

from loki_testdata import DEST as INPUTS  # noqa: E402

CASES = json.loads((Path(__file__).parent / "testdata" / "loki_drain_patterns.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["input"] for c in CASES])
def test_loki_testdata_gives_lokis_patterns(case: dict[str, object]) -> None:
    path = INPUTS / str(case["input"])
    assert path.is_file(), f"Loki's drain test inputs are missing: run `python scripts/loki_testdata.py` ({INPUTS})"
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()  # bufio.Scanner yields no line after the final newline
    assert detect_format(lines[0]) == case["format"]
    drain = Drain()  # as the Go test: format "" -> the punctuation tokenizer, whatever the lines are
    for line in lines:
        drain.train(line, 0)
    patterns = sorted(c.pattern() for c in drain.clusters())
    assert patterns == case["patterns"]
    assert not set(patterns) & set(case["too_many_tokens"])  # type: ignore[arg-type]
