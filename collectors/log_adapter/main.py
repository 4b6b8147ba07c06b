"""Wires one adapter process: source + pipeline + sink + self-metrics endpoint."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.console import Console

from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.events import Metrics
from collectors.log_adapter.progress import Progress
from collectors.log_adapter.sinks.base import Sink
from collectors.log_adapter.topology import Source, Topology
from observ.health_server import serve_health

if TYPE_CHECKING:
    from collectors.log_adapter.sources.otlp.source import OtlpSource

log = logging.getLogger("observ.log_adapter")


def build_source(config: AdapterConfig, metrics: Metrics) -> Source:
    if config.stdin:
        from collectors.log_adapter.sources.stdin import StdinSource

        return StdinSource(metrics=metrics, max_line_bytes=config.tail.max_line_bytes)
    from collectors.log_adapter.sources.tail.source import TailSource

    return TailSource(config.tail, metrics)


def build_topology(
    config: AdapterConfig,
    metrics: Metrics,
    sink: Sink | None = None,
    env: Mapping[str, str] | None = None,
) -> Topology:
    if sink is None:
        from collectors.log_adapter.sinks.kafka import KafkaSink

        sink = KafkaSink(config.kafka, metrics)
    source = build_source(config, metrics)
    return Topology(config, source, sink, metrics, env=dict(os.environ if env is None else env))


def _progress(config: AdapterConfig, metrics: Metrics, otlp: OtlpSource | None) -> Progress | None:
    if not config.status_interval_ms:
        return None
    console = Console(stderr=True)
    where = f"{config.kafka.bus.bootstrap} {config.kafka.topic}"
    if config.stdin or config.tail.include:
        source = "stdin" if config.stdin else ", ".join(config.tail.include)
        checkpoints = "" if config.stdin else f"; checkpoints in {os.path.abspath(config.tail.checkpoint_path)}"
        console.print(f"observ ship: {source} -> {where}{checkpoints}", highlight=False, markup=False, soft_wrap=True)
    if otlp is not None:
        listens = [f"{name} {config.otlp.host}:{port}" for name, port in (("HTTP", otlp.http_port),
                   ("gRPC", otlp.grpc_port)) if port]  # fmt: skip
        spans = f"{config.kafka.bus.bootstrap} {config.otlp.spans_topic}"
        line = f"observ ship: OTLP on {', '.join(listens)} -> {where}, {spans}"
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    title = f"observ ship -> {where}  (Ctrl-C to stop)"
    return Progress(metrics.registry, title, console, config.status_interval_ms / 1000)


def start_otlp(config: AdapterConfig, metrics: Metrics) -> OtlpSource | None:
    """The OTLP ambassador when enabled, listening (StartError when it cannot)."""
    if not config.otlp.enabled:
        return None
    from collectors.log_adapter.sources.otlp.source import OtlpSource

    otlp = OtlpSource(config, metrics.registry)
    otlp.start()
    return otlp


def _tune_gc() -> None:
    """Objects made while starting (modules, pydantic schemas) leave the collector's generations for good, and a
    young collection runs every 10,000 allocations instead of 700: the hot path makes acyclic strings, tuples and
    lists in chunks of thousands, which the default thresholds traced over and over (~15% of parsing time)."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def run(config: AdapterConfig, metrics: Metrics | None = None) -> None:
    """Run in the foreground until SIGTERM/SIGINT; exits after draining and checkpointing.

    Files (or stdin) go through the topology in this thread; the OTLP ambassador, when enabled, serves on
    threads of its own, with a Kafka producer of its own, so neither source can stall the other."""
    metrics = metrics or Metrics()
    otlp = start_otlp(config, metrics)
    topology = build_topology(config, metrics) if config.stdin or config.tail.include else None
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        if topology is not None:
            topology.stop()

    def ready() -> bool:
        return (topology is None or topology.sink.ready()) and (otlp is None or otlp.ready())

    progress = _progress(config, metrics, otlp)
    if config.http_port:
        serve_health(config.http_host, config.http_port, metrics.registry, ready)
        log.info("self metrics on http://%s:%d/metrics", config.http_host, config.http_port)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop())
    if progress:
        progress.start()
    _tune_gc()
    try:
        if topology is not None:
            topology.run()
        else:
            while not stopped.wait(0.5):  # a timed wait lets the signal handlers run
                pass
    finally:
        if otlp is not None:
            left = otlp.stop(config.shutdown_timeout_ms / 1000)
            if left:
                log.warning("%d OTLP records unacknowledged at shutdown; their senders were told to retry", left)
        if progress:
            progress.stop()
