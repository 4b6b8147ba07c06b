"""Log query speed and size: LogQL over the store (hot table + Parquet segments) against hand-written DuckDB SQL over
the same store, against ripgrep over the same lines as a raw text file, and against the same selection counted
without a parser.

    python bench/query.py [--lines 10000000] [--best-of 5] [--rebuild] [--small-lines 4000]

Builds once and caches in bench/.data/query-<lines>/: loghub replayed across 16 services as a structured replay
(bench/corpus.py: five services log JSON, five logfmt, the rest plain text; 30% of the lines traced, the trace ID
also in the line), ingested through LogStore.prepare/write with compaction; the same lines as a raw text file (one
line each, what ripgrep reads) and the same rows exported as NDJSON (the columns of `logs`, for the size
comparison). Then, in one run, with the page cache warm, best of N, per query class: needle, short needle (too
short to prune by), regex, trace ID, count by service, `| json | status >= 500`, `| logfmt`, `| pattern`,
`| json | unwrap` + `quantile_over_time`. Each LogQL row prints its time as a multiple of its class's hand-written
SQL (`LogStore.relation` + SQL, fetched whole: the storage alone, without the LogQL engine), as ripgrep's time over
its own, and for parser queries as a multiple of the same selection counted without a parser, each beside the
issue's target. Last, the median of many quick queries over a small store of a few thousand lines (engine
in-process, no HTTP), and bytes on disk against the NDJSON and raw bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import corpus  # noqa: E402

from observ.logql.engine import Engine  # noqa: E402
from observ.logql.results import QueryResult  # noqa: E402
from observ.model import DecodedBatch  # noqa: E402
from observ.store.config import StoreConfig  # noqa: E402
from observ.store.logstore import LogStore  # noqa: E402
from observ.store.querier import LogQuerier  # noqa: E402
from observ.store.relation import Relation, ScanHints, regex_needles  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 200)
TENANT = "default"
ALL = '{service=~".+"}'
JSON_SEL = '{service=~"' + "|".join(corpus.JSON_SERVICES) + '"}'
LOGFMT_SEL = '{service=~"' + "|".join(corpus.LOGFMT_SERVICES) + '"}'
HDFS_SEL = '{service="hdfs"}'
HDFS_PATTERN = '"<_> <_> <_> <level> <component>: <_>"'
FAR = 2**63 - 1
STEP_NS = 60 * 10**9
LIMIT = 1000
WRITE_ROWS = 100_000
"""Rows per LogStore transaction while building, as the ingester batches them under a backlog."""
SMALL_REPEAT = 15
"""Runs of each query over the small store."""


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

    @property
    def raw(self) -> Path:
        """The lines alone, one a line: what a grep over the applications' own log files reads."""
        return self.root / "rows.log"


def write_batches(store: LogStore, batches: list[DecodedBatch], raw: Path | None) -> None:
    store.write(store.prepare(batches))
    if raw is not None:
        with raw.open("a") as f:
            for b in batches:
                f.write("\n".join(b.line) + "\n")


def build(lines: int, config: StoreConfig, rebuild: bool) -> Built:
    root = ROOT / "bench" / ".data" / f"query-{lines}"
    meta_path = root / "meta.json"
    replay = corpus.Replay(structured=True)
    want = {"lines": lines, "config": config.model_dump(), "traced": replay.traced, "structured": True}
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
        pending: list[DecodedBatch] = []
        pending_rows = 0
        for batches in replay.rounds(lines):
            pending.extend(batches)
            pending_rows += sum(len(b) for b in batches)
            if pending_rows < WRITE_ROWS:
                continue
            write_batches(store, pending, built.raw)
            progress.advance(task, pending_rows)
            pending, pending_rows = [], 0
            result = store.maybe_compact()
            if result:
                compactions += 1
                compact_s += result.seconds
                progress.update(task, note=f"{compactions} compactions, {compact_s:.0f}s")
        if pending:
            write_batches(store, pending, built.raw)
            progress.advance(task, pending_rows)
    ingest_s = time.perf_counter() - t0  # includes appending the raw lines, a few percent
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


# --- query classes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sql:
    """A hand-written query over `LogStore.relation`: `select` from the pruned rows of the range, `where` and
    `tail` (GROUP BY, ORDER BY, LIMIT) around them; `?` placeholders filled from `params` in order."""

    select: str
    where: str = "true"
    params: tuple[object, ...] = ()
    tail: str = ""
    hints: dict[str, object] = dataclasses.field(default_factory=dict)
    """ScanHints fields beyond tenant and time: what the engine would push down."""


@dataclass(frozen=True, slots=True)
class Case:
    """One query class: its LogQL rows and the baselines each is held against."""

    title: str
    logql: tuple[str, ...]
    sql: Sql
    rg: tuple[str, ...] = ()
    """ripgrep's arguments (the raw-lines file is appended); empty: no ripgrep baseline."""
    rg_counts_lines: bool = False
    """Print rg's matching lines counted rather than its own output."""
    unparsed: str = ""
    """The same selection counted without a parser (parser classes only)."""
    rg_target: bool = False
    """The issue holds this class to >= 1x ripgrep."""

    @property
    def parser(self) -> bool:
        return bool(self.unparsed)


def minute(start_ns: int) -> str:
    """The step bucket of a row, as the engine's 1m windows at a 1m step cut the range."""
    return f"(ts - {int(start_ns)}) // {STEP_NS}"


def json_field(name: str) -> str:
    return f"TRY_CAST(json_extract_string(line, '$.{name}') AS DOUBLE)"


def cases(targets: dict[str, str], start_ns: int) -> list[Case]:
    block, instance, trace = targets["needle_block"], targets["needle_instance"], targets["trace_id"]
    short = instance[:9]
    regex = block[:-4] + r"\d{4}"
    newest = f"ORDER BY ts DESC LIMIT {LIMIT}"
    m = minute(start_ns)
    count_json = f"sum by (service) (count_over_time({JSON_SEL}[1m]))"
    json_services = {"services": frozenset(corpus.JSON_SERVICES)}
    logfmt_status = r"regexp_extract(line, '(?:^|\s)status=(\S*)', 1)"
    pattern_level = r"regexp_extract(line, '^(?:\S* ){3}(\S*) .*?: ', 1)"
    return [
        Case(
            f"needle {block}", (f'{ALL} |= "{block}"',),
            Sql("*", "contains(line, ?)", (block,), newest, {"needles": (block,)}), ("-c", "-F", block),
        ),
        Case(
            f"short needle {short} (< 11 bytes: no filter can check it)", (f'{ALL} |= "{short}"',),
            Sql("*", "contains(line, ?)", (short,), newest), ("-c", "-F", short), rg_target=True,
        ),
        Case(
            f"regex {regex}", (f"{ALL} |~ `{regex}`",),
            Sql("*", "regexp_matches(line, ?)", (regex,), newest, {"needles": regex_needles(regex)}),
            ("-c", "-e", regex), rg_target=True,
        ),
        Case(
            f"trace ID {trace}", (f'{ALL} | trace_id="{trace}"', f'{ALL} |= "{trace}"'),
            Sql("*", "trace_id = ?", (trace,), newest, {"trace_ids": frozenset([trace])}), ("-F", trace),
            rg_counts_lines=True,
        ),
        Case(
            "count by service, whole range", (f"sum by (service) (rate({ALL}[1m]))",),
            Sql(f"service, {m}, count(*)", tail="GROUP BY ALL"), ("-c", ""),
        ),
        Case(
            "| json | status >= 500",
            (f"sum by (service) (count_over_time({JSON_SEL} | json | status >= 500 [1m]))",),
            Sql(f"service, {m}, count(*)", f"{json_field('status')} >= 500", tail="GROUP BY ALL", hints=json_services),
            unparsed=count_json,
        ),
        Case(
            "| logfmt",
            (f"sum by (status) (count_over_time({LOGFMT_SEL} | logfmt [1m]))",),
            Sql(
                f"{logfmt_status}, {m}, count(*)", tail="GROUP BY ALL",
                hints={"services": frozenset(corpus.LOGFMT_SERVICES)},
            ),
            unparsed=f"sum by (service) (count_over_time({LOGFMT_SEL}[1m]))",
        ),
        Case(
            "| pattern",
            (f"sum by (level) (count_over_time({HDFS_SEL} | pattern {HDFS_PATTERN} [1m]))",),
            Sql(
                f"{pattern_level}, {m}, count(*)", tail="GROUP BY ALL",
                hints={"services": frozenset(["hdfs"])},
            ),
            unparsed=f"sum(count_over_time({HDFS_SEL}[1m]))",
        ),
        Case(
            "| json | unwrap + quantile_over_time",
            (f"quantile_over_time(0.99, {JSON_SEL} | json | unwrap duration_ms [1m]) by (service)",),
            Sql(
                f"service, {m}, quantile_cont({json_field('duration_ms')}, 0.99)", tail="GROUP BY ALL",
                hints=json_services,
            ),
            unparsed=count_json,
        ),
    ]  # fmt: skip


def service_where(hints: dict[str, object]) -> tuple[str, list[object]]:
    """The service predicate a selector implies (the relation only prunes segments by it)."""
    services = hints.get("services")
    if not isinstance(services, frozenset):
        return "", []
    return f" AND service IN ({', '.join('?' * len(services))})", sorted(services)


class Runner:
    """Runs LogQL and SQL over one store and range; each call returns a closure that answers with a short summary."""

    def __init__(self, store: LogStore, ts_min: int, ts_max: int) -> None:
        """Over every row from ts_min to ts_max: the range ends on a whole step after ts_max, so the engine's 1m
        windows, (t - 1m, t] at each step t from the start, cover the same rows as the SQL's [start, end)."""
        self.store = store
        self.engine = Engine(LogQuerier(store))
        self.start_ns = ts_min
        self.end_ns = ts_min + (ts_max - ts_min) // STEP_NS * STEP_NS + STEP_NS

    @classmethod
    def over(cls, store: LogStore) -> Runner:
        """Over every row of the store."""
        rel = store.relation(ScanHints(TENANT, 0, FAR))
        ts_min, ts_max = store.cursor().execute(f"SELECT min(ts), max(ts) FROM {rel.sql} AS l", rel.params).fetchone()
        return cls(store, ts_min, ts_max)

    def query_range(self, query: str) -> QueryResult:
        return self.engine.query_range(
            query, tenant=TENANT, start_ns=self.start_ns, end_ns=self.end_ns, step_ns=STEP_NS, limit=LIMIT,
            direction="backward",
        )  # fmt: skip

    def sql_rows(self, q: Sql) -> tuple[list[tuple[object, ...]], Relation]:
        rel = self.store.relation(ScanHints(TENANT, self.start_ns, self.end_ns, **q.hints))  # type: ignore[arg-type]
        services, service_params = service_where(q.hints)
        cur = self.store.cursor()
        try:
            rows = cur.execute(
                f"SELECT {q.select} FROM {rel.sql} AS l WHERE tenant = ? AND ts >= ? AND ts < ?{services} "
                f"AND {q.where} {q.tail}",
                [*rel.params, TENANT, self.start_ns, self.end_ns, *service_params, *q.params],
            ).fetchall()
        finally:
            cur.close()
        return rows, rel

    def logql(self, query: str) -> Callable[[], str]:
        def run() -> str:
            res = self.query_range(query)
            data = res.data
            if hasattr(data, "streams"):
                what = f"{sum(len(s.entries) for s in data.streams)} lines"
            else:
                what = f"{len(data.series)} series"
            st = res.stats
            return f"{what}; segments {st.segments_scanned} read, {st.segments_skipped} skipped"

        return run

    def sql(self, q: Sql) -> Callable[[], str]:
        def run() -> str:
            rows, rel = self.sql_rows(q)
            return f"{len(rows)} rows; segments {rel.segments_scanned} read, {rel.segments_skipped} skipped"

        return run


# --- ratios and targets ---------------------------------------------------------------------------------------------


def times(ours: float, baseline: float) -> str:
    """Our time as a multiple of the baseline's (lower is better)."""
    return f"{ours / baseline:.2f}x" if baseline > 0 else "-"


def verdict(met: bool) -> str:
    return "[green]met[/]" if met else "[red]missed[/]"


@dataclass(frozen=True, slots=True)
class Row:
    query: str
    seconds: float
    vs_sql: float
    """Our time / the hand-written SQL's."""
    vs_rg: float | None = None
    """ripgrep's time / ours (>= 1: at least as fast)."""
    vs_unparsed: float | None = None
    """Our time / the same selection counted without a parser's."""
    result: str = ""


def targets_of(case: Case, row: Row) -> str:
    """The issue's targets this row is held to, each with whether this run meets it."""
    out = []
    if case.parser:
        out.append(f"<= 2x SQL {verdict(row.vs_sql <= 2)}")
        if row.vs_unparsed is not None:
            out.append(f"<= 3x unparsed {verdict(row.vs_unparsed <= 3)}")
    if case.rg_target and row.vs_rg is not None:
        out.append(f">= 1x rg {verdict(row.vs_rg >= 1)}")
    return "; ".join(out)


def measure(case: Case, run: Runner, raw: Path, n: int) -> tuple[float, str, float | None, list[Row]]:
    """(SQL seconds, its summary, ripgrep seconds or None, a row per LogQL query) for one class."""

    def timed(fn: Callable[[], str]) -> tuple[float, str]:
        fn()  # warm: the page cache, DuckDB's metadata, the engine's parse cache
        s, out = best_of(n, fn)
        return s, str(out)

    sql_s, sql_out = timed(run.sql(case.sql))
    rg_s = None
    if case.rg:
        make = rg_lines if case.rg_counts_lines else rg
        rg_s, _ = timed(make(*case.rg, str(raw)))
    unparsed_s = timed(run.logql(case.unparsed))[0] if case.unparsed else None
    rows = []
    for q in case.logql:
        s, out = timed(run.logql(q))
        rows.append(
            Row(
                q, s, s / sql_s, vs_rg=None if rg_s is None else rg_s / s,
                vs_unparsed=None if unparsed_s is None else s / unparsed_s, result=out,
            )
        )  # fmt: skip
    return sql_s, sql_out, rg_s, rows


# --- the small store ------------------------------------------------------------------------------------------------


def thin(batches: Iterable[DecodedBatch], every: int) -> list[DecodedBatch]:
    """Every `every`-th entry of each batch: a small store that still holds every service and format."""
    out = []
    for b in batches:
        keep = slice(None, None, every)
        out.append(
            dataclasses.replace(
                b, ts=b.ts[keep], level=b.level[keep], trace_id=b.trace_id[keep], span_id=b.span_id[keep],
                end=b.end[keep], line=b.line[keep],
            )
        )  # fmt: skip
    return [b for b in out if len(b.line)]


def small_store(small_lines: int, folder: Path) -> LogStore:
    """A fresh store in `folder` of about `small_lines` lines: one structured replay round thinned (a minute of
    every service and format), in segments like a compacted store."""
    replay = corpus.Replay(structured=True)
    full = [b for r in replay.rounds(len(corpus.loghub_lines())) for b in r]
    batches = thin(full, max(1, sum(len(b) for b in full) // small_lines))
    folder.mkdir(parents=True)
    store = LogStore(folder / "observ.duckdb", StoreConfig(compact_rows=max(1, small_lines // 4)))
    store.write(store.prepare(batches))
    store.compact()
    return store


def small_store_median(small_lines: int, work: Path) -> tuple[float, float, int, int]:
    """Median and p90 seconds of each class's LogQL queries run SMALL_REPEAT times over `small_store`; and the
    number of queries and lines."""
    store = small_store(small_lines, work / "small")
    try:
        targets = pick_targets(store)
        run = Runner.over(store)
        start = run.start_ns
        queries = [q for c in cases(targets, start) for q in (*c.logql, *([c.unparsed] if c.unparsed else []))]
        samples = []
        with Progress(
            TextColumn("small store"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
            transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("", total=len(queries) * SMALL_REPEAT)
            for q in queries:
                fn = run.logql(q)
                fn()
                for _ in range(SMALL_REPEAT):
                    t = time.perf_counter()
                    fn()
                    samples.append(time.perf_counter() - t)
                    progress.advance(task)
        lines = store.cursor().execute("SELECT count(*) FROM logs").fetchone()[0]
        return statistics.median(samples), statistics.quantiles(samples, n=10)[-1], len(queries), lines
    finally:
        store.close()


# --- the report -----------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--best-of", type=int, default=5)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--compact-rows", type=int, default=StoreConfig().compact_rows)
    ap.add_argument("--small-lines", type=int, default=4000, help="lines in the small store (0: skip it)")
    args = ap.parse_args()
    if not shutil.which("rg"):
        raise SystemExit("ripgrep (rg) not found: apt-get install ripgrep")
    config = StoreConfig(compact_rows=args.compact_rows)
    built = build(args.lines, config, args.rebuild)
    m = built.meta
    store = LogStore(built.db, config)
    run = Runner(store, m["ts_min"], m["ts_max"])
    start = run.start_ns
    n = args.best_of
    table = Table(title=f"log queries: {args.lines:,} loghub lines (structured replay), best of {n}, page cache warm")
    numbers = ("seconds", "time / SQL", "rg / time", "time / unparsed")
    for col in ("query", *numbers, "targets", "result"):
        table.add_column(col, justify="right" if col in numbers else "left")
    all_cases = cases(m, start)
    with Progress(
        TextColumn("{task.fields[what]}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
        transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("", total=len(all_cases), what="")
        for case in all_cases:
            progress.update(task, what=case.title[:40])
            sql_s, sql_out, rg_s, rows = measure(case, run, built.raw, n)
            table.add_section()
            table.add_row(f"[bold]{case.title}[/]")
            table.add_row("  hand-written SQL (baseline)", f"{sql_s:.3f}", "1.00x", "", "", "", sql_out)
            if rg_s is not None:
                rg_name = f"  {shlex.join(['rg', *case.rg])} (raw lines)"
                table.add_row(rg_name, f"{rg_s:.3f}", times(rg_s, sql_s), "1.00x")
            for row in rows:
                table.add_row(
                    f"  {row.query}", f"{row.seconds:.3f}", f"{row.vs_sql:.2f}x",
                    "" if row.vs_rg is None else f"{row.vs_rg:.2f}x",
                    "" if row.vs_unparsed is None else f"{row.vs_unparsed:.2f}x", targets_of(case, row), row.result,
                )  # fmt: skip
            progress.advance(task)
    if args.small_lines:
        with tempfile.TemporaryDirectory(prefix="observ-bench-small-") as work:
            med, p90, queries, lines = small_store_median(args.small_lines, Path(work))
        table.add_section()
        table.add_row(
            f"[bold]small store: {lines:,} lines, {queries} queries x {SMALL_REPEAT} (engine in-process)[/]",
            f"{med:.4f}", "", "", "", f"median <= 10 ms {verdict(med <= 0.010)}", f"median; p90 {p90 * 1000:.1f} ms",
        )  # fmt: skip
    console.print(table)
    seg_bytes, db_bytes = disk_bytes(built)
    nd_bytes = built.ndjson.stat().st_size
    raw_bytes = built.raw.stat().st_size
    hot = store.cursor().execute("SELECT count(*) FROM logs_hot").fetchone()[0]
    filters = sum(len(s.grams.bits) + len(s.traces.fingerprints) for s in store.segments)
    total = seg_bytes + db_bytes
    console.print(
        f"on disk: segments {seg_bytes / 1e6:.1f} MB ({len(store.segments)} files) + DuckDB {db_bytes / 1e6:.1f} MB "
        f"(hot table {hot:,} rows; skip filters {filters / 1e6:.1f} MB) = {total / 1e6:.1f} MB vs NDJSON "
        f"{nd_bytes / 1e6:.1f} MB: [bold]{nd_bytes / total:.1f}x smaller[/] (target >= 8x); raw lines "
        f"{raw_bytes / 1e6:.1f} MB ({raw_bytes / total:.1f}x)"
    )
    console.print(
        f"build: ingest {m['ingest_s']:.0f}s for {args.lines:,} lines ({args.lines / m['ingest_s']:,.0f} lines/s) "
        f"including {m['compactions']} compactions taking {m['compact_s']:.0f}s"
    )
    load1, load5, _ = os.getloadavg()
    console.print(f"load average {load1:.2f} (1 min), {load5:.2f} (5 min) on {os.cpu_count()} cores")
    store.close()


if __name__ == "__main__":
    main()
