"""Settings shared by both bus backends, so switching client library is a one-word change."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    extra: dict[str, str | int | float | bool] = {}
    """Passed to the client library as is (librdkafka property names, or kafka-python keyword names)."""
