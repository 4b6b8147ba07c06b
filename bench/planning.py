"""Query cost against the number of segment files: does planning grow with the catalog?

    python bench/planning.py [--segments 50 400 2000] [--best-of 20]

For each count, builds a store of that many one-minute segments (four services in turn, 100 lines each, every line
traced, most of them cut by one compaction), then times through the LogQL engine, in-process, best of N: a needle query
over 15 minutes in the middle of the store, and a trace-ID query over the whole store (`| trace_id="..."`). Each
query's time is printed beside the same query's time over the smallest store, as a ratio: flat planning keeps it
near 1.00x. The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from observ.logql.engine import Engine  # noqa: E402
from observ.logql.results import Streams  # noqa: E402
from observ.model import DecodedBatch, Stream  # noqa: E402
from observ.store.config import StoreConfig  # noqa: E402
from observ.store.logstore import LogStore  # noqa: E402
from observ.store.querier import LogQuerier  # noqa: E402
from observ.store.relation import TAIL_CHANGES  # noqa: E402

MINUTE = 60 * 10**9
T0 = 1_700_000_000 * 10**9
SERVICES = ("api", "db", "web", "auth")
LINES = 100


def trace_of(segment: int, i: int) -> str:
    return f"{segment:016x}{i:016x}"


def segment_batch(k: int) -> DecodedBatch:
    """Segment k's lines: one minute of one service, each line naming its segment and row."""
    base = T0 + k * MINUTE
    return DecodedBatch(
        stream=Stream(tenant="default", service=SERVICES[k % len(SERVICES)]),
        source="",
        observed_ts=0,
        ts=[base + i * (MINUTE // LINES) for i in range(LINES)],
        level=["info"] * LINES,
        trace_id=[trace_of(k, i) for i in range(LINES)],
        span_id=[""] * LINES,
        end=[0] * LINES,
        line=[f"request {k:06d}-{i:03d} served trace={trace_of(k, i)}" for i in range(LINES)],
    )


def build(segments: int, folder: Path) -> LogStore:
    """One compaction cutting each service's rows into `LINES`-row segments (a minute each, contiguous in time), then
    the newest TAIL_CHANGES segments one compaction each, as a store compacting as it ingests would have them: a
    relation also binds the files of the last TAIL_CHANGES compactions (relation.py)."""
    store = LogStore(folder / "observ.duckdb", StoreConfig(segment_min_rows=1, segment_max_rows=LINES))
    bulk = max(0, segments - TAIL_CHANGES)
    store.write(store.prepare([segment_batch(k) for k in range(bulk)]))
    store.compact()
    for k in range(bulk, segments):
        store.write(store.prepare([segment_batch(k)]))
        store.compact()
    if len(store.segments) != segments:
        raise SystemExit(f"{len(store.segments)} segments built, expected {segments}")
    return store


def best_of(n: int, fn: Callable[[], object]) -> float:
    fn()
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def queries(store: LogStore, segments: int) -> dict[str, Callable[[], object]]:
    engine = Engine(LogQuerier(store))
    mid = segments // 2
    needle = f"request {mid + 3:06d}-042"
    trace = trace_of(mid + 1, 7)
    start, end = T0 + mid * MINUTE, T0 + (mid + 15) * MINUTE
    whole = T0 + (segments + 1) * MINUTE

    def run(query: str, lo: int, hi: int, want: int) -> Callable[[], object]:
        def go() -> object:
            res = engine.query_range(query, tenant="default", start_ns=lo, end_ns=hi, step_ns=MINUTE, limit=100,
                                     direction="backward")  # fmt: skip
            data = res.data
            got = sum(len(s.entries) for s in data.streams) if isinstance(data, Streams) else -1
            if got != want:
                raise SystemExit(f"{query}: {got} lines, expected {want}")
            return got

        return go

    return {
        "needle, 15 min": run(f'{{service=~".+"}} |= "{needle}"', start, end, 1),
        "trace ID, whole store": run(f'{{service=~".+"}} | trace_id="{trace}"', T0, whole, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=int, nargs="+", default=[50, 400, 2000])
    ap.add_argument("--best-of", type=int, default=20)
    args = ap.parse_args()
    first: dict[str, float] = {}
    for n in sorted(args.segments):
        with tempfile.TemporaryDirectory(prefix="observ-bench-planning-") as work:
            t = time.perf_counter()
            store = build(n, Path(work))
            built = time.perf_counter() - t
            try:
                for name, fn in queries(store, n).items():
                    s = best_of(args.best_of, fn)
                    first.setdefault(name, s)
                    ratio = s / first[name]
                    print(f"{n:>6} segments  {name:<22} {s * 1000:8.2f} ms  {ratio:5.2f}x  (built in {built:.0f}s)")
            finally:
                store.close()
    load1, load5, _ = os.getloadavg()
    print(f"load average {load1:.2f} (1 min), {load5:.2f} (5 min) on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
