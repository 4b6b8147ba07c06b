"""In-process sink for the single-node `observ up`: batches go straight into the store, no broker."""

from __future__ import annotations

from typing import Protocol

from collectors.log_adapter.sinks.base import Ack
from observ.model import Batch, DecodedBatch


class Appender(Protocol):
    def append(self, batches: list[DecodedBatch]) -> object: ...


class StoreSink:
    """Synchronous: a batch is acknowledged once its transaction committed."""

    def __init__(self, store: Appender) -> None:
        self._store = store
        self._acks: list[Ack] = []

    def send(self, batch: Batch, on_ack: Ack) -> bool:
        self._store.append([DecodedBatch.from_batch(batch)])
        self._acks.append(on_ack)
        return True

    def poll(self, timeout: float) -> None:
        acks, self._acks = self._acks, []
        for ack in acks:
            ack(None)

    def flush(self, timeout: float) -> int:
        self.poll(0)
        return 0

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        self.poll(0)
