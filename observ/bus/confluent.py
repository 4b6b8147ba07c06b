"""Bus backend on confluent-kafka (librdkafka): the fast default."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer as _Consumer
from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as _Producer
from confluent_kafka import TopicPartition as _TopicPartition

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

log = logging.getLogger("observ.bus.confluent")
log.addFilter(ThrottleFilter())
"""librdkafka logs every failed reconnect (~20 a second while a broker is down): one line per kind per 10 s."""


def _error_text(err: KafkaError) -> str:
    """Code name first: callers match on it (e.g. MSG_SIZE_TOO_LARGE) to tell permanent errors."""
    return f"{err.name()}: {err.str()}"


def _int(value: int | None, default: int) -> int:
    return default if value is None else int(value)


def _headers(
    raw: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None,
) -> list[tuple[str, bytes]]:
    """A consumed message's headers. librdkafka hands a list of (name, bytes or None); the client's types are
    those produce() accepts, which also allow a dict and str values."""
    pairs = raw.items() if isinstance(raw, dict) else raw or []
    return [(k, v.encode() if isinstance(v, str) else v or b"") for k, v in pairs]


def producer_settings(config: BusConfig) -> dict[str, Any]:
    return {
        "bootstrap.servers": config.bootstrap,
        "client.id": config.client_id,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": config.compression,
        "linger.ms": config.linger_ms,
        "queue.buffering.max.kbytes": config.max_queue_bytes // 1024,
        "message.timeout.ms": config.delivery_timeout_ms,
        # Same key -> partition mapping as the Java clients and kafka-python.
        "partitioner": "murmur2_random",
        "reconnect.backoff.max.ms": config.reconnect_backoff_max_ms,
        "logger": log,
        **config.extra,
    }


def consumer_settings(config: BusConfig, group_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": config.bootstrap,
        "client.id": config.client_id,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": config.session_timeout_ms,
        "heartbeat.interval.ms": config.heartbeat_interval_ms,
        "reconnect.backoff.max.ms": config.reconnect_backoff_max_ms,
        "topic.metadata.refresh.interval.ms": config.metadata_max_age_ms,
        "logger": log,
        **config.extra,
    }


class ConfluentProducer:
    def __init__(self, config: BusConfig) -> None:
        self._limit = config.max_queue_bytes // 1024 * 1024
        self._producer = _Producer(producer_settings(config))
        self._closed = False

    def produce(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]], on_delivery: OnDelivery
    ) -> None:
        if record_size(key, value, headers) > self._limit:
            raise BusError(f"record of {len(value)} bytes can never fit the {self._limit}-byte producer queue")

        def report(err: KafkaError | None, msg: Message) -> None:
            if self._closed:
                return
            error = None if err is None else _error_text(err)
            on_delivery(DeliveryReport(error, str(msg.topic()), _int(msg.partition(), -1), _int(msg.offset(), -1)))

        try:
            # a copy typed as the client's (str | bytes | None) values: list is invariant
            self._producer.produce(topic, value=value, key=key, headers=list(headers), on_delivery=report)
        except BufferError as exc:
            raise BusFull(str(exc)) from exc
        except KafkaException as exc:
            raise BusError(_error_text(exc.args[0])) from exc

    def poll(self, timeout: float) -> None:
        self._producer.poll(timeout)

    def flush(self, timeout: float) -> int:
        return int(self._producer.flush(timeout))

    def close(self) -> None:
        """Abandons what is still queued without calling its callbacks, so close never hangs on a dead broker."""
        if self._closed:
            return
        self._closed = True
        self._producer.purge(in_queue=True, in_flight=True)
        self._producer.close()

    def healthcheck(self, timeout: float) -> bool:
        try:
            return bool(self._producer.list_topics(timeout=timeout).brokers)
        except KafkaException:
            return False


class ConfluentConsumer:
    def __init__(self, config: BusConfig, group_id: str) -> None:
        settings = consumer_settings(config, group_id)
        self._cooperative = "cooperative" in str(settings.get("partition.assignment.strategy", ""))
        self._consumer = _Consumer(settings)

    def subscribe(
        self, topics: list[str], on_assign: OnAssign | None = None, on_revoke: OnRevoke | None = None
    ) -> None:
        def assigned(consumer: _Consumer, partitions: list[_TopicPartition]) -> None:
            wanted = [TopicPartition(p.topic, p.partition) for p in partitions]
            starts = run_rebalance_callback(on_assign, wanted) or {}
            for p in partitions:
                start = starts.get(TopicPartition(p.topic, p.partition))
                if start is not None:
                    p.offset = start
            if self._cooperative:
                consumer.incremental_assign(partitions)
            else:
                consumer.assign(partitions)

        def revoked(consumer: _Consumer, partitions: list[_TopicPartition]) -> None:
            run_rebalance_callback(on_revoke, [TopicPartition(p.topic, p.partition) for p in partitions])

        self._consumer.subscribe(topics, on_assign=assigned, on_revoke=revoked, on_lost=revoked)

    def poll_batch(self, max_records: int, timeout: float) -> list[Record]:
        try:
            messages = self._consumer.consume(num_messages=max_records, timeout=timeout)
        except KafkaException as exc:
            raise BusError(_error_text(exc.args[0])) from exc
        records: list[Record] = []
        for m in messages:
            err = m.error()
            if err is not None:
                if err.fatal():
                    raise BusError(_error_text(err))
                # Transient (e.g. topic not created yet): the client retries by itself.
                log.warning("consumer: %s", _error_text(err))
                continue
            records.append(
                Record(
                    topic=str(m.topic()),
                    partition=_int(m.partition(), -1),
                    offset=_int(m.offset(), -1),
                    key=m.key(),
                    value=m.value() or b"",
                    headers=_headers(m.headers()),
                    timestamp_ms=m.timestamp()[1],
                )
            )
        return records

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            result = self._consumer.commit(
                offsets=[_TopicPartition(tp.topic, tp.partition, off) for tp, off in offsets.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            raise BusError(_error_text(exc.args[0])) from exc
        failed = [f"{p.topic}[{p.partition}]: {_error_text(p.error)}" for p in result or [] if p.error]
        if failed:
            raise BusError("commit failed: " + "; ".join(failed))

    def close(self) -> None:
        self._consumer.close()
