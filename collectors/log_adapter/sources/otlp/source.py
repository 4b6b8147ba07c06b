"""The OTLP ambassador as the adapter runs it: its Kafka producer, its HTTP and gRPC servers, started and
stopped together, beside (or instead of) the file tailer."""

from __future__ import annotations

import logging
import time
from http.server import ThreadingHTTPServer

import grpc
from prometheus_client import CollectorRegistry

from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.sources.otlp import StartError
from collectors.log_adapter.sources.otlp.ambassador import Ambassador
from collectors.log_adapter.sources.otlp.events import AmbassadorMetrics
from collectors.log_adapter.sources.otlp.grpc import serve_grpc
from collectors.log_adapter.sources.otlp.http import serve_http
from collectors.log_adapter.sources.otlp.shipper import Shipper
from observ.bus import Producer, make_producer
from observ.otlp.grpc import GrpcBindError, address

log = logging.getLogger("observ.log_adapter.otlp")

READY_CHECK_S = 5
"""Readiness probes must not hammer the broker: its metadata is fetched at most this often."""


class OtlpSource:
    def __init__(self, config: AdapterConfig, registry: CollectorRegistry, producer: Producer | None = None) -> None:
        otlp = config.otlp
        self.config = otlp
        self.metrics = AmbassadorMetrics(registry)
        self.producer = producer or make_producer(config.kafka.bus)
        self.shipper = Shipper(self.producer, self.metrics, otlp.max_inflight_bytes, otlp.ack_timeout_ms / 1000)
        self.ambassador = Ambassador(
            otlp,
            self.shipper,
            self.metrics,
            tenant=config.tenant,
            logs_topic=config.kafka.topic,
            record_max_items=config.batch_max_entries,
            record_max_bytes=config.batch_max_bytes,
        )
        self.http: ThreadingHTTPServer | None = None
        self.grpc: grpc.Server | None = None
        self.http_port = 0
        self.grpc_port = 0
        self._ready = True
        self._checked = 0.0

    def start(self) -> None:
        """Listen on the configured ports (StartError when one is taken), then serve on background threads."""
        self.shipper.start()
        try:
            if self.config.http_port:
                try:
                    self.http = serve_http(self.ambassador)
                except OSError as e:
                    where = address(self.config.host, self.config.http_port)
                    raise StartError(f"cannot listen on {where} for OTLP/HTTP: {e.strerror}") from None
                self.http_port = int(self.http.server_address[1])
            if self.config.grpc_port:
                try:
                    self.grpc, self.grpc_port = serve_grpc(self.ambassador)
                except GrpcBindError as e:
                    raise StartError(str(e)) from None
        except StartError:
            self.stop(0)
            raise
        log.info("OTLP ambassador: HTTP on %s, gRPC on %s", self.http_port or "-", self.grpc_port or "-")

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._checked > READY_CHECK_S:
            self._checked = now
            self._ready = self.producer.healthcheck(1.0)
        return self._ready

    def stop(self, timeout_s: float) -> int:
        """Stop taking requests, let those under way finish (bounded by their ack timeout), then flush up to
        `timeout_s`; returns how many records Kafka has not acknowledged (their senders were told to retry)."""
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
        if self.grpc is not None:
            self.grpc.stop(self.config.ack_timeout_ms / 1000).wait()
        return self.shipper.stop(timeout_s)
