"""`observ ingest`: run the Kafka -> DuckDB ingester in the foreground."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry
from rich.console import Console

from observ.cli.datadir import open_store
from observ.cli.refusal import Refused
from observ.health_server import serve_health
from observ.store.ingest import IngestConfig, Ingester


def run_ingest(config: IngestConfig, metrics_host: str, metrics_port: int, console: Console) -> None:
    """Ingest until SIGINT/SIGTERM into the data folder `config.data`, creating it when missing."""
    store = open_store(Path(config.data), create=True)
    registry = CollectorRegistry()
    ingester = Ingester(config, store, registry)
    if metrics_port:
        try:
            serve_health(metrics_host, metrics_port, registry, lambda: ingester.ready, lambda: store.write_error)
        except OSError as e:
            store.close()
            raise Refused(f"cannot listen on {metrics_host}:{metrics_port}: {e.strerror or e}") from None
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: ingester.stop())
    console.print(
        f"[bold]observ ingest[/] {config.bus.bootstrap} {config.topic} -> {store.path} "
        f"(metrics on {metrics_host}:{metrics_port})"
    )
    with console.status("ingesting…") as status:
        ingester.on_commit = lambda: status.update(f"ingesting… {ingester.inserted_total:,} lines stored")
        ingester.run()
    store.close()
