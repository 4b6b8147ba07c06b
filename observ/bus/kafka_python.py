"""Bus backend on kafka-python: pure Python, no native library; slower than confluent.

kafka-python completes sends in its own I/O thread; reports are queued there and fired by poll()
so that, as with librdkafka, user callbacks only ever run in the caller's thread.
kafka-python 3.x has no bound on its record buffer, so the queue bound is enforced here.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import Any

from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as _TopicPartition
from kafka.coordinator.consumer import ConsumerCoordinator
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.future import Future
from kafka.producer.future import RecordMetadata
from kafka.structs import OffsetAndMetadata

from observ.bus.base import (
    BusError,
    BusFull,
    DeliveryReport,
    OnAssign,
    OnDelivery,
    OnRevoke,
    Record,
    TopicPartition,
    record_size,
    run_rebalance_callback,
)
from observ.bus.config import BusConfig
from observ.throttle import ThrottleFilter

log = logging.getLogger("observ.bus.kafka_python")
_client_logs = ThrottleFilter(level=logging.INFO)

NEVER_MS = 2**31 - 1
"""kafka-python has no 'infinite' delivery timeout; this is Java's Integer.MAX_VALUE (~24.8 days)."""
METADATA_WAIT_MS = 1000
"""How long produce() may block for a topic's first metadata before raising BusFull."""


def _coerce(value: str | int | float | bool) -> Any:
    """Config files give strings; kafka-python wants typed keyword arguments."""
    if not isinstance(value, str):
        return value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _extra(config: BusConfig) -> dict[str, Any]:
    return {k: _coerce(v) for k, v in config.extra.items()}


def _throttle_client_logs() -> None:
    """kafka-python logs each failed reconnect from several of its modules while a broker is down: one line
    per kind per 10 s. Its loggers exist once its modules are imported, so this runs with each client."""
    _client_logs.install(
        name for name in list(logging.root.manager.loggerDict) if name == "kafka" or name.startswith("kafka.")
    )


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def producer_settings(config: BusConfig) -> dict[str, Any]:
    return {
        "bootstrap_servers": config.bootstrap.split(","),
        "client_id": config.client_id,
        "acks": "all",
        "enable_idempotence": True,
        "compression_type": None if config.compression == "none" else config.compression,
        "linger_ms": config.linger_ms,
        "delivery_timeout_ms": config.delivery_timeout_ms or NEVER_MS,
        "max_block_ms": METADATA_WAIT_MS,
        "reconnect_backoff_max_ms": config.reconnect_backoff_max_ms,
        **_extra(config),
    }


def consumer_settings(config: BusConfig, group_id: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": config.bootstrap.split(","),
        "client_id": config.client_id,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": config.session_timeout_ms,
        "heartbeat_interval_ms": config.heartbeat_interval_ms,
        "reconnect_backoff_max_ms": config.reconnect_backoff_max_ms,
        "metadata_max_age_ms": config.metadata_max_age_ms,
        **_extra(config),
    }


class KafkaPythonProducer:
    def __init__(self, config: BusConfig) -> None:
        self._limit = config.max_queue_bytes
        self._queued_bytes = 0
        self._pending = 0
        self._lock = threading.Lock()
        self._reports: queue.SimpleQueue[tuple[OnDelivery, DeliveryReport, int]] = queue.SimpleQueue()
        self._closed = False
        _throttle_client_logs()
        try:
            self._producer = KafkaProducer(**producer_settings(config))
        except KafkaError as exc:
            raise BusError(_error_text(exc)) from exc

    def produce(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]], on_delivery: OnDelivery
    ) -> None:
        size = record_size(key, value, headers)
        if size > self._limit:
            raise BusError(f"record of {len(value)} bytes can never fit the {self._limit}-byte producer queue")
        with self._lock:
            if self._queued_bytes + size > self._limit:
                raise BusFull(f"producer queue full ({self._queued_bytes} of {self._limit} bytes)")
            self._queued_bytes += size
            self._pending += 1
        try:
            future = self._producer.send(topic, value=value, key=key, headers=headers)
        except KafkaTimeoutError as exc:
            self._release(size)
            raise BusFull(f"no metadata for topic {topic} yet: {exc}") from exc
        except KafkaError as exc:
            self._release(size)
            raise BusError(_error_text(exc)) from exc
        future.add_callback(self._succeeded, on_delivery, size)
        future.add_errback(self._failed, on_delivery, size, topic)

    def _succeeded(self, on_delivery: OnDelivery, size: int, md: RecordMetadata) -> None:
        self._reports.put((on_delivery, DeliveryReport(None, md.topic, md.partition, md.offset), size))

    def _failed(self, on_delivery: OnDelivery, size: int, topic: str, exc: BaseException) -> None:
        self._reports.put((on_delivery, DeliveryReport(_error_text(exc), topic, -1, -1), size))

    def _release(self, size: int) -> None:
        with self._lock:
            self._queued_bytes -= size
            self._pending -= 1

    def poll(self, timeout: float) -> None:
        try:
            item = self._reports.get(timeout=timeout) if timeout > 0 else self._reports.get_nowait()
        except queue.Empty:
            return
        while True:
            on_delivery, report, size = item
            self._release(size)
            if not self._closed:
                on_delivery(report)
            try:
                item = self._reports.get_nowait()
            except queue.Empty:
                return

    def flush(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with contextlib.suppress(KafkaTimeoutError):
            self._producer.flush(timeout)
        self.poll(0)
        while self._pending and (remaining := deadline - time.monotonic()) > 0:
            self.poll(remaining)
        return self._pending

    def close(self) -> None:
        """Abandons what is still queued without calling its callbacks, so close never hangs on a dead broker."""
        if self._closed:
            return
        self._closed = True
        try:
            self._producer.close(timeout=0)
        except KafkaTimeoutError:
            # close() flushes first and gives up on undelivered batches; this is its own last step.
            self._producer._sender.force_close()

    def healthcheck(self, timeout: float) -> bool:
        # kafka-python has no public metadata call on the producer; this is what its send() does.
        done = threading.Event()
        future = self._producer._metadata.request_update()
        future.add_both(lambda *_: done.set())
        self._producer._sender.wakeup()
        return done.wait(timeout) and future.succeeded()


def _finish_started_joins(coordinator: ConsumerCoordinator) -> None:
    """kafka-python 3.0 runs a JoinGroup+SyncGroup round trip as a task that outlives a poll() whose timeout ends
    first, and applies its assignment only in a later poll's `while need_rejoin()` loop. A rejoin that new metadata
    asked for (a leader that joined before it knew the topic's partitions, "No partition metadata for topic", or
    partitions added) is needed only while the leader's assignment snapshot differs from the metadata, and the
    leader's own assignment, in the middle of the round trip, makes them equal: a poll that timed out in between
    left the finished round trip unread, the member with no partitions and its heartbeats off, for good. A started
    round trip now keeps need_rejoin() true until it has been read, as the Java client's rejoinNeededOrPending()."""
    need_rejoin = coordinator.need_rejoin
    coordinator.need_rejoin = lambda: coordinator._join_task is not None or need_rejoin()


class KafkaPythonConsumer:
    def __init__(self, config: BusConfig, group_id: str) -> None:
        _throttle_client_logs()
        try:
            self._consumer = KafkaConsumer(**consumer_settings(config, group_id))
        except KafkaError as exc:
            raise BusError(_error_text(exc)) from exc
        _finish_started_joins(self._consumer._coordinator)

    def subscribe(
        self, topics: list[str], on_assign: OnAssign | None = None, on_revoke: OnRevoke | None = None
    ) -> None:
        self._consumer.subscribe(topics=topics, listener=_Listener(self._consumer, on_assign, on_revoke))

    def poll_batch(self, max_records: int, timeout: float) -> list[Record]:
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        except KafkaError as exc:
            if isinstance(exc.__cause__, BusError):
                raise exc.__cause__ from exc.__cause__.__cause__
            raise BusError(_error_text(exc)) from exc
        return [
            Record(
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                key=r.key,
                value=r.value or b"",
                headers=[(k, v or b"") for k, v in r.headers or []],
                timestamp_ms=r.timestamp,
            )
            for records in batches.values()
            for r in records
        ]

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(
                {_TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()}
            )
        except KafkaError as exc:
            raise BusError(_error_text(exc)) from exc

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class _Listener(AsyncConsumerRebalanceListener):
    """kafka-python runs these on its I/O thread while the caller blocks in poll() or close(), and re-raises their
    errors from poll(). The callbacks run in a thread of their own that the I/O loop awaits: kafka-python refuses
    a blocking call from its I/O thread, and a callback may block on the consumer (commit), as with librdkafka."""

    def __init__(self, consumer: KafkaConsumer, on_assign: OnAssign | None, on_revoke: OnRevoke | None) -> None:
        self._consumer = consumer
        self._on_assign = on_assign
        self._on_revoke = on_revoke

    async def on_partitions_revoked(self, revoked: set[_TopicPartition]) -> None:
        await self._in_thread(self._on_revoke, revoked)

    async def on_partitions_assigned(self, assigned: set[_TopicPartition]) -> None:
        starts = await self._in_thread(self._on_assign, assigned) or {}
        for tp in assigned:
            start = starts.get(TopicPartition(tp.topic, tp.partition))
            if start is not None:
                self._consumer.seek(tp, start)

    async def _in_thread(self, callback: OnAssign | OnRevoke | None, partitions: set[_TopicPartition]) -> Any:
        done = Future()
        net = self._consumer._net

        def run() -> None:
            try:
                result = run_rebalance_callback(callback, [TopicPartition(tp.topic, tp.partition) for tp in partitions])
            except BaseException as exc:
                error = exc  # the loop resolves it later; `exc` is unbound when the except block ends
                net.call_soon_threadsafe(lambda: done.failure(error))
            else:
                net.call_soon_threadsafe(lambda: done.success(result))

        threading.Thread(target=run, name="observ-rebalance-callback", daemon=True).start()
        return await done
