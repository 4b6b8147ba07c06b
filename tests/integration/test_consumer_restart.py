"""How long a consumer group stays without a working member after a restart, against a real broker.

A member that leaves cleanly hands its partitions over at once; one that crashed, or that lost the broker
for longer than its session, holds them until its session expires. With the clients' 45 s default that was
the 40-46 s the ingester stood still; the bound below is behavioural (well under 45 s), not a benchmark.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from observ.bus import BusConfig, Consumer, TopicPartition, make_consumer, make_producer
from tests.integration.harness import ROOT, Proc, free_port, ingester, wait_for

pytestmark = pytest.mark.kafka

BOUND_S = 15.0
"""Well before the 45 s session timeout the clients default to."""

CHILD = """
import json, sys, time
from observ.bus import BusConfig, make_consumer
config = BusConfig.model_validate(json.loads(sys.argv[1]))
consumer = make_consumer(config, sys.argv[2])
assigned = []
consumer.subscribe([sys.argv[3]], on_assign=lambda ps: assigned.extend(ps) or {})
while True:
    consumer.poll_batch(10, 0.2)
    if assigned:
        print("assigned", flush=True)
        assigned.clear()
"""


@pytest.fixture(params=["confluent", "kafka-python"])
def bus(request: pytest.FixtureRequest, kafka_bootstrap: str) -> BusConfig:
    return BusConfig(bootstrap=kafka_bootstrap, backend=request.param)


def time_to_assignment(config: BusConfig, group: str, topic: str, made: list[Consumer]) -> float:
    """Seconds from subscribing until this new member owns every partition of the topic."""
    consumer = make_consumer(config, group)
    made.append(consumer)
    owned: set[TopicPartition] = set()

    def on_assign(partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        owned.update(partitions)
        return {}

    started = time.monotonic()
    consumer.subscribe([topic], on_assign=on_assign)
    while len(owned) < 2 and time.monotonic() - started < 90:
        consumer.poll_batch(10, 0.2)
    assert len(owned) == 2, "never got the partitions"
    return time.monotonic() - started


def member_in_child(config: BusConfig, group: str, topic: str) -> subprocess.Popen[str]:
    """A group member in another process, returned once it owns its partitions."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, config.model_dump_json(), group, topic],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    ready = threading.Event()
    threading.Thread(target=lambda: child.stdout and child.stdout.readline() and ready.set(), daemon=True).start()
    if not ready.wait(60):
        child.kill()
        raise AssertionError("the child consumer was never assigned")
    return child


def test_a_member_that_closed_hands_its_partitions_over_at_once(
    bus: BusConfig, kafka_topic: Callable[..., str], consumers: list[Consumer]
) -> None:
    """With the clients' old 45 s session: getting the partitions back sooner proves close() left the group."""
    topic = kafka_topic(partitions=2)
    config = bus.model_copy(update={"session_timeout_ms": 45_000})
    time_to_assignment(config, f"g-{topic}", topic, consumers)
    consumers.pop().close()
    gap = time_to_assignment(config, f"g-{topic}", topic, consumers)
    print(f"{bus.backend}: partitions back {gap:.1f}s after a clean close")
    assert gap < BOUND_S


def test_partitions_added_to_a_topic_reach_its_consumer_within_the_metadata_age(
    bus: BusConfig, kafka_broker, kafka_topic: Callable[..., str], consumers: list[Consumer]
) -> None:
    """A member knows a topic's partitions from its last metadata: a topic created just before it subscribed, or
    grown since, is assigned in full only after the next refresh (the clients' default: 5 min)."""
    from confluent_kafka.admin import AdminClient, NewPartitions

    topic = kafka_topic(partitions=1)
    consumer = make_consumer(bus, f"g-{topic}")
    consumers.append(consumer)
    owned: set[TopicPartition] = set()
    consumer.subscribe([topic], on_assign=lambda ps: owned.update(ps) or {})
    started = time.monotonic()
    while not owned and time.monotonic() - started < 60:
        consumer.poll_batch(10, 0.2)
    assert len(owned) == 1
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})  # kept: its futures die with it
    admin.create_partitions([NewPartitions(topic, 2)])[topic].result(30)
    grown = time.monotonic()
    while len({p.partition for p in owned}) < 2 and time.monotonic() - grown < 60:
        consumer.poll_batch(10, 0.2)
    gap = time.monotonic() - grown
    print(f"{bus.backend}: the new partition assigned {gap:.1f}s after it was added")
    assert {p.partition for p in owned} == {0, 1} and gap < BOUND_S


def test_a_crashed_member_holds_partitions_only_for_the_short_default_session(
    bus: BusConfig, kafka_topic: Callable[..., str], consumers: list[Consumer]
) -> None:
    topic = kafka_topic(partitions=2)
    child = member_in_child(bus, f"g-{topic}", topic)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    gap = time_to_assignment(bus, f"g-{topic}", topic, consumers)
    print(f"{bus.backend}: partitions back {gap:.1f}s after SIGKILL (session {bus.session_timeout_ms} ms)")
    assert gap < BOUND_S


def test_consumption_resumes_soon_after_a_broker_outage_longer_than_the_session(
    bus: BusConfig, kafka_topic: Callable[..., str], kafka_broker, consumers: list[Consumer]
) -> None:
    topic = kafka_topic(partitions=2)
    time_to_assignment(bus, f"g-{topic}", topic, consumers)
    consumer = consumers[-1]
    kafka_broker.stop()
    try:
        deadline = time.monotonic() + bus.session_timeout_ms / 1000 + 2
        while time.monotonic() < deadline:
            consumer.poll_batch(10, 0.2)  # the member loses its session meanwhile
    finally:
        kafka_broker.start()
    back = time.monotonic()
    producer = make_producer(bus)
    try:
        producer.produce(topic, b"k", b"after the outage", [], lambda report: None)
        assert producer.flush(30) == 0
    finally:
        producer.close()
    got: list[bytes] = []
    while not got and time.monotonic() - back < 90:
        got = [r.value for r in consumer.poll_batch(10, 0.2)]
    gap = time.monotonic() - back
    print(f"{bus.backend}: consuming again {gap:.1f}s after the broker came back")
    assert got == [b"after the outage"]
    # The member lost its session while the broker was away: the broker, back with the group as it was,
    # waits for that old member to expire before it hands the partitions to the rejoined one: about
    # session_timeout_ms + reconnect_backoff_max_ms (12 s by default), where the clients' defaults made it 45-75 s.
    assert gap < BOUND_S


def readyz(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def serve(tmp: Path, bootstrap: str, topic: str) -> Proc:
    port = free_port()
    args = [sys.executable, "-m", "observ.cli.main", "serve", "--data", str(tmp), "--port", str(port),
            "--bootstrap", bootstrap, "--topic", topic, "--group", f"g-{topic}"]  # fmt: skip
    return Proc(args, tmp / "serve.log", port)


@pytest.mark.parametrize("command", [ingester, serve], ids=["ingest", "serve --bootstrap"])
def test_the_ingester_leaves_its_group_on_sigterm(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic: Callable[..., str], command: Callable[..., Proc]
) -> None:
    """Had the first process not left, the second would wait out its session (10 s) before it is assigned."""
    topic = kafka_topic(partitions=2)
    first = command(tmp_path, kafka_bootstrap, topic)
    first.start()
    wait_for(lambda: readyz(first.port), 60, "first ingester assigned")
    assert first.stop() == 0
    second = command(tmp_path, kafka_bootstrap, topic)
    second.start()  # returns once /healthz answers, before the consumer joins
    started = time.monotonic()
    wait_for(lambda: readyz(second.port), 60, "second ingester assigned")
    gap = time.monotonic() - started
    print(f"observ {' '.join(second.args[3:4])}: partitions assigned {gap:.1f}s after a restart")
    assert gap < BusConfig().session_timeout_ms / 2000
    second.stop()
