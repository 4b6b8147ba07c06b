"""Pattern mining speed: observ's Drain port over loghub lines, as `/loki/api/v1/patterns` runs it.

    python bench/patterns.py [--lines 100000] [--best-of 3]

The loghub corpus replayed with shifted numbers (bench/corpus.py), one stream per system, one line per
millisecond; prints lines/s of `observ.patterns.mine` (tokenize, tree, clusters, samples, merge, prune)
and how many patterns came out. No baseline: Loki mines in Go at ingest time, so there is no like-for-like
number to compare with; the figure sizes the API's `max_lines` (a query mines at most that many lines).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from corpus import replay  # noqa: E402

from observ.patterns.mine import MinedLine, mine  # noqa: E402

T0 = 1_795_000_000_000_000_000
MS = 1_000_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--best-of", type=int, default=3)
    args = ap.parse_args()
    streams: dict[str, list[MinedLine]] = {}
    for i, (system, line) in enumerate(replay(args.lines)):
        streams.setdefault(system, []).append(MinedLine(T0 + i * MS, line, "unknown"))
    end = T0 + args.lines * MS
    best = float("inf")
    for _ in range(args.best_of):
        began = time.perf_counter()
        series = mine(streams.values(), T0, end, 60 * 10**9)
        best = min(best, time.perf_counter() - began)
    print(f"{args.lines} lines in {len(streams)} streams: {best:.2f} s, {args.lines / best:,.0f} lines/s")
    print(f"{len(series)} patterns kept; largest: {series[0].total} x {series[0].pattern[:100]!r}")


if __name__ == "__main__":
    main()
