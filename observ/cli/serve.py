"""`observ serve`: the query service (Loki API) over a DuckDB store, optionally ingesting from Kafka in-process."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn
from prometheus_client import CollectorRegistry
from rich.console import Console
from starlette.types import ASGIApp

from observ.api.app import create_app
from observ.api.config import ServeConfig
from observ.api.otlp.events import OtlpMetrics
from observ.api.otlp.grpc import GrpcBindError, OtlpGrpcServer, start_grpc
from observ.api.otlp.receiver import DecoderPool, LogsReceiver, TracesReceiver
from observ.cli.datadir import listen, open_stores
from observ.cli.ingest import ingest_config
from observ.cli.refusal import Refused
from observ.ingester.ingester import Ingester
from observ.store.lifecycle import start_maintenance
from observ.store.logstore import LogStore
from observ.traces.store import SpanStore


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


def uvicorn_config(app: ASGIApp, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, ws="websockets-sansio")


def _show_status(
    console: Console, store: LogStore, spans: SpanStore, registry: CollectorRegistry, stop: threading.Event
) -> None:
    """One line, refreshed: rows and spans stored, lines pushed and requests answered since start."""
    started = time.monotonic()
    with console.status("serving…") as status:
        while not stop.wait(2.0):
            pushed = sum(
                s.value for m in registry.collect() if m.name == "observ_push_received_lines"
                for s in m.samples if s.name.endswith("_total")
            )  # fmt: skip
            requests = sum(
                s.value for m in registry.collect() if m.name == "observ_api_request_duration_seconds"
                for s in m.samples if s.name.endswith("_count")
            )  # fmt: skip
            status.update(
                f"serving — {store.count():,} lines and {spans.count():,} spans stored, {pushed:,.0f} pushed, "
                f"{requests:,.0f} requests, up {time.monotonic() - started:.0f}s"
            )


@dataclass(frozen=True, slots=True)
class Otlp:
    """The OTLP receivers, shared by the HTTP routes and the gRPC server (none when `api.otlp` is off)."""

    logs: LogsReceiver | None = None
    traces: TracesReceiver | None = None
    grpc: OtlpGrpcServer | None = None
    decoders: DecoderPool | None = None

    def banner(self, url: str) -> str:
        where = f", OTLP/gRPC on {self.grpc.address}" if self.grpc and self.grpc.server else ""
        return f"  OTLP: POST {url}/v1/logs and {url}/v1/traces{where}"

    def stop(self) -> None:
        if self.grpc:
            self.grpc.stop()
        if self.decoders:
            self.decoders.shutdown()


def start_otlp(
    store: LogStore, spans: SpanStore, registry: CollectorRegistry, config: ServeConfig, console: Console
) -> Otlp:
    """The OTLP receivers (for /v1/logs and /v1/traces) and their gRPC server; a configured gRPC port that is
    taken is Refused."""
    if not config.api.otlp.enabled:
        return Otlp()
    metrics = OtlpMetrics(registry)
    logs = LogsReceiver(store, config.api, metrics)
    processes = config.api.otlp.decoder_processes
    decoders = DecoderPool(processes) if processes else None
    traces = TracesReceiver(spans, config.api, metrics, decoders=decoders)
    try:
        server = start_grpc([logs, traces], config.api.otlp, config.host)
    except GrpcBindError as e:
        if decoders:
            decoders.shutdown()
        raise Refused(str(e)) from None
    if server.note:
        console.print(f"[yellow]OTLP/gRPC off: {server.note}[/]")
    return Otlp(logs, traces, server, decoders)


def close_stores(store: LogStore, spans: SpanStore) -> None:
    spans.flush()
    spans.close()
    store.close()


def run_serve(config: ServeConfig, console: Console, create: bool) -> None:
    """Serve until SIGINT/SIGTERM; the store must exist unless `create` or an in-process ingester fills it."""
    k = config.kafka
    ingest = (
        ingest_config({"bus": k.bus, "topic": k.topic, "spans_topic": k.spans_topic, "group_id": k.group_id,
                       "data": str(config.data), "defaults": config.api.push})
        if k is not None else None
    )  # fmt: skip
    store, spans = open_stores(config.data, create=create or config.kafka is not None, settings=config.store)
    registry = CollectorRegistry()
    try:
        sock = listen(config.host, config.port)
    except Refused:
        close_stores(store, spans)
        raise
    try:
        otlp = start_otlp(store, spans, registry, config, console)
    except Refused:
        sock.close()
        close_stores(store, spans)
        raise
    ingester: Ingester | None = None
    ready: Callable[[], bool] = lambda: True  # noqa: E731
    if ingest is not None:
        ingester = Ingester(ingest, store, registry, spans=spans)
        ready = lambda: ingester.ready  # noqa: E731
    app = create_app(
        store, registry, ready, config=config.api, otlp_logs=otlp.logs, otlp_traces=otlp.traces, spans=spans
    )
    server = Server(uvicorn_config(app, config.host, config.port, config.log_level))
    worker = threading.Thread(target=ingester.run, name="ingester", daemon=True) if ingester else None
    url = f"http://{config.host}:{config.port}"
    source = (
        f"; ingesting {' + '.join(ingester.lanes)} from {config.kafka.bus.bootstrap}"
        if ingester and config.kafka
        else ""
    )
    console.print(f"[bold]observ serve[/] Loki API on {url} over {store.path}{source}")
    if otlp.logs:
        console.print(otlp.banner(url))
    console.print(f"  try: observ query '{{service=~\".+\"}}' --since 1h --addr {url}")
    if worker:
        worker.start()
    stop_status = threading.Event()
    status = threading.Thread(target=_show_status, args=(console, store, spans, registry, stop_status), daemon=True)
    status.start()
    maintainer = start_maintenance({"logs": store, "spans": spans}, config.store, registry)
    try:
        server.run(sockets=[sock])
    finally:
        stop_status.set()
        status.join(timeout=5)
        otlp.stop()
        if ingester and worker:
            ingester.stop()
            worker.join(timeout=30)
        maintainer.stop()
        close_stores(store, spans)
        console.print("[bold]observ serve[/] stopped")
