"""`observ ingest`: run the Kafka -> DuckDB ingester in the foreground (log topic, and span topic unless off)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from rich.console import Console

from observ.cli.datadir import open_store, open_stores
from observ.cli.refusal import Refused
from observ.health_server import serve_health
from observ.ingester.ingester import IngestConfig, Ingester
from observ.store.lifecycle import Maintained, start_maintenance
from observ.traces.store import SpanStore


def ingest_config(values: dict[str, object]) -> IngestConfig:
    """The ingester's settings from flags or `--config`; a bad value or combination is a one-line refusal."""
    try:
        return IngestConfig.model_validate(values)
    except ValidationError as e:
        problems = (
            (".".join(map(str, err["loc"])) + ": " if err["loc"] else "") + err["msg"].removeprefix("Value error, ")
            for err in e.errors()
        )
        raise Refused("; ".join(problems)) from None


def run_ingest(config: IngestConfig, metrics_host: str, metrics_port: int, console: Console) -> None:
    """Ingest until SIGINT/SIGTERM into the data folder `config.data`, creating it when missing."""
    data = Path(config.data)
    spans: SpanStore | None = None
    if config.spans_topic:
        store, spans = open_stores(data, create=True, settings=config.store)
    else:
        store = open_store(data, create=True, config=config.store.logs)
    registry = CollectorRegistry()
    ingester = Ingester(config, store, registry, spans=spans)
    maintained: dict[str, Maintained] = {"logs": store} if spans is None else {"logs": store, "spans": spans}
    maintainer = start_maintenance(maintained, config.store, registry)

    def close() -> None:
        maintainer.stop()
        if spans is not None:
            spans.flush()
            spans.close()
        store.close()

    if metrics_port:
        try:
            serve_health(metrics_host, metrics_port, registry, lambda: ingester.ready, lambda: ingester.write_error)
        except OSError as e:
            close()
            raise Refused(f"cannot listen on {metrics_host}:{metrics_port}: {e.strerror or e}") from None
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: ingester.stop())
    topics = " + ".join(ingester.lanes)
    console.print(
        f"[bold]observ ingest[/] {config.bus.bootstrap} {topics} -> {data} (metrics on {metrics_host}:{metrics_port})"
    )
    with console.status("ingesting…") as status:
        ingester.on_commit = lambda: status.update(progress(ingester))
        try:
            ingester.run()
        finally:
            close()


def progress(ingester: Ingester) -> str:
    """The status line: what this process stored so far."""
    spans = f" and {ingester.spans_inserted_total:,} spans" if ingester.span_metrics else ""
    return f"ingesting… {ingester.inserted_total:,} lines{spans} stored"
