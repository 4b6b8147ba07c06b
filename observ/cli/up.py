"""`observ up`: the single-node default — collectors, store and API in one process, no broker."""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.live import Live
from rich.table import Table

from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.events import Metrics
from collectors.log_adapter.main import build_topology
from collectors.log_adapter.sinks.store import StoreSink
from collectors.log_adapter.sources.tail.config import TailConfig
from observ.api.app import create_app
from observ.api.config import ServeConfig
from observ.cli.datadir import listen, open_stores
from observ.cli.refusal import Refused
from observ.cli.serve import Server, close_stores, start_otlp, uvicorn_config
from observ.store.logstore import LogStore


def _status(store: LogStore, metrics: Metrics, url: str, started: float) -> Table:
    table = Table(title=f"observ up — {url}  (Ctrl-C to stop)", title_justify="left")
    for col in ("service", "lines stored", "last entry"):
        table.add_column(col)
    for s in store.services():
        last = time.strftime("%H:%M:%S", time.localtime(int(str(s["last_ts"])) / 1e9))
        table.add_row(str(s["service"]), f"{s['lines']:,}", last)
    reg = metrics.registry
    read = reg.get_sample_value("observ_adapter_lines_read_total") or 0
    shipped = reg.get_sample_value("observ_adapter_entries_shipped_total") or 0
    table.caption = f"{read:,.0f} lines read, {shipped:,.0f} entries stored, up {time.monotonic() - started:.0f}s"
    return table


def run_up(config: ServeConfig, demo: bool, include: list[str], demo_rate: float, console: Console) -> None:
    """Run until SIGINT/SIGTERM; the data folder and its store are created when missing."""
    if config.kafka is not None:
        raise Refused("`kafka` in --config is for `observ serve`: observ up writes straight into the store")
    data = config.data
    store, spans = open_stores(data, create=True)
    try:
        sock = listen(config.host, config.port)
    except Refused:
        close_stores(store, spans)
        raise
    metrics = Metrics(CollectorRegistry())
    try:
        otlp = start_otlp(store, spans, metrics.registry, config, console)
    except Refused:
        sock.close()
        close_stores(store, spans)
        raise
    globs = list(include)
    workload = None
    if demo:
        from collectors.demo.workload import DemoWorkload

        workload = DemoWorkload(data / "demo-logs", rate=demo_rate)
        globs.append(workload.glob)
    adapter_config = AdapterConfig(
        tail=TailConfig(include=globs, checkpoint_path=str(data / "adapter-checkpoints.json")),
        http_port=0,
        batch_linger_ms=100,
    )
    topology = build_topology(adapter_config, metrics, sink=StoreSink(store))
    adapter = threading.Thread(target=topology.run, name="log-adapter", daemon=True)
    app = create_app(
        store,
        metrics.registry,
        ready=adapter.is_alive,
        config=config.api,
        otlp_logs=otlp.logs,
        otlp_traces=otlp.traces,
        spans=spans,
    )
    server = Server(uvicorn_config(app, config.host, config.port, config.log_level))
    url = f"http://{config.host}:{config.port}"
    adapter.start()
    if workload:
        workload.start()
    started = time.monotonic()
    stop_status = threading.Event()

    def show() -> None:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while not stop_status.wait(1.0):
                live.update(_status(store, metrics, url, started))

    if globs:
        console.print(f"[bold]observ[/] tailing {', '.join(globs)}; data in {data}")
    else:
        console.print("[yellow]nothing to tail: pass --demo or --include GLOB[/]")
    console.print(f"Loki API on {url} (Grafana datasource URL); also /api/v1/services, /metrics, /healthz, /readyz")
    if otlp.logs:
        console.print(otlp.banner(url))
    console.print(f'  try: observ query \'{{service=~".+"}} |= "error"\' --since 15m --addr {url}')
    status = threading.Thread(target=show, name="status", daemon=True)
    status.start()
    try:
        server.run(sockets=[sock])
    finally:
        stop_status.set()
        status.join(timeout=2)
        if workload:
            workload.stop()
        otlp.stop()
        topology.stop()
        adapter.join(timeout=15)
        close_stores(store, spans)
        console.print("[bold]observ[/] stopped; checkpoints saved")
