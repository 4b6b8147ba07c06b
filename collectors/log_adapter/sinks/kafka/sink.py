"""Kafka sink: one record per batch, key = stream id, tenant and schema in headers.

Delivery errors are retried from the encoded payload kept until acknowledgement;
the payload is what bounds the sink's memory, so the topology counts it as in flight.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from collectors.log_adapter.events import Dropped, Metrics
from collectors.log_adapter.rows import RowBatch
from collectors.log_adapter.sinks.base import Ack
from collectors.log_adapter.sinks.kafka.config import KafkaSinkConfig
from observ.bus import BusError, BusFull, DeliveryReport, Producer, make_producer
from observ.model import SCHEMA_VERSION

log = logging.getLogger("observ.log_adapter.kafka")

_PERMANENT = ("MSG_SIZE_TOO_LARGE", "MessageSizeTooLarge", "INVALID_RECORD", "InvalidRecord")


def permanent(error: str) -> bool:
    """A delivery error that retrying the same record cannot cure (either client's spelling)."""
    return any(p in error for p in _PERMANENT)


class KafkaSink:
    def __init__(self, config: KafkaSinkConfig, metrics: Metrics, producer: Producer | None = None) -> None:
        self.config = config
        self.metrics = metrics
        self._producer = producer or make_producer(config.bus)
        self._retry: deque[tuple[float, bytes, list[tuple[str, bytes]], bytes, Ack]] = deque()
        self._ready = True
        self._checked = 0.0

    def send(self, batch: RowBatch, on_ack: Ack) -> bool:
        headers = [("tenant", batch.stream.tenant.encode()), ("schema", SCHEMA_VERSION)]
        return self._produce(batch.stream.id.encode(), batch.encode(), headers, on_ack)

    def _produce(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]], on_ack: Ack) -> bool:
        def delivered(report: DeliveryReport) -> None:
            if report.error is None:
                self._ready = True
                on_ack(None)
            elif permanent(report.error):
                Dropped("sink_rejected", self.config.topic, report.error).emit(self.metrics)
                on_ack(report.error)
            else:
                self.metrics.sink_errors.inc()
                log.warning("delivery failed, will retry: %s", report.error)
                self._retry.append((time.monotonic(), key, headers, value, on_ack))

        try:
            self._producer.produce(self.config.topic, key, value, headers, delivered)
        except BusFull:
            return False
        except BusError as e:
            Dropped("sink_rejected", self.config.topic, str(e)).emit(self.metrics)
            on_ack(str(e))
        return True

    def poll(self, timeout: float) -> None:
        self._producer.poll(timeout)
        backoff = self.config.retry_backoff_ms / 1000
        while self._retry and time.monotonic() - self._retry[0][0] >= backoff:
            _, key, headers, value, ack = self._retry[0]
            if not self._produce(key, value, headers, ack):
                break
            self._retry.popleft()

    def flush(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            left = self._producer.flush(max(0.0, min(0.5, deadline - time.monotonic())))
            self.poll(0)
            if (left == 0 and not self._retry) or time.monotonic() >= deadline:
                return left + len(self._retry)

    def ready(self) -> bool:
        """Cached metadata check: readiness probes must not hammer the broker."""
        now = time.monotonic()
        if now - self._checked > 5:
            self._checked = now
            self._ready = self._producer.healthcheck(1.0)
        return self._ready

    def close(self) -> None:
        self._producer.close()
