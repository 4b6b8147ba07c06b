"""Wires one adapter process: source + pipeline + sink + self-metrics endpoint."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Mapping

from rich.console import Console

from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.events import Metrics
from collectors.log_adapter.progress import Progress
from collectors.log_adapter.sinks.base import Sink
from collectors.log_adapter.topology import Source, Topology
from observ.health_server import serve_health

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


def _progress(config: AdapterConfig, metrics: Metrics) -> Progress | None:
    if not config.status_interval_ms:
        return None
    console = Console(stderr=True)
    source = "stdin" if config.stdin else ", ".join(config.tail.include)
    where = f"{config.kafka.bus.bootstrap} {config.kafka.topic}"
    checkpoints = "" if config.stdin else f"; checkpoints in {os.path.abspath(config.tail.checkpoint_path)}"
    console.print(f"observ ship: {source} -> {where}{checkpoints}", highlight=False, markup=False, soft_wrap=True)
    title = f"observ ship -> {where}  (Ctrl-C to stop)"
    return Progress(metrics.registry, title, console, config.status_interval_ms / 1000)


def run(config: AdapterConfig, metrics: Metrics | None = None) -> None:
    """Run in the foreground until SIGTERM/SIGINT; exits after draining and checkpointing."""
    metrics = metrics or Metrics()
    topology = build_topology(config, metrics)
    progress = _progress(config, metrics)
    if config.http_port:
        serve_health(config.http_host, config.http_port, metrics.registry, topology.sink.ready)
        log.info("self metrics on http://%s:%d/metrics", config.http_host, config.http_port)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: topology.stop())
    if progress:
        progress.start()
    try:
        topology.run()
    finally:
        if progress:
            progress.stop()
