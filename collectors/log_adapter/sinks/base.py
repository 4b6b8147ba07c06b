"""What the topology needs from a sink: send with acknowledgement, and backpressure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from collectors.log_adapter.rows import RowBatch

Ack = Callable[[str | None], None]
"""Called once per batch, in the topology's thread: None when stored, else the permanent error."""


class Sink(Protocol):
    def send(self, batch: RowBatch, on_ack: Ack) -> bool:
        """Hand over a batch; False means the sink is full and the caller must poll and retry."""
        ...

    def poll(self, timeout: float) -> None:
        """Deliver acknowledgements; waits up to `timeout` seconds for one."""
        ...

    def flush(self, timeout: float) -> int:
        """Wait for outstanding batches; returns how many are still unacknowledged."""
        ...

    def ready(self) -> bool: ...

    def close(self) -> None: ...
