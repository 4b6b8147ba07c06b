"""Check observ's pattern miner against Loki's own: each input file of Loki's `pkg/pattern/drain/testdata`, mined
line by line, must give exactly the patterns `TestDrain_TrainExtractsPatterns` expects (drain_test.go; ported
into drain_vs_loki.json beside this script).

Loki's inputs are its files (AGPL-3.0): not committed, and not fetched by the test suite (the Loki module is not to
be used as a dependency here). This developer check downloads them once from the Go module proxy (the module zip
of github.com/grafana/loki/v3 at LOKI_VERSION) into ~/.cache/observ and compares. Last run: docs/loki-api.md.

    .venv/bin/python scripts/drain_vs_loki.py
"""

from __future__ import annotations

import io
import json
import os
import sys
import urllib.request
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from observ.patterns import Drain, detect_format

LOKI_VERSION = "v3.7.8"
PREFIX = f"github.com/grafana/loki/v3@{LOKI_VERSION}/pkg/pattern/drain/testdata/"
INPUTS = Path.home() / ".cache" / "observ" / f"loki-{LOKI_VERSION}" / "drain-testdata"
CASES = json.loads((Path(__file__).with_suffix(".json")).read_text())["cases"]


def fetch() -> Path:
    if (INPUTS / ".complete").is_file():
        return INPUTS
    proxy = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0].rstrip("/")
    if proxy in ("direct", "off"):
        proxy = "https://proxy.golang.org"
    url = f"{proxy}/github.com/grafana/loki/v3/@v/{LOKI_VERSION}.zip"
    with urllib.request.urlopen(url, timeout=300) as r:
        data = r.read()
    INPUTS.mkdir(parents=True, exist_ok=True)
    wanted = {str(c["input"]) for c in CASES}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith(PREFIX) and name.removeprefix(PREFIX) in wanted:
                (INPUTS / name.removeprefix(PREFIX)).write_bytes(z.read(name))
    (INPUTS / ".complete").write_text(url + "\n")
    return INPUTS


def check(case: dict[str, object]) -> list[str]:
    """What differs from Loki's expectation for one input file (nothing: [])."""
    lines = (INPUTS / str(case["input"])).read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()  # bufio.Scanner yields no line after the final newline
    problems = []
    if detect_format(lines[0]) != case["format"]:
        problems.append(f"format {detect_format(lines[0])!r}, Loki {case['format']!r}")
    drain = Drain()  # as the Go test: format "" -> the punctuation tokenizer, whatever the lines are
    for line in lines:
        drain.train(line, 0)
    patterns = sorted(c.pattern() for c in drain.clusters())
    want = list(case["patterns"])  # type: ignore[call-overload]
    problems += [f"extra: {p}" for p in patterns if p not in want] + [
        f"missing: {p}" for p in want if p not in patterns
    ]
    problems += [f"too many tokens yet kept: {p}" for p in set(patterns) & set(case["too_many_tokens"])]  # type: ignore[arg-type]
    return problems


def main() -> int:
    try:
        fetch()
    except OSError as e:
        print(f"drain_vs_loki: cannot fetch Loki's drain test inputs: {e}", file=sys.stderr)
        return 2
    failed = 0
    for case in CASES:
        problems = check(case)
        failed += bool(problems)
        print(f"{'same as Loki' if not problems else 'DIFFERS':>12}  {case['input']}")
        for p in problems:
            print(f"              {p}")
    print(f"{len(CASES) - failed} of {len(CASES)} of Loki's drain test files give Loki's patterns")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
