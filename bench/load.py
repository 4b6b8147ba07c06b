"""Queries against ingestion: pushing 5k lines/s into a real `observ serve`, alone and while 8 clients query it.

    python bench/load.py [--rate 5000] [--seconds 60] [--clients 8] [--pushers 4] [--quick]

Starts `observ serve` on a free loopback port with a fresh data folder, then, over its real HTTP API:
  1. pushes loghub lines (bench/corpus.py's structured replay: JSON, logfmt and plain services, trace IDs as
     structured metadata) for --seconds at --rate lines/s through the Loki push API, in 1000-line JSON batches
     stamped when sent, from --pushers concurrent pushers each sending the next batch when it is due;
  2. pushes the same for the same time again while --clients query clients each run, one after the other, a mix of
     log and metric LogQL queries over the last 15 minutes (`query_range`, Loki's default step).
Prints the push rate achieved in each phase and its ratio (target >= 0.9x: queries do not slow ingestion), push
latency p50/p99, query latency p50/p99 and errors per query class, the server's CPU, and the load average and cores.
--quick runs each phase for 10 s.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import orjson
import psutil
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import corpus  # noqa: E402
from server import serve  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 160)
TENANT = "default"
BATCH_LINES = 1000
WINDOW_NS = 15 * 60 * 10**9
"""Queries look at the last 15 minutes, as a dashboard does."""
JSON_SEL = '{service=~"' + "|".join(corpus.JSON_SERVICES) + '"}'
LOGFMT_SEL = '{service=~"' + "|".join(corpus.LOGFMT_SERVICES) + '"}'
QUERIES: dict[str, str] = {
    "log: needle": '{service=~".+"} |= "error"',
    "log: | json | status >= 500": f"{JSON_SEL} | json | status >= 500",
    "metric: count by service": 'sum by (service) (count_over_time({service=~".+"}[1m]))',
    "metric: | json | status >= 500": f"sum by (service) (rate({JSON_SEL} | json | status >= 500 [1m]))",
    "metric: | logfmt": f"sum by (status) (count_over_time({LOGFMT_SEL} | logfmt [1m]))",
    "metric: unwrap + quantile": f"quantile_over_time(0.99, {JSON_SEL} | json | unwrap duration_ms [1m]) by (service)",
}
"""Query classes, log and metric: what a dashboard over the services and an operator's search run."""


# --- pacing ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """When each batch of a phase is due: together the batches keep `rate` lines/s for `seconds`."""

    rate: float
    seconds: float
    batch_lines: int = BATCH_LINES

    @property
    def batches(self) -> int:
        return max(1, round(self.rate * self.seconds / self.batch_lines))

    def due(self, k: int) -> float:
        """Seconds after the phase's start at which batch k is sent."""
        return k * self.batch_lines / self.rate


@dataclass(slots=True)
class PushResult:
    """What the pushers of one phase did; `rate` counts the time until the last answer, so a server that falls
    behind the schedule shows as a lower rate, not as a full one."""

    planned_s: float
    lines: int = 0
    errors: int = 0
    last_answer_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""

    @property
    def elapsed_s(self) -> float:
        return max(self.planned_s, self.last_answer_s)

    @property
    def rate(self) -> float:
        return self.lines / self.elapsed_s


def percentiles(values: list[float], *qs: float) -> list[float]:
    """The `qs` percentiles of `values` (NaN when there are none)."""
    if not values:
        return [float("nan")] * len(qs)
    return [float(v) for v in np.percentile(values, qs)]


# --- the workload ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """1000 lines as push streams: (labels, [(line, trace ID)]), stamped when sent."""

    streams: list[tuple[dict[str, str], list[tuple[str, str]]]]

    def body(self, now_ns: int) -> bytes:
        streams = []
        i = 0
        for labels, rows in self.streams:
            values: list[list[object]] = []
            for line, trace in rows:
                ts = str(now_ns + i)
                values.append([ts, line, {"trace_id": trace}] if trace else [ts, line])
                i += 1
            streams.append({"stream": labels, "values": values})
        return orjson.dumps({"streams": streams})


def workload(lines: int) -> list[Batch]:
    """`lines` replayed lines in time order (services interleaved as they log), cut into BATCH_LINES batches."""
    rows: list[tuple[int, dict[str, str], str, str]] = []
    for batches in corpus.Replay(structured=True).rounds(max(lines, len(corpus.loghub_lines()))):
        for b in batches:
            s = b.stream
            labels = {"service": s.service, "namespace": s.namespace, "pod": s.pod, "container": s.container,
                      **dict(s.labels)}  # fmt: skip
            rows.extend(zip(b.ts, itertools.repeat(labels), b.line, b.trace_id, strict=False))
    rows.sort(key=lambda r: r[0])
    out = []
    for start in range(0, lines, BATCH_LINES):
        by_stream: dict[str, tuple[dict[str, str], list[tuple[str, str]]]] = {}
        for _, labels, line, trace in rows[start : start + BATCH_LINES]:
            by_stream.setdefault(labels["pod"], (labels, []))[1].append((line, trace))
        out.append(Batch(list(by_stream.values())))
    return out


# --- the server -----------------------------------------------------------------------------------------------------


# --- the phases -----------------------------------------------------------------------------------------------------


def push(url: str, batches: list[Batch], schedule: Schedule, pushers: int, t0: float) -> PushResult:
    """Send batch k at t0 + schedule.due(k) (or as soon as a pusher is free, when behind) from `pushers` threads."""
    result = PushResult(schedule.seconds)
    lock = threading.Lock()
    counter = itertools.count()
    headers = {"Content-Type": "application/json", "X-Scope-OrgID": TENANT}

    def pusher() -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            while (k := next(counter)) < schedule.batches:
                wait = t0 + schedule.due(k) - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                sent = time.perf_counter()
                try:
                    answer = client.post("/loki/api/v1/push", content=batches[k % len(batches)].body(time.time_ns()),
                                         headers=headers)  # fmt: skip
                    problem = "" if answer.status_code == 204 else f"{answer.status_code}: {answer.text[:200]}"
                except httpx.HTTPError as e:
                    problem = repr(e)
                done = time.perf_counter()
                with lock:
                    result.latencies.append(done - sent)
                    result.last_answer_s = max(result.last_answer_s, done - t0)
                    if problem:
                        result.errors += 1
                        result.first_error = result.first_error or problem
                    else:
                        result.lines += BATCH_LINES

    threads = [threading.Thread(target=pusher, daemon=True) for _ in range(pushers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result


@dataclass(slots=True)
class QueryStats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""


def query_clients(
    url: str, clients: int, stop: threading.Event
) -> tuple[dict[str, QueryStats], list[threading.Thread]]:
    """Start `clients` threads, each running the query classes in turn (from its own offset) until `stop`."""
    stats = {name: QueryStats() for name in QUERIES}
    names = list(QUERIES)
    lock = threading.Lock()

    def client(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=120, headers={"X-Scope-OrgID": TENANT}) as http:
            for i in itertools.count(offset):
                if stop.is_set():
                    return
                name = names[i % len(names)]
                end = time.time_ns()
                params = {"query": QUERIES[name], "start": str(end - WINDOW_NS), "end": str(end), "limit": "1000"}
                t = time.perf_counter()
                try:
                    answer = http.get("/loki/api/v1/query_range", params=params)
                    problem = "" if answer.status_code == 200 else f"{answer.status_code}: {answer.text[:200]}"
                except httpx.HTTPError as e:
                    problem = repr(e)
                took = time.perf_counter() - t
                with lock:
                    st = stats[name]
                    st.latencies.append(took)
                    if problem:
                        st.errors += 1
                        st.first_error = st.first_error or problem

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    return stats, threads


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    push: PushResult
    cpu_s: float
    """The server's CPU seconds (user + system) during the phase."""
    load1: float
    queries: dict[str, QueryStats] = field(default_factory=dict)


def run_phase(
    name: str, url: str, server: psutil.Process, batches: list[Batch], schedule: Schedule, pushers: int, clients: int
) -> Phase:
    """Push for the schedule's time (with `clients` querying meanwhile, if any), showing progress."""
    cpu0 = sum(server.cpu_times()[:2])
    stop = threading.Event()
    stats, threads = query_clients(url, clients, stop) if clients else ({}, [])
    t0 = time.perf_counter()
    box: list[PushResult] = []
    pushing = threading.Thread(target=lambda: box.append(push(url, batches, schedule, pushers, t0)), daemon=True)
    pushing.start()
    with Progress(
        TextColumn(name), BarColumn(), TimeElapsedColumn(), TextColumn("{task.fields[note]}"), console=console,
        transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("", total=schedule.seconds, note="")
        while pushing.is_alive():
            pushing.join(0.25)
            done = sum(len(s.latencies) for s in stats.values())
            progress.update(task, completed=min(time.perf_counter() - t0, schedule.seconds),
                            note=f"{done} queries answered" if clients else "")  # fmt: skip
    stop.set()
    for t in threads:
        t.join()
    return Phase(name, box[0], sum(server.cpu_times()[:2]) - cpu0, os.getloadavg()[0], stats)


# --- the report -----------------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:,.0f}"


def report(alone: Phase, loaded: Phase, schedule: Schedule, clients: int, pushers: int) -> None:
    t = Table(
        title=f"push {schedule.rate:,.0f} lines/s for {schedule.seconds:.0f} s ({BATCH_LINES}-line JSON batches, "
        f"{pushers} pushers) into observ serve, alone and under {clients} query clients"
    )
    for col in ("phase", "lines/s", "vs alone", "push p50 ms", "push p99 ms", "errors", "server CPU", "load 1m"):
        t.add_column(col, justify="left" if col == "phase" else "right")
    for p in (alone, loaded):
        p50, p99 = percentiles(p.push.latencies, 50, 99)
        ratio = p.push.rate / alone.push.rate
        vs = "1.00x" if p is alone else f"{ratio:.2f}x " + ("[green]met[/]" if ratio >= 0.9 else "[red]missed[/]")
        t.add_row(
            p.name, f"{p.push.rate:,.0f}", vs, ms(p50), ms(p99), str(p.push.errors),
            f"{p.cpu_s / p.push.elapsed_s:.2f} cores", f"{p.load1:.2f}",
        )  # fmt: skip
    console.print(t)
    console.print("target: under query load >= 0.9x the rate pushed alone")
    q = Table(title=f"{clients} query clients over the last 15 minutes, while pushing")
    for col in ("query class", "queries", "errors", "p50 ms", "p99 ms", "max ms", "query"):
        q.add_column(col, justify="left" if col in ("query class", "query") else "right")
    for name, st in loaded.queries.items():
        p50, p99, top = percentiles(st.latencies, 50, 99, 100)
        q.add_row(name, str(len(st.latencies)), str(st.errors), ms(p50), ms(p99), ms(top), QUERIES[name])
    console.print(q)
    for p in (alone, loaded):
        if p.push.first_error:
            console.print(f"[red]{p.name}: first push error[/] {p.push.first_error}")
    for name, st in loaded.queries.items():
        if st.first_error:
            console.print(f"[red]{name}: first error[/] {st.first_error}")
    load1, load5, load15 = os.getloadavg()
    console.print(f"load average {load1:.2f} / {load5:.2f} / {load15:.2f} (1/5/15 min) on {os.cpu_count()} cores")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=5000, help="lines/s pushed in each phase")
    ap.add_argument("--seconds", type=float, default=60, help="length of each phase")
    ap.add_argument("--clients", type=int, default=8, help="query clients in the second phase")
    ap.add_argument("--pushers", type=int, default=4, help="concurrent pushers")
    ap.add_argument("--quick", action="store_true", help="10 s phases: a smoke run")
    ap.add_argument("--data", type=Path, help="work folder (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    schedule = Schedule(args.rate, 10 if args.quick else args.seconds)
    work = args.data or Path(tempfile.mkdtemp(prefix="observ-bench-load-"))
    try:
        with console.status("replaying loghub into push batches…"):
            batches = workload(schedule.batches * BATCH_LINES)
        with serve(work / "data") as (url, server):
            alone = run_phase("push alone", url, server, batches, schedule, args.pushers, 0)
            loaded = run_phase(
                f"push + {args.clients} query clients", url, server, batches, schedule, args.pushers, args.clients
            )
        report(alone, loaded, schedule, args.clients, args.pushers)
    finally:
        if args.data is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
