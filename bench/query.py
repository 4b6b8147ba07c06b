"""Log query speed and size: the store (hot table + Parquet segments) against ripgrep over the same rows as NDJSON.

    python bench/query.py [--lines 10000000] [--best-of 5] [--rebuild]

Builds once and caches in bench/.data/query-<lines>/: loghub replayed across 16 services (30% of the
lines traced, the trace ID also in the line), ingested through LogStore.prepare/write with compaction,
and the same rows exported as NDJSON (the columns of `logs`, one object per line). Then, in one run,
with the page cache warm, best of N:
  1. rare needles: `rg -c -F` against `{service=~".+"} |= "<needle>"` (and one too short to prune by);
  2. a regex filter `|~` against `rg -c -e`;
  3. `sum by (service) (rate({service=~".+"}[1m]))` over the whole range against `rg -c` of a token
     every line has (`"service":`), i.e. ripgrep counting lines;
  4. a trace ID: `| trace_id="<id>"` and `|= "<id>"` against `rg -F <id>`;
and bytes on disk (segments + DuckDB file) against the NDJSON bytes. Rows "relation + SQL" time the
storage alone (hand-written SQL over `LogStore.relation`), without the LogQL engine.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import corpus  # noqa: E402

from observ.logql.engine import Engine  # noqa: E402
from observ.store.config import StoreConfig  # noqa: E402
from observ.store.logstore import LogStore  # noqa: E402
from observ.store.relation import ScanHints, regex_needles  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 200)
TENANT = "default"
ALL = '{service=~".+"}'
FAR = 2**63 - 1
WRITE_ROWS = 100_000
"""Rows per LogStore transaction while building, as the ingester batches them under a backlog."""


@dataclass(frozen=True, slots=True)
class Built:
    root: Path
    meta: dict

    @property
    def db(self) -> Path:
        return self.root / "store" / "observ.duckdb"

    @property
    def ndjson(self) -> Path:
        return self.root / "rows.ndjson"


def build(lines: int, config: StoreConfig, rebuild: bool) -> Built:
    root = ROOT / "bench" / ".data" / f"query-{lines}"
    meta_path = root / "meta.json"
    want = {"lines": lines, "config": config.model_dump(), "traced": corpus.Replay().traced}
    if meta_path.exists() and not rebuild:
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in want} == want:
            return Built(root, meta)
    shutil.rmtree(root, ignore_errors=True)
    (root / "store").mkdir(parents=True)
    built = Built(root, dict(want))
    store = LogStore(built.db, config)
    compactions = 0
    compact_s = 0.0
    t0 = time.perf_counter()
    with Progress(
        TextColumn("ingest + compact"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"), console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("", total=lines, note="")
        pending: list = []
        pending_rows = 0
        for batches in corpus.Replay().rounds(lines):
            pending.extend(batches)
            pending_rows += sum(len(b) for b in batches)
            if pending_rows < WRITE_ROWS:
                continue
            store.write(store.prepare(pending))
            progress.advance(task, pending_rows)
            pending, pending_rows = [], 0
            result = store.maybe_compact()
            if result:
                compactions += 1
                compact_s += result.seconds
                progress.update(task, note=f"{compactions} compactions, {compact_s:.0f}s")
        if pending:
            store.write(store.prepare(pending))
            progress.advance(task, pending_rows)
    ingest_s = time.perf_counter() - t0
    cur = store.cursor()
    cur.execute("CHECKPOINT")
    with console.status("exporting the same rows as NDJSON…"):
        rel = store.relation(ScanHints(TENANT, 0, FAR))
        cur.execute(f"COPY (SELECT * FROM {rel.sql} AS l ORDER BY ts) TO '{built.ndjson}' (FORMAT json)", rel.params)
        ts_min, ts_max = cur.execute(f"SELECT min(ts), max(ts) FROM {rel.sql} AS l", rel.params).fetchone()
    built.meta.update(
        ingest_s=ingest_s, compactions=compactions, compact_s=compact_s, ts_min=ts_min, ts_max=ts_max,
        **pick_targets(store),
    )  # fmt: skip
    store.close()
    (root / "meta.json").write_text(json.dumps(built.meta, indent=1))
    return built


def pick_targets(store: LogStore) -> dict[str, str]:
    """Needles a user would search for, taken from the middle of the data (deterministic)."""
    cur = store.cursor()
    rel = store.relation(ScanHints(TENANT, 0, FAR))
    mid = cur.execute(f"SELECT median(ts)::BIGINT FROM {rel.sql} AS l", rel.params).fetchone()[0]

    def line_of(service: str, pattern: str) -> str:
        row = cur.execute(
            f"SELECT line FROM {rel.sql} AS l WHERE service = ? AND ts >= ? AND regexp_matches(line, ?) "
            "ORDER BY ts LIMIT 1",
            [*rel.params, service, mid, pattern],
        ).fetchone()
        return row[0]

    block = re.search(r"blk_-?\d+", line_of("hdfs", r"blk_-?\d+")).group()
    instance = re.search(r"instance: ([0-9a-f-]{36})", line_of("openstack", r"instance: [0-9a-f-]{36}")).group(1)
    trace = cur.execute(
        f"SELECT trace_id FROM {rel.sql} AS l WHERE trace_id <> '' AND ts >= ? ORDER BY ts LIMIT 1", [*rel.params, mid]
    ).fetchone()[0]
    return {"needle_block": block, "needle_instance": instance, "trace_id": trace}


def best_of(n: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def rg(*args: str) -> Callable[[], str]:
    def run() -> str:
        p = subprocess.run(["rg", *args], capture_output=True, check=False)
        return p.stdout.decode().strip()

    return run


def rg_lines(*args: str) -> Callable[[], str]:
    def run() -> str:
        p = subprocess.run(["rg", *args], capture_output=True, check=False)
        return f"{len(p.stdout.splitlines())} lines"

    return run


def disk_bytes(built: Built) -> tuple[int, int]:
    seg = sum(f.stat().st_size for f in (built.root / "store" / "segments").glob("*.parquet"))
    db = sum(f.stat().st_size for f in (built.root / "store").glob("observ.duckdb*"))
    return seg, db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--best-of", type=int, default=5)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--compact-rows", type=int, default=StoreConfig().compact_rows)
    args = ap.parse_args()
    if not shutil.which("rg"):
        raise SystemExit("ripgrep (rg) not found: apt-get install ripgrep")
    built = build(args.lines, StoreConfig(compact_rows=args.compact_rows), args.rebuild)
    m = built.meta
    nd = str(built.ndjson)
    store = LogStore(built.db, StoreConfig(compact_rows=args.compact_rows))
    engine = Engine(store)
    start, end = m["ts_min"], m["ts_max"] + 1
    step = 60 * 10**9
    n = args.best_of

    def logql(query: str, limit: int = 1000) -> Callable[[], str]:
        def run() -> str:
            res = engine.query_range(
                query, tenant=TENANT, start_ns=start, end_ns=end, step_ns=step, limit=limit, direction="backward"
            )
            data = res.data
            if hasattr(data, "streams"):
                found = sum(len(s.entries) for s in data.streams)
                what = f"{found} lines"
            else:
                what = f"{len(data.series)} series"
            st = res.stats
            return f"{what}; segments {st.segments_scanned} read, {st.segments_skipped} skipped"

        return run

    def sql(select: str, where: str, params: list[object], hints: ScanHints) -> Callable[[], str]:
        """Storage alone: `select` over the pruned relation, fetched whole."""

        def run() -> str:
            rel = store.relation(hints)
            cur = store.cursor()
            rows = cur.execute(
                f"SELECT {select} FROM {rel.sql} AS l WHERE tenant = ? AND ts >= ? AND ts < ? AND {where}",
                [*rel.params, TENANT, start, end, *params],
            ).fetchall()
            cur.close()
            return f"{len(rows)} rows; segments {rel.segments_scanned} read, {rel.segments_skipped} skipped"

        return run

    def hinted(**kw: object) -> ScanHints:
        return ScanHints(TENANT, start, end, **kw)  # type: ignore[arg-type]

    block, instance, trace = m["needle_block"], m["needle_instance"], m["trace_id"]
    one_trace = frozenset([trace])
    regex = block[:-4] + r"\d{4}"
    short = instance[:9]
    per_minute = "service, ts // 60000000000 AS minute, count(*) AS n"
    Case = tuple[str, str, Callable[[], str], list[tuple[str, Callable[[], str]]]]
    cases: list[Case] = [
        (
            f"1. rare needle {block}", f"rg -c -F {block}", rg("-c", "-F", block, nd),
            [
                (f'{ALL} |= "{block}"', logql(f'{ALL} |= "{block}"')),
                ("relation + SQL contains(line, ?)", sql("*", "contains(line, ?)", [block], hinted(needles=(block,)))),
            ],
        ),
        (
            f"1. rare needle {instance}", f"rg -c -F {instance}", rg("-c", "-F", instance, nd),
            [(f'{ALL} |= "{instance}"', logql(f'{ALL} |= "{instance}"'))],
        ),
        (
            f"1. short needle {short} (< 11 bytes: no filter can check it)", f"rg -c -F {short}",
            rg("-c", "-F", short, nd),
            [(f'{ALL} |= "{short}"', logql(f'{ALL} |= "{short}"'))],
        ),
        (
            f"2. regex {regex}", f"rg -c -e {regex}", rg("-c", "-e", regex, nd),
            [
                (f"{ALL} |~ `{regex}`", logql(f"{ALL} |~ `{regex}`")),
                (
                    "relation + SQL regexp_matches, needles from regex_needles()",
                    sql("*", "regexp_matches(line, ?)", [regex], hinted(needles=regex_needles(regex))),
                ),
            ],
        ),
        (
            "3. rate by service, whole range", "rg -c -F '\"service\":' (counts every line)",
            rg("-c", "-F", '"service":', nd),
            [
                (f"sum by (service) (rate({ALL}[1m]))", logql(f"sum by (service) (rate({ALL}[1m]))")),
                ("relation + SQL count(*) by service, minute", sql(per_minute, "true GROUP BY ALL", [], hinted())),
            ],
        ),
        (
            f"4. trace ID {trace}", f"rg -F {trace}", rg_lines("-F", trace, nd),
            [
                (f'{ALL} | trace_id="{trace}"', logql(f'{ALL} | trace_id="{trace}"')),
                (f'{ALL} |= "{trace}"', logql(f'{ALL} |= "{trace}"')),
                ("relation + SQL trace_id = ?", sql("*", "trace_id = ?", [trace], hinted(trace_ids=one_trace))),
                ("relation + SQL contains(line, ?)", sql("*", "contains(line, ?)", [trace], hinted(needles=(trace,)))),
            ],
        ),
    ]  # fmt: skip
    table = Table(title=f"log queries: {args.lines:,} loghub lines, best of {n}, page cache warm")
    table.add_column("query")
    table.add_column("seconds", justify="right")
    table.add_column("vs ripgrep", justify="right")
    table.add_column("result (engine: segments summed over its time windows)")
    for title, base_name, base_fn, ours in cases:
        with console.status(f"{title}…"):
            base_fn()
            base_s, base_out = best_of(n, base_fn)
            table.add_section()
            table.add_row(f"[bold]{title}[/]")
            table.add_row(f"  {base_name} (baseline)", f"{base_s:.3f}", "1.00x", str(base_out))
            for name, fn in ours:
                fn()
                s, out = best_of(n, fn)
                table.add_row(f"  {name}", f"{s:.3f}", f"{base_s / s:.2f}x faster", str(out))
    console.print(table)
    seg_bytes, db_bytes = disk_bytes(built)
    nd_bytes = built.ndjson.stat().st_size
    hot = store.cursor().execute("SELECT count(*) FROM logs_hot").fetchone()[0]
    filters = sum(len(s.grams.bits) + len(s.traces.fingerprints) for s in store.segments)
    total = seg_bytes + db_bytes
    console.print(
        f"on disk: segments {seg_bytes / 1e6:.1f} MB ({len(store.segments)} files) + DuckDB {db_bytes / 1e6:.1f} MB "
        f"(hot table {hot:,} rows; skip filters {filters / 1e6:.1f} MB) = {total / 1e6:.1f} MB vs NDJSON "
        f"{nd_bytes / 1e6:.1f} MB: [bold]{nd_bytes / total:.1f}x smaller[/] (target >= 8x)"
    )
    console.print(
        f"build: ingest {m['ingest_s']:.0f}s for {args.lines:,} lines ({args.lines / m['ingest_s']:,.0f} lines/s) "
        f"including {m['compactions']} compactions taking {m['compact_s']:.0f}s"
    )
    store.close()


if __name__ == "__main__":
    main()
