"""The bus contract: what the sidecar and the ingester rely on, whichever Kafka client is underneath."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Outcome of one produce; error names the client's error code so callers can tell permanent ones."""

    error: str | None
    topic: str
    partition: int
    offset: int


class BusError(Exception):
    """A bus operation failed; the message carries the client's error."""


class BusFull(BusError):
    """The local producer queue is full: poll() to drain delivery reports, then retry the same produce."""


_T = TypeVar("_T")

OnDelivery = Callable[[DeliveryReport], None]
OnAssign = Callable[[list[TopicPartition]], dict[TopicPartition, int]]
OnRevoke = Callable[[list[TopicPartition]], None]


class Producer(Protocol):
    def produce(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]], on_delivery: OnDelivery
    ) -> None:
        """Queue one record; raises BusFull when the local queue is full."""

    def poll(self, timeout: float) -> None:
        """Serve pending delivery callbacks in the caller's thread."""

    def flush(self, timeout: float) -> int:
        """Send everything queued and serve its callbacks; returns how many are still undelivered."""

    def close(self) -> None:
        """Release the client; records not flushed before are abandoned."""

    def healthcheck(self, timeout: float) -> bool:
        """True if cluster metadata could be fetched within timeout."""


class Consumer(Protocol):
    def subscribe(
        self, topics: list[str], on_assign: OnAssign | None = None, on_revoke: OnRevoke | None = None
    ) -> None:
        """Join the group. on_assign returns start offsets for some of the assigned partitions;
        the others start from the group's committed offset, or the earliest one.

        Callbacks run only while the caller is inside poll_batch() or close(), never concurrently with it
        (kafka-python runs them on its I/O thread while the caller waits), and never with an empty list."""

    def poll_batch(self, max_records: int, timeout: float) -> list[Record]:
        """Up to max_records records, in order within each partition; [] after timeout."""

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Synchronously commit, per partition, the offset of the next record to read."""

    def close(self) -> None:
        """Leave the group (triggers revocation) and release the client."""


def record_size(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    """Bytes a record holds in a producer queue, for the BusFull accounting."""
    return len(key or b"") + len(value) + sum(len(k) + len(v) for k, v in headers)


def run_rebalance_callback(
    callback: Callable[[list[TopicPartition]], _T] | None, partitions: list[TopicPartition]
) -> _T | None:
    """Same callback semantics for both clients: never called with an empty list (kafka-python reports
    those, librdkafka does not), and a failure leaves the client's poll as BusError."""
    if callback is None or not partitions:
        return None
    try:
        return callback(partitions)
    except Exception as exc:
        raise BusError(f"rebalance callback failed: {type(exc).__name__}: {exc}") from exc
