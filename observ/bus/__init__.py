"""Kafka producer/consumer behind one small interface, with two client libraries to choose from.

Backend libraries are imported inside the factories: importing observ.bus stays cheap.
"""

from __future__ import annotations

from observ.bus.base import (
    BusError,
    BusFull,
    Consumer,
    DeliveryReport,
    OnAssign,
    OnDelivery,
    OnRevoke,
    Producer,
    Record,
    TopicPartition,
)
from observ.bus.config import BusConfig

__all__ = [
    "BusConfig",
    "BusError",
    "BusFull",
    "Consumer",
    "DeliveryReport",
    "OnAssign",
    "OnDelivery",
    "OnRevoke",
    "Producer",
    "Record",
    "TopicPartition",
    "make_consumer",
    "make_producer",
]


def make_producer(config: BusConfig) -> Producer:
    if config.backend == "kafka-python":
        from observ.bus.kafka_python import KafkaPythonProducer

        return KafkaPythonProducer(config)
    from observ.bus.confluent import ConfluentProducer

    return ConfluentProducer(config)


def make_consumer(config: BusConfig, group_id: str) -> Consumer:
    if config.backend == "kafka-python":
        from observ.bus.kafka_python import KafkaPythonConsumer

        return KafkaPythonConsumer(config, group_id)
    from observ.bus.confluent import ConfluentConsumer

    return ConfluentConsumer(config, group_id)
