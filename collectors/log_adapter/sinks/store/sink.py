"""In-process sink for the single-node `observ up`: batches go straight into the store, no broker.

Only `observ up` imports it (it brings DuckDB in); the sidecar's own import path never does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from collectors.log_adapter.rows import RowBatch
from collectors.log_adapter.sinks.base import Ack
from observ import ingest_defaults
from observ.ingest_defaults import LOKI_DEFAULTS, IngestDefaults
from observ.model import Batch, DecodedBatch
from observ.store.logstore import Prepared, StoreWriteError
from observ.throttle import LogThrottle

log = logging.getLogger("observ.log_adapter.store")


class Writer(Protocol):
    def prepare(self, batches: list[DecodedBatch]) -> Prepared: ...
    def write(self, prepared: Prepared) -> object: ...
    def maybe_compact(self) -> object: ...
    def discard(self, prepared: Prepared) -> None: ...


class StoreSink:
    """A batch is acknowledged once its transaction committed.

    When the store cannot write (disk full), batches wait here in order and are retried; they stay
    in flight, so the topology stops reading at its in-flight bound and the checkpoint stays behind
    them. Nothing is acknowledged, skipped or dropped while the store is failing. Each batch gets Loki 3's
    `service_name` and `detected_level` (`defaults`) on its way in, as the Kafka ingester adds them.
    """

    def __init__(
        self,
        store: Writer,
        retry_max_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        defaults: IngestDefaults = LOKI_DEFAULTS,
    ) -> None:
        self._store = store
        self._defaults = defaults
        self._sleep = sleep
        self._acks: list[Ack] = []
        self._waiting: list[tuple[Prepared, Ack]] = []
        self._retry_at = 0.0
        self._delay = 0.1
        self._retry_max_s = retry_max_s
        self._throttle = LogThrottle(every_s=10.0)

    def send(self, batch: RowBatch | Batch, on_ack: Ack) -> bool:
        raw = batch.decoded() if isinstance(batch, RowBatch) else DecodedBatch.from_batch(batch)
        decoded = ingest_defaults.apply(raw, self._defaults)
        self._waiting.append((self._store.prepare([decoded]), on_ack))
        self._write_waiting()
        return True

    def _write_waiting(self) -> None:
        """Write waiting batches in the order they were prepared; stop at the first that fails."""
        if time.monotonic() < self._retry_at:
            return
        while self._waiting:
            prepared, ack = self._waiting[0]
            try:
                self._store.write(prepared)
            except StoreWriteError as e:
                if not self._throttle.suppressed("write"):
                    log.error("cannot write to the store; %d batches wait and are retried: %s", len(self._waiting), e)
                self._retry_at = time.monotonic() + self._delay
                self._delay = min(self._delay * 2, self._retry_max_s)
                return
            self._delay = 0.1
            self._waiting.pop(0)
            self._acks.append(ack)
            self._store.maybe_compact()

    def poll(self, timeout: float) -> None:
        """As a producer's poll: delivers acknowledgements, or waits up to `timeout` when it has none to deliver
        (the topology's idle wait: without it an idle `observ up` spins a core)."""
        self._write_waiting()
        acks, self._acks = self._acks, []
        for ack in acks:
            ack(None)
        if not acks and timeout > 0:
            self._sleep(timeout)

    def flush(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self._waiting and time.monotonic() < deadline:
            time.sleep(min(0.05, self._retry_max_s))
            self.poll(0)
        self.poll(0)
        return len(self._waiting)

    def ready(self) -> bool:
        return not self._waiting

    def close(self) -> None:
        """Batches still waiting are given up (not acknowledged: the checkpoint re-reads them)."""
        self.poll(0)
        for prepared, _ in reversed(self._waiting):
            self._store.discard(prepared)
        self._waiting.clear()
