"""Settings shared by both bus backends, so switching client library is a one-word change."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MIB = 1024 * 1024


class BusConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bootstrap: str = "127.0.0.1:9092"
    backend: Literal["confluent", "kafka-python"] = "confluent"
    client_id: str = "observ"
    compression: Literal["zstd", "lz4", "gzip", "none"] = "zstd"
    linger_ms: int = Field(default=50, ge=0)
    """Batching delay: at 50 ms producers build large compressed batches (librdkafka's 5 ms default does not)."""
    max_queue_bytes: int = Field(default=32 * MIB, ge=1024)
    """Bound of the local producer queue; a full queue raises BusFull instead of growing memory."""
    delivery_timeout_ms: int = Field(default=0, ge=0)
    """0 = retry forever: with idempotence on, a broker outage delays records but never drops them."""
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    """A consumer group member silent this long is dropped. A member that leaves cleanly (close()) goes at
    once; one that crashed, or that lost the broker for longer than this, holds its partitions until it
    expires: the clients' 45 s default is the gap after a crash or a long broker outage. 10 s suits a laptop
    and a node; the broker refuses values outside its group.min/max.session.timeout.ms (6 s .. 30 min)."""
    heartbeat_interval_ms: int = Field(default=1000, ge=100)
    """How often a member tells the coordinator it is alive; well below session_timeout_ms (Kafka: at most a third)."""
    reconnect_backoff_max_ms: int = Field(default=2000, ge=10)
    """Longest wait between reconnection attempts to a broker that is down (the clients default to 10-30 s,
    which they reach after a minute-long outage and then add to the time to come back)."""
    metadata_max_age_ms: int = Field(default=5_000, ge=100)
    """How old a client's topic metadata may grow before it asks again. A consumer that joined before it knew all
    of a topic's partitions (a topic just created, partitions added) is assigned only those it knew until then: the
    clients' 5 min default made that minutes without data (kafka-python's range assignor: "No partition metadata
    for topic"). One small metadata request per client every 5 s."""
    extra: dict[str, str | int | float | bool] = {}
    """Passed to the client library as is (librdkafka property names, or kafka-python keyword names)."""

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> BusConfig:
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be at most a third of session_timeout_ms")
        return self
