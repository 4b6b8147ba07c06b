"""Hands an OTLP request's Kafka records to the producer and waits until Kafka acknowledged every one.

The app is answered 200 only after the acknowledgement (acks=all, idempotent producer): the ambassador keeps
no buffer of its own that a crash could lose, so it promises no more than Kafka holds. Memory is bounded by
the bytes in flight: a request that would pass `max_inflight_bytes`, or that the producer's queue cannot
take, is refused at once as retryable; one not acknowledged within the timeout is refused as retryable too,
its records left queued (they may still arrive, and the client's retry then duplicates them: the stores
keep one copy). Delivery reports are served by one polling thread; requests wait on their own event.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from collectors.log_adapter.sinks.kafka.sink import permanent
from collectors.log_adapter.sources.otlp.events import AmbassadorMetrics, Signal
from observ.bus import BusError, BusFull, DeliveryReport, OnDelivery, Producer
from observ.bus.base import record_size
from observ.otlp.errors import Unavailable


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    count: int
    """Spans or log records it carries."""

    @property
    def size(self) -> int:
        return record_size(self.key, self.value, self.headers)


@dataclass(slots=True)
class Delivery:
    """What became of one request's records."""

    pending: int
    rejected: int = 0
    """Spans or log records whose record Kafka refused for good (too large, invalid): never retried."""
    errors: list[str] = field(default_factory=list)
    """The permanent errors, for partial_success."""
    retryable: str = ""
    """The first transient delivery error: the whole request is answered as retryable."""
    done: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def settle(self) -> None:
        """One record's outcome is known (reports come from the polling thread, produce errors from the caller's)."""
        with self._lock:
            self.pending -= 1
            if self.pending == 0:
                self.done.set()


class Shipper:
    def __init__(
        self, producer: Producer, metrics: AmbassadorMetrics, max_inflight_bytes: int, ack_timeout_s: float
    ) -> None:
        self.producer = producer
        self.metrics = metrics
        self.max_inflight_bytes = max_inflight_bytes
        self.ack_timeout_s = ack_timeout_s
        self._lock = threading.Lock()
        self._inflight = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve_reports, name="otlp-kafka", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve_reports(self) -> None:
        while not self._stopped.is_set():
            self.producer.poll(0.1)

    def _release(self, size: int) -> None:
        with self._lock:
            self._inflight -= size
            self.metrics.inflight_bytes.set(self._inflight)

    def ship(self, records: Sequence[OutRecord], signal: Signal) -> Delivery:
        """Returns once Kafka acknowledged or refused every record; raises Unavailable (retryable) otherwise.

        A request larger than `max_inflight_bytes` on its own is taken when nothing else is in flight (it is
        already in memory, decoded; refusing it would only make the client retry it forever)."""
        if not records:
            return Delivery(0)
        sizes = [r.size for r in records]
        total = sum(sizes)
        with self._lock:
            if self._inflight and self._inflight + total > self.max_inflight_bytes:
                raise Unavailable(
                    "buffer_full",
                    f"{self._inflight} bytes wait for Kafka's acknowledgement; this request's {total} would pass "
                    f"the {self.max_inflight_bytes}-byte limit (is the broker down?)",
                )
            self._inflight += total
            self.metrics.inflight_bytes.set(self._inflight)
        delivery = Delivery(len(records))
        for i, (r, size) in enumerate(zip(records, sizes, strict=True)):
            try:
                self.producer.produce(r.topic, r.key, r.value, r.headers, self._on_delivery(delivery, r, size, signal))
            except BusFull:
                self._release(sum(sizes[i:]))
                raise Unavailable("buffer_full", "the Kafka producer's queue is full (is the broker down?)") from None
            except BusError as e:
                self._release(size)
                self._refused(delivery, r, signal, str(e))
                delivery.settle()
            except Exception:
                self._release(sum(sizes[i:]))  # those not produced will never be reported
                raise
        if not delivery.done.wait(self.ack_timeout_s):
            raise Unavailable(
                "not_acknowledged", f"Kafka has not acknowledged the records within {self.ack_timeout_s:g} s"
            )
        if delivery.retryable:
            raise Unavailable("not_acknowledged", f"Kafka delivery failed: {delivery.retryable}")
        return delivery

    def _refused(self, delivery: Delivery, record: OutRecord, signal: Signal, error: str) -> None:
        delivery.rejected += record.count
        what = f"{record.count} {signal.replace('_', ' ')} ({len(record.value)} bytes)"
        delivery.errors.append(f"Kafka refused the record of {what}: {error}")

    def _on_delivery(self, delivery: Delivery, record: OutRecord, size: int, signal: Signal) -> OnDelivery:
        def report(r: DeliveryReport) -> None:
            self._release(size)
            if r.error is None:
                self.metrics.shipped.labels(signal).inc(record.count)
            elif permanent(r.error):
                self._refused(delivery, record, signal, r.error)
            else:
                delivery.retryable = delivery.retryable or r.error
            delivery.settle()

        return report

    def stop(self, timeout_s: float) -> int:
        """Waits up to `timeout_s` for what is queued; returns how many records are still unacknowledged."""
        left = self.producer.flush(timeout_s)
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self.producer.close()
        return left
