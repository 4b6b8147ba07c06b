"""`observ ingest`: run the Kafka -> DuckDB ingester in the foreground."""

from __future__ import annotations

import signal
import threading

from prometheus_client import CollectorRegistry
from rich.console import Console

from observ.health_server import serve_health
from observ.store.ingest import IngestConfig, Ingester
from observ.store.logstore import LogStore


def run_ingest(config: IngestConfig, metrics_host: str, metrics_port: int, console: Console) -> None:
    store = LogStore(config.data)
    registry = CollectorRegistry()
    ingester = Ingester(config, store, registry)
    if metrics_port:
        serve_health(metrics_host, metrics_port, registry, lambda: ingester.ready)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: ingester.stop())
    console.print(
        f"[bold]observ ingest[/] {config.bus.bootstrap} {config.topic} -> {config.data} "
        f"(metrics on {metrics_host}:{metrics_port})"
    )
    with console.status("ingesting…") as status:
        ingester.on_commit = lambda: status.update(f"ingesting… {ingester.inserted_total:,} lines stored")
        ingester.run()
    store.close()
