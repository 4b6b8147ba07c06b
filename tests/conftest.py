"""Shared fixtures: one real Kafka broker per pytest session (see scripts/kafka_broker.py)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis' per-example deadline is a timed assertion: on two shared cores under the suite's own load an
# example may take longer than 200 ms without anything being wrong. Examples are still bounded by the suite.
settings.register_profile("observ", deadline=None)
settings.load_profile("observ")

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from kafka_broker import KafkaBroker, fetch  # noqa: E402

from tests.prometheus_fixture import *  # noqa: E402, F403


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.x loads its protocol schemas with the deprecated importlib.resources API.
    config.addinivalue_line("filterwarnings", r"ignore:.*is deprecated\. Use files\(\) instead:DeprecationWarning")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """Tests may stop() and start() it: it comes back on the same port with the same data."""
    fetch(log=False)
    broker = KafkaBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.destroy()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def kafka_topic(kafka_broker: KafkaBroker) -> Callable[..., str]:
    """Factory: kafka_topic(partitions=1) creates a fresh, uniquely named topic and returns its name."""
    # A test that stopped the broker and failed before restarting it must not break the next ones.
    kafka_broker.start()

    def create(partitions: int = 1) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        kafka_broker.create_topic(name, partitions)
        return name

    return create
