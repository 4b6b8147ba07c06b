"""Loki's own pattern tables: each test file of `pkg/pattern/drain/testdata` mined line by line gives exactly the
patterns `TestDrain_TrainExtractsPatterns` expects (drain_test.go; the expected outputs are in testdata/).

The inputs are Loki's log files, kept beside the loghub corpus (`../shared/reference/loki-pattern-drain-testdata`,
copied from grafana/loki at the commit the JSON names) rather than in this repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from observ.patterns import Drain, detect_format

ROOT = Path(__file__).resolve().parents[3]
INPUTS = ROOT.parent / "shared" / "reference" / "loki-pattern-drain-testdata"
CASES = json.loads((Path(__file__).parent / "testdata" / "loki_drain_patterns.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["input"] for c in CASES])
def test_loki_testdata_gives_lokis_patterns(case: dict[str, object]) -> None:
    path = INPUTS / str(case["input"])
    if not path.is_file():
        pytest.skip(f"Loki's drain test inputs are not here ({INPUTS})")
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
