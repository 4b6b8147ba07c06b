"""`observ serve`: the query service (Loki API) over a DuckDB store, optionally ingesting from Kafka in-process."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

import uvicorn
from prometheus_client import CollectorRegistry
from rich.console import Console

from observ.api.app import create_app
from observ.api.config import ServeConfig
from observ.store.ingest import IngestConfig, Ingester
from observ.store.logstore import LogStore


class Server(uvicorn.Server):
    """Stops on SIGINT/SIGTERM like uvicorn, but returns instead of re-raising the signal afterwards.

    uvicorn re-sends the captured signal once it has shut down; with SIGTERM's default
    action that would kill the process before the caller drains and closes the store.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def uvicorn_config(app: object, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, ws="websockets-sansio")  # type: ignore[arg-type]


def run_serve(config: ServeConfig, console: Console) -> None:
    config.data.mkdir(parents=True, exist_ok=True)
    store = LogStore(config.db_path)
    registry = CollectorRegistry()
    ingester: Ingester | None = None
    ready: Callable[[], bool] = lambda: True  # noqa: E731
    if config.kafka is not None:
        k = config.kafka
        ingest = IngestConfig(bus=k.bus, topic=k.topic, group_id=k.group_id, data=str(config.db_path))
        ingester = Ingester(ingest, store, registry)
        ready = lambda: ingester.ready  # noqa: E731
    app = create_app(store, registry, ready, config=config.api)
    server = Server(uvicorn_config(app, config.host, config.port, config.log_level))
    worker = threading.Thread(target=ingester.run, name="ingester", daemon=True) if ingester else None
    url = f"http://{config.host}:{config.port}"
    source = f"; ingesting {config.kafka.topic} from {config.kafka.bus.bootstrap}" if config.kafka else ""
    console.print(f"[bold]observ serve[/] Loki API on {url} over {config.db_path}{source}")
    console.print(f"  try: observ query '{{service=~\".+\"}}' --since 1h --addr {url}")
    if worker:
        worker.start()
    try:
        server.run()
    finally:
        if ingester and worker:
            ingester.stop()
            worker.join(timeout=30)
        store.close()
        console.print("[bold]observ serve[/] stopped")
