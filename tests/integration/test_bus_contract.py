"""The observ.bus contract, checked against a real broker for both client libraries."""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from observ.bus import (
    BusConfig,
    BusError,
    BusFull,
    Consumer,
    DeliveryReport,
    Producer,
    Record,
    TopicPartition,
    make_consumer,
    make_producer,
)

pytestmark = pytest.mark.kafka

BACKENDS = ["confluent", "kafka-python"]
ZSTD = 4
"""Compression codec id in the low bits of a record batch's attributes."""
WAIT = 60.0
"""Upper bound for loops that wait on the broker; reaching it fails the test, it is never the expectation."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bus(kafka_bootstrap: str, backend: str) -> Callable[..., BusConfig]:
    def config(**overrides: object) -> BusConfig:
        return BusConfig.model_validate({"bootstrap": kafka_bootstrap, "backend": backend, **overrides})

    return config


@pytest.fixture
def producers() -> Iterator[list[Producer]]:
    made: list[Producer] = []
    yield made
    for p in made:
        p.close()


def new_producer(config: BusConfig, made: list[Producer]) -> Producer:
    made.append(make_producer(config))
    return made[-1]


def new_consumer(config: BusConfig, group: str, made: list[Consumer], topic: str | None = None) -> Consumer:
    """A consumer in group; subscribed to topic when one is given."""
    made.append(make_consumer(config, group))
    if topic is not None:
        made[-1].subscribe([topic])
    return made[-1]


def produce(
    producer: Producer,
    topic: str,
    items: list[tuple[bytes, bytes, list[tuple[str, bytes]]]],
    reports: list[DeliveryReport],
) -> None:
    """Produce everything, honouring BusFull backpressure the way callers must."""
    for key, value, headers in items:
        while True:
            try:
                producer.produce(topic, key, value, headers, reports.append)
                break
            except BusFull:
                producer.poll(0.1)


def consume(consumer: Consumer, count: int) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + WAIT
    while len(records) < count and time.monotonic() < deadline:
        records.extend(consumer.poll_batch(500, timeout=0.5))
    return records


def segment_codecs(log_dir: Path) -> set[int]:
    """Compression codecs of the record batches the broker stored, read from its segment files."""
    codecs: set[int] = set()
    for segment in log_dir.glob("*.log"):
        data = segment.read_bytes()
        pos = 0
        while pos + 23 <= len(data):
            (length,) = struct.unpack_from(">i", data, pos + 8)
            (attributes,) = struct.unpack_from(">h", data, pos + 21)
            codecs.add(attributes & 0x7)
            pos += 12 + length
    return codecs


def test_records_round_trip_byte_exact_with_zstd(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], kafka_broker, producers, consumers
) -> None:
    topic = kafka_topic(partitions=1)
    items = [
        (b"\x00key\xff", os.urandom(1000) * 100, [("tenant", b"acme"), ("bin", bytes(range(256)))]),
        (b"k2", b"", [("schema", b"1"), ("schema", b"2")]),
        (b"k3", "żółw ✓".encode() * 1000, []),
    ]
    reports: list[DeliveryReport] = []
    producer = new_producer(bus(compression="zstd"), producers)
    produce(producer, topic, items, reports)
    assert producer.flush(WAIT) == 0
    assert [r.error for r in reports] == [None, None, None]

    records = consume(new_consumer(bus(), "g-roundtrip", consumers, topic), len(items))

    assert [(r.key, r.value, r.headers) for r in records] == items
    assert [r.offset for r in records] == [0, 1, 2]
    assert all(r.timestamp_ms > 0 for r in records)
    assert segment_codecs(kafka_broker.data_dir / "logs" / f"{topic}-0") == {ZSTD}


def test_per_key_order_is_kept_across_partitions(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], producers, consumers
) -> None:
    topic = kafka_topic(partitions=4)
    keys = [f"stream-{i}".encode() for i in range(12)]
    items = [(key, f"{key.decode()}:{seq}".encode(), []) for seq in range(40) for key in keys]
    reports: list[DeliveryReport] = []
    producer = new_producer(bus(), producers)
    produce(producer, topic, items, reports)
    assert producer.flush(WAIT) == 0

    records = consume(new_consumer(bus(), "g-order", consumers, topic), len(items))

    assert len(records) == len(items)
    by_key: dict[bytes, list[int]] = {}
    partitions: dict[bytes, set[int]] = {}
    for r in records:
        assert r.key is not None
        by_key.setdefault(r.key, []).append(int(r.value.split(b":")[1]))
        partitions.setdefault(r.key, set()).add(r.partition)
    assert all(seqs == list(range(40)) for seqs in by_key.values())
    assert all(len(p) == 1 for p in partitions.values())
    assert len(set().union(*partitions.values())) > 1


def test_delivery_reports_fire_only_from_poll_or_flush_with_partition_and_offset(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], producers
) -> None:
    topic = kafka_topic(partitions=1)
    producer = new_producer(bus(linger_ms=0), producers)
    reports: list[DeliveryReport] = []
    threads: set[int] = set()

    def on_delivery(report: DeliveryReport) -> None:
        threads.add(threading.get_ident())
        reports.append(report)

    for i in range(20):
        producer.produce(topic, b"k", str(i).encode(), [], on_delivery)
    time.sleep(1.0)  # time for the client's I/O thread to finish the sends; callbacks must still wait
    assert reports == []

    assert producer.flush(WAIT) == 0
    assert [r.error for r in reports] == [None] * 20
    assert [(r.topic, r.partition) for r in reports] == [(topic, 0)] * 20
    assert [r.offset for r in reports] == list(range(20))
    assert threads == {threading.get_ident()}


def test_on_assign_offsets_make_the_consumer_replay_from_there(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], producers, consumers
) -> None:
    topic = kafka_topic(partitions=2)
    producer = new_producer(bus(), producers)
    produce(producer, topic, [(key, b"%d" % i, []) for key in (b"a", b"d") for i in range(20)], [])
    assert producer.flush(WAIT) == 0
    part_a, part_d = (placement(producer, topic, [key])[key] for key in (b"a", b"d"))
    assert part_a != part_d

    assigned: list[list[TopicPartition]] = []
    inside_poll: list[bool] = []
    polling = threading.Event()

    def on_assign(partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        assigned.append(sorted(partitions, key=lambda tp: tp.partition))
        inside_poll.append(polling.is_set())
        return {TopicPartition(topic, part_a): 12}

    consumer = new_consumer(bus(), "g-assign", consumers)
    consumer.subscribe([topic], on_assign=on_assign)
    records: list[Record] = []
    deadline = time.monotonic() + WAIT
    while len(records) < 8 + 20 + 2 and time.monotonic() < deadline:
        polling.set()
        records += consumer.poll_batch(500, timeout=0.5)
        polling.clear()
    records = [r for r in records if r.value != b"probe"]

    assert assigned == [[TopicPartition(topic, 0), TopicPartition(topic, 1)]]
    # Never concurrently with the caller: only while it is inside poll_batch().
    assert inside_poll == [True]
    assert [r.value for r in records if r.key == b"a"] == [b"%d" % i for i in range(12, 20)]
    assert [r.value for r in records if r.key == b"d"] == [b"%d" % i for i in range(20)]


def test_commit_then_new_consumer_in_group_resumes_after_it(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], producers, consumers
) -> None:
    topic = kafka_topic(partitions=1)
    producer = new_producer(bus(), producers)
    produce(producer, topic, [(b"k", b"%d" % i, []) for i in range(20)], [])
    assert producer.flush(WAIT) == 0
    tp = TopicPartition(topic, 0)

    first = new_consumer(bus(), "g-commit", consumers)
    first.subscribe([topic])
    assert len(consume(first, 10)) >= 10
    first.commit({tp: 10})
    first.close()
    consumers.remove(first)

    revoked: list[list[TopicPartition]] = []
    second = new_consumer(bus(), "g-commit", consumers)
    second.subscribe([topic], on_assign=lambda parts: {}, on_revoke=revoked.append)
    records = consume(second, 10)

    assert [r.offset for r in records] == list(range(10, 20))
    assert [r.value for r in records] == [b"%d" % i for i in range(10, 20)]
    second.close()
    consumers.remove(second)
    assert revoked == [[tp]]


def test_full_queue_raises_bus_full_until_polled(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], producers
) -> None:
    topic = kafka_topic(partitions=1)
    producer = new_producer(bus(max_queue_bytes=1024, linger_ms=0), producers)
    reports: list[DeliveryReport] = []
    value = b"x" * 600

    producer.produce(topic, b"k", value, [], reports.append)
    with pytest.raises(BusFull):
        producer.produce(topic, b"k", value, [], reports.append)
    with pytest.raises(BusError) as too_big:
        producer.produce(topic, b"k", b"x" * 2000, [], reports.append)
    assert not isinstance(too_big.value, BusFull)

    assert producer.flush(WAIT) == 0
    producer.produce(topic, b"k", value, [], reports.append)
    assert producer.flush(WAIT) == 0
    assert [(r.error, r.offset) for r in reports] == [(None, 0), (None, 1)]


def test_rebalance_callback_error_surfaces_from_poll_batch(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], consumers
) -> None:
    topic = kafka_topic(partitions=1)

    def on_assign(partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        raise RuntimeError("offsets unavailable")

    consumer = new_consumer(bus(), "g-error", consumers)
    consumer.subscribe([topic], on_assign=on_assign)
    deadline = time.monotonic() + WAIT
    with pytest.raises(BusError) as raised:
        while time.monotonic() < deadline:
            consumer.poll_batch(10, timeout=0.5)
    assert "offsets unavailable" in repr(raised.value) + repr(raised.value.__cause__)


def test_records_produced_while_broker_is_down_arrive_exactly_once(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], kafka_broker, producers, consumers
) -> None:
    topic = kafka_topic(partitions=2)
    producer = new_producer(bus(), producers)
    reports: list[DeliveryReport] = []
    items = [(b"k%d" % (i % 5), b"%d" % i, []) for i in range(300)]
    produce(producer, topic, items[:100], reports)
    assert producer.flush(WAIT) == 0
    assert producer.healthcheck(5.0)

    kafka_broker.stop()
    try:
        produce(producer, topic, items[100:], reports)
        producer.poll(1.0)
        assert not producer.healthcheck(1.0)
    finally:
        kafka_broker.start()
    assert producer.flush(WAIT) == 0

    assert len(reports) == 300
    assert {r.error for r in reports} == {None}
    consumer = new_consumer(bus(), "g-outage", consumers, topic)
    records = consume(consumer, 300)
    # One more poll: duplicates, if any, would arrive right behind the originals.
    records += consumer.poll_batch(500, timeout=2.0)
    assert sorted(int(r.value) for r in records) == list(range(300))


def placement(producer: Producer, topic: str, keys: list[bytes]) -> dict[bytes, int]:
    """Partition of each key, from delivery reports (which arrive in completion order, not produce order)."""
    found: dict[bytes, int] = {}
    for key in keys:
        producer.produce(topic, key, b"probe", [], lambda report, key=key: found.update({key: report.partition}))
    assert producer.flush(WAIT) == 0
    return found


def test_both_backends_map_a_key_to_the_same_partition(
    kafka_bootstrap: str, kafka_topic: Callable[..., str], producers
) -> None:
    topic = kafka_topic(partitions=6)
    keys = [f"stream-{i}".encode() for i in range(30)]
    confluent, kafka_python = (
        placement(new_producer(BusConfig(bootstrap=kafka_bootstrap, backend=backend), producers), topic, keys)
        for backend in BACKENDS
    )
    assert confluent == kafka_python
    assert len(set(confluent.values())) > 1


def poll_until_owning(consumer: Consumer, owned: set[TopicPartition], count: int) -> None:
    """Polls without blocking, as a caller with other work between polls does: a rebalance then outlives each poll."""
    deadline = time.monotonic() + WAIT
    while len(owned) < count and time.monotonic() < deadline:
        consumer.poll_batch(10, timeout=0)
        time.sleep(0.01)


def test_a_consumer_polling_without_blocking_is_assigned_a_topic_created_just_before(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], consumers
) -> None:
    """kafka-python's leader joins before it has the new topic's partitions and assigns nothing; the rebalance its
    next metadata asks for must still reach the caller when it completes between two polls."""
    topic = kafka_topic(partitions=3)
    owned: set[TopicPartition] = set()
    consumer = new_consumer(bus(), f"g-{topic}", consumers)
    consumer.subscribe([topic], on_assign=lambda parts: owned.update(parts) or {})
    poll_until_owning(consumer, owned, 3)
    assert owned == {TopicPartition(topic, p) for p in range(3)}


def test_a_consumer_polling_without_blocking_is_assigned_partitions_added_to_its_topic(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], kafka_broker, consumers
) -> None:
    """The rebalance that partitions added to a topic cause, seen at the next metadata refresh: with kafka-python 3.0
    it was lost, every time, when it completed between two polls (the member kept partition 0 alone, for good)."""
    from confluent_kafka.admin import AdminClient, NewPartitions

    topic = kafka_topic(partitions=1)
    owned: set[TopicPartition] = set()
    consumer = new_consumer(bus(), f"g-{topic}", consumers)
    consumer.subscribe([topic], on_assign=lambda parts: owned.update(parts) or {})
    poll_until_owning(consumer, owned, 1)
    assert owned == {TopicPartition(topic, 0)}
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})  # kept: its futures die with it
    admin.create_partitions([NewPartitions(topic, 3)])[topic].result(WAIT)
    poll_until_owning(consumer, owned, 3)
    assert owned == {TopicPartition(topic, p) for p in range(3)}


def test_a_commit_from_on_revoke_is_where_the_next_member_starts(
    bus: Callable[..., BusConfig], kafka_topic: Callable[..., str], producers, consumers
) -> None:
    """The ingester commits from its rebalance callbacks; kafka-python refuses a blocking call from the thread that
    runs them, so the bus runs them in one of their own."""
    topic = kafka_topic(partitions=1)
    producer = new_producer(bus(), producers)
    produce(producer, topic, [(b"k", b"%d" % i, []) for i in range(10)], [])
    assert producer.flush(WAIT) == 0
    tp = TopicPartition(topic, 0)

    first = new_consumer(bus(), f"g-{topic}", consumers)
    first.subscribe([topic], on_revoke=lambda parts: first.commit({p: 6 for p in parts}))
    assert len(consume(first, 10)) == 10
    first.close()
    consumers.remove(first)

    records = consume(new_consumer(bus(), f"g-{topic}", consumers, topic), 4)
    assert [(r.partition, r.offset) for r in records] == [(tp.partition, o) for o in range(6, 10)]
