from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from observ.bus import BusConfig


class KafkaSinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bus: BusConfig = BusConfig()
    topic: str = "observ.logs"
    retry_backoff_ms: int = 500
    """Wait before re-sending a batch whose delivery failed (broker errors are retried, never dropped)."""
