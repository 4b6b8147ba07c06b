"""Ingest throughput: the sidecar against kcat, the ingester against DuckDB's own read_json.

    python bench/ingest.py [--lines 1000000] [--bootstrap HOST:PORT]

Starts a real Kafka broker (scripts/kafka_broker.py) unless --bootstrap is given,
replays the loghub corpus into a CRI file of --lines lines, then measures in one run:
  1. `kcat -P -l` producing the file, one message per line (the baseline);
  2. the sidecar (`python -m collectors.log_adapter`, CRI parsing, labels, batching, zstd, acks)
     shipping the same file, with its peak RSS;
  3. the ingester consuming the sidecar's topic into a fresh DuckDB (exactly-once bookkeeping included);
  4. DuckDB's read_json loading the same rows as NDJSON (the baseline);
  5. the push API of a real `observ serve` (fresh store, no Kafka): the file's lines in 1,000-line requests
     from 4 clients, as JSON and as snappy protobuf (what Promtail and Alloy send), against that baseline;
and prints rates, ratios and bytes on disk per raw byte, with the load average. Each topic is created (its leader
elected) before the clock of its producer starts; the sidecar's clock stops when the last of the entries it makes
of the file (every line opens one with the default multiline pattern) is acknowledged, so it includes the last
batch's linger and the multiline timeout of the last entry, as a file that stops growing does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cramjam
import duckdb
import httpx
import orjson
import psutil
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts"), str(ROOT / "bench")]

import corpus  # noqa: E402
from kafka_broker import KafkaBroker, free_port  # noqa: E402
from server import serve  # noqa: E402

from collectors.log_adapter.transforms.config import DEFAULT_START_PATTERN  # noqa: E402
from collectors.log_adapter.transforms.multiline import start_matcher  # noqa: E402
from observ.api.loki.logproto import EntryAdapter, PushRequest, StreamAdapter  # noqa: E402
from observ.bus import BusConfig  # noqa: E402
from observ.ingester.ingester import IngestConfig, Ingester  # noqa: E402
from observ.store.logstore import LogStore  # noqa: E402

console = Console()


def scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {s.name: s.value for fam in text_string_to_metric_families(text) for s in fam.samples if not s.labels}


def create_topic(bootstrap: str, name: str, timeout: float = 30.0) -> None:
    """Create a one-partition topic and wait for its leader, so no producer's clock includes auto-creation."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topic = admin.list_topics(topic=name, timeout=5).topics.get(name)
        if topic is not None and topic.error is None and all(p.leader >= 0 for p in topic.partitions.values()):
            return
        time.sleep(0.1)
    raise SystemExit(f"topic {name} has no leader after {timeout} s")


def expected_entries(raw: Path) -> int:
    """Entries the sidecar makes of the CRI file: the lines its multiline stage (default start pattern) opens an
    entry with. Waiting for exactly these to be acknowledged, the timing does not stop while the last batch
    (up to 1,000 entries) still waits in the batcher."""
    is_start = start_matcher(DEFAULT_START_PATTERN)
    with raw.open() as f:
        return sum(1 for i, row in enumerate(f) if i == 0 or is_start(row.rstrip("\n").split(" ", 3)[3]))


def run_kcat(bootstrap: str, topic: str, raw: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["kcat", "-P", "-l", "-b", bootstrap, "-t", topic, str(raw)], check=True)
    return time.perf_counter() - t0


def run_sidecar(
    bootstrap: str, topic: str, raw: Path, lines: int, entries: int, work: Path
) -> tuple[float, int, float, float, float]:
    """Seconds from spawn until every one of `entries` is acknowledged, peak RSS bytes, entries shipped, the
    sidecar's CPU seconds (all its threads: on shared cores its wall time says little alone) and the seconds
    until it had read all `lines` (what follows is the last entry's multiline timeout, linger and acks)."""
    port = free_port()
    args = [sys.executable, "-m", "collectors.log_adapter", str(raw), "--bootstrap", bootstrap, "--topic", topic,
            "--format", "cri", "--service", "bench", "--checkpoint", str(work / "ckpt.json"),
            "--metrics-port", str(port)]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT)
    ps = psutil.Process(proc.pid)
    peak = 0
    read_s = 0.0
    m: dict[str, float] = {}
    try:
        while True:
            peak = max(peak, ps.memory_info().rss)
            try:
                m = scrape(port)
            except httpx.HTTPError:
                m = {}
            if not read_s and m.get("observ_adapter_lines_read_total", 0) >= lines:
                read_s = time.perf_counter() - t0
            if m.get("observ_adapter_entries_shipped_total", 0) >= entries:
                break
            if proc.poll() is not None:
                raise SystemExit(f"sidecar exited with {proc.returncode}")
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        cpu = ps.cpu_times()
    finally:
        proc.terminate()
        proc.wait(30)
    return elapsed, peak, m.get("observ_adapter_entries_shipped_total", 0), cpu.user + cpu.system, read_s


def run_ingester(bootstrap: str, topic: str, db: Path, entries: float) -> tuple[float, float]:
    """Seconds from start until every entry is stored, and the same from the group's partition assignment."""
    store = LogStore(db)
    cfg = IngestConfig(bus=BusConfig(bootstrap=bootstrap), topic=topic, group_id=f"bench-{uuid.uuid4().hex[:8]}")
    ing = Ingester(cfg, store, CollectorRegistry())
    t0 = time.perf_counter()
    th = threading.Thread(target=ing.run, daemon=True)
    th.start()
    t_assigned = None
    while ing.inserted_total < entries:
        if t_assigned is None and ing.ready:
            t_assigned = time.perf_counter()
        time.sleep(0.005)
    end = time.perf_counter()
    elapsed, after_join = end - t0, end - (t_assigned or t0)
    ing.stop()
    th.join(30)
    store.cursor().execute("CHECKPOINT")
    store.close()
    return elapsed, after_join


def push_bodies(raw: Path, fmt: str, batch: int = 1000, services: int = 8) -> list[bytes]:
    """The CRI file's messages as push requests of `batch` lines, spread over `services` streams, timestamped
    within the last hour (inside every age limit), in order."""
    messages = [row.rstrip("\n").split(" ", 3)[3] for row in raw.open()]
    t0 = time.time_ns() - 3600 * 10**9
    bodies = []
    for start in range(0, len(messages), batch):
        streams: dict[str, list[tuple[int, str]]] = {}
        for i in range(start, min(start + batch, len(messages))):
            streams.setdefault(f"bench-{i % services}", []).append((t0 + i * 1000, messages[i]))
        if fmt == "json":
            body = {"streams": [{"stream": {"service": s, "job": "bench"}, "values": [[str(t), m] for t, m in v]}
                                for s, v in streams.items()]}  # fmt: skip
            bodies.append(orjson.dumps(body))
        else:
            req = PushRequest(streams=[
                StreamAdapter(labels=f'{{job="bench", service="{s}"}}', entries=[
                    EntryAdapter(timestamp={"seconds": t // 10**9, "nanos": t % 10**9}, line=m) for t, m in v])
                for s, v in streams.items()])  # fmt: skip
            bodies.append(bytes(cramjam.snappy.compress_raw(req.SerializeToString())))
    return bodies


def run_push(bodies: list[bytes], fmt: str, work: Path, clients: int = 4) -> float:
    """Seconds for `clients` senders to push every body to a fresh `observ serve`, each answer checked."""
    content_type = "application/json" if fmt == "json" else "application/x-protobuf"
    with serve(work / f"push-{fmt}") as (url, _), httpx.Client(base_url=url, timeout=120) as client:

        def send(body: bytes) -> None:
            answer = client.post("/loki/api/v1/push", content=body, headers={"Content-Type": content_type})
            if answer.status_code != 204:
                raise SystemExit(f"push answered {answer.status_code}: {answer.text[:200]}")

        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, bodies))
        return time.perf_counter() - t0


def run_read_json(db: Path, work: Path) -> tuple[float, int, int]:
    """Export the stored rows as NDJSON, then time read_json loading them into a fresh database."""
    ndjson = work / "rows.ndjson"
    with duckdb.connect(str(db)) as con:
        con.execute(f"COPY (SELECT * FROM logs) TO '{ndjson}' (FORMAT json)")
        schema = con.execute("DESCRIBE logs").fetchall()
    cols = "{" + ", ".join(f"'{name}': '{typ}'" for name, typ, *_ in schema) + "}"
    target = work / "read_json.duckdb"
    with duckdb.connect(str(target)) as con:
        t0 = time.perf_counter()
        con.execute(
            f"CREATE TABLE logs AS SELECT * FROM read_json('{ndjson}', format='newline_delimited', columns={cols})"
        )
        con.execute("CHECKPOINT")
        elapsed = time.perf_counter() - t0
    return elapsed, ndjson.stat().st_size, target.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--bootstrap", help="use this broker instead of starting one")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    if not shutil.which("kcat"):
        raise SystemExit("kcat not found: apt-get install kcat (bash scripts/test installs it)")
    data = ROOT / "bench" / ".data"
    raw = data / f"replay-{args.lines}.cri.log"
    if not raw.exists():
        with console.status(f"replaying loghub into {raw.name}…"):
            corpus.write_cri(raw, args.lines)
    raw_bytes = raw.stat().st_size
    entries = expected_entries(raw)
    work = Path(tempfile.mkdtemp(prefix="observ-bench-"))
    broker = None
    if args.bootstrap:
        bootstrap = args.bootstrap
    else:
        broker = KafkaBroker()
        with console.status("starting Kafka…"):
            broker.start()
        bootstrap = broker.bootstrap
    try:
        tag = uuid.uuid4().hex[:8]
        with console.status("kcat -P -l …"):
            create_topic(bootstrap, f"bench-kcat-{tag}")
            kcat_s = run_kcat(bootstrap, f"bench-kcat-{tag}", raw)
        with console.status("sidecar shipping…"):
            create_topic(bootstrap, f"bench-sidecar-{tag}")
            side_s, peak, shipped, side_cpu, side_read = run_sidecar(
                bootstrap, f"bench-sidecar-{tag}", raw, args.lines, entries, work
            )
        with console.status("ingester into DuckDB…"):
            ing_s, ing_joined_s = run_ingester(bootstrap, f"bench-sidecar-{tag}", work / "observ.duckdb", shipped)
        db_bytes = (work / "observ.duckdb").stat().st_size + sum(
            f.stat().st_size for f in (work / "segments").glob("*.parquet")
        )
        with console.status("DuckDB read_json baseline…"):
            rj_s, ndjson_bytes, rj_bytes = run_read_json(work / "observ.duckdb", work)
        push_s = {}
        for fmt in ("json", "protobuf"):
            bodies = push_bodies(raw, fmt)
            with console.status(f"push API, {fmt}, 4 clients…"):
                push_s[fmt] = run_push(bodies, fmt, work)
    finally:
        if broker:
            broker.destroy()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    n, mb = args.lines, raw_bytes / 1e6
    t = Table(title=f"ingest benchmark: {n:,} loghub lines ({mb:.0f} MB CRI file), one run on this machine")
    for col in ("what", "seconds", "lines/s", "MB/s", "vs baseline"):
        t.add_column(col, justify="right" if col != "what" else "left")
    t.add_row("kcat -P -l (baseline)", f"{kcat_s:.2f}", f"{n / kcat_s:,.0f}", f"{mb / kcat_s:.1f}", "1.00x")
    t.add_row("sidecar → Kafka", f"{side_s:.2f}", f"{n / side_s:,.0f}", f"{mb / side_s:.1f}", f"{kcat_s / side_s:.2f}x")
    t.add_row("read_json NDJSON (baseline)", f"{rj_s:.2f}", f"{shipped / rj_s:,.0f}", "", "1.00x")
    t.add_row("ingester Kafka → DuckDB", f"{ing_s:.2f}", f"{shipped / ing_s:,.0f}", "", f"{rj_s / ing_s:.2f}x")
    rate = shipped / ing_joined_s
    t.add_row("  same, after the group join", f"{ing_joined_s:.2f}", f"{rate:,.0f}", "", f"{rj_s / ing_joined_s:.2f}x")
    for fmt, secs in push_s.items():
        ratio = (n / secs) / (shipped / rj_s)
        name = f"push API, {fmt}, 4 clients, 1,000-line requests"
        t.add_row(name, f"{secs:.2f}", f"{n / secs:,.0f}", f"{mb / secs:.1f}", f"{ratio:.2f}x")
    console.print(t)
    console.print(f"sidecar peak RSS: {peak / 2**20:.1f} MiB; entries shipped: {shipped:,.0f} of {n:,} lines")
    console.print(
        f"sidecar CPU: {side_cpu:.2f} s (all threads); every line read after {side_read:.2f} s, the rest waits for "
        "the last entry's multiline timeout, the batch linger and the acknowledgements"
    )
    load1, load5, _ = os.getloadavg()
    console.print(f"load average {load1:.2f} (1 min), {load5:.2f} (5 min) on {os.cpu_count()} cores")
    console.print(
        f"on disk: DuckDB {db_bytes / 1e6:.1f} MB = {db_bytes / raw_bytes:.3f} bytes per raw CRI byte "
        f"({db_bytes / ndjson_bytes:.3f} per NDJSON byte; read_json's table {rj_bytes / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main()
