"""The sidecar's run loop: tail -> parse -> batch -> sink, with acknowledged checkpoints.

One thread does everything so ordering per file is trivially kept; the sink's
client does the network I/O on its own threads. Memory is bounded by the bytes
in flight (handed to the sink, not yet acknowledged): past the bound the loop
stops reading and only polls the sink, so a slow or absent broker pauses the
files instead of growing a buffer.

The checkpoint of a source moves to its low watermark: the start of the oldest
entry not yet acknowledged, wherever it waits (parser buffers, an open batch,
in flight), or the end of what was read when nothing waits.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import add
from typing import Protocol

from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.events import Metrics
from collectors.log_adapter.rows import RowBatch, Rows
from collectors.log_adapter.sinks.base import Sink
from collectors.log_adapter.sources.tail.source import Lines
from collectors.log_adapter.transforms.enrich import StreamResolver
from collectors.log_adapter.transforms.pipeline import LinePipeline

log = logging.getLogger("observ.log_adapter")

_ENTRY_OVERHEAD = 64
"""Bytes counted per entry beside its line (timestamps, ids, offsets) when sizing batches."""


class Source(Protocol):
    """What the loop needs of a source (file tailer or stdin)."""

    def read(self, budget_bytes: int) -> list[Lines]: ...
    def commit(self, source: str, offset: int) -> None: ...
    def save_checkpoints(self) -> None: ...
    def lag_bytes(self) -> int: ...
    def close(self) -> None: ...


@dataclass(slots=True)
class _SourceState:
    source: str
    path: str
    pipeline: LinePipeline
    read_end: int = 0
    read_start: int = 0
    """Where this process started reading: no entry of either stream ends between it and the first one read."""
    inflight: dict[int, int] = field(default_factory=dict)
    """batch sequence number -> start offset of its first entry"""
    last_seen: float = 0.0
    last_end: dict[str, int] = field(default_factory=dict)
    """stdout/stderr -> end of the last entry routed: the next batch's `after`, so the ingester's
    stored ranges of a stream meet even where the other stream's lines sit between them."""


@dataclass(slots=True)
class _Open:
    batch: RowBatch
    first_start: int
    opened: float


class Topology:
    def __init__(
        self,
        config: AdapterConfig,
        source: Source,
        sink: Sink,
        metrics: Metrics,
        env: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.source = source
        self.sink = sink
        self.metrics = metrics
        self.clock = clock
        self.resolver = StreamResolver(config.tenant, config.service, config.labels, env or {})
        self._sources: dict[str, _SourceState] = {}
        self._open: dict[tuple[str, str], _Open] = {}
        self._inflight_bytes = 0
        self._seq = 0
        self._running = True
        self._last_checkpoint = 0.0
        self._last_expiry = 0.0

    # -- the loop ---------------------------------------------------------

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Run until stop() (or `until()` is true), then drain what can be drained and checkpoint."""
        try:
            while self._running and not (until and until()):
                self.step()
        finally:
            self.shutdown()

    def step(self) -> None:
        cfg = self.config
        now = self.clock()
        read_any = False
        room = cfg.max_inflight_bytes - self._inflight_bytes
        if room > 0:
            # Never read more than the room left: the bound then holds to within one read's entry overhead.
            for chunk in self.source.read(min(cfg.read_budget_bytes, room)):
                read_any = True
                self._feed(chunk, now)
        else:
            self.metrics.backpressure.inc()
        if now - self._last_expiry >= 0.1:
            self._last_expiry = now
            self._expire(now)
            self.metrics.lag_bytes.set(self.source.lag_bytes())
        self._ship_due(now)
        wait = 0.0 if read_any else 0.05
        self.sink.poll(wait)
        if now - self._last_checkpoint >= cfg.checkpoint_interval_ms / 1000:
            self._last_checkpoint = now
            self._checkpoint()
        self.metrics.inflight_bytes.set(self._inflight_bytes)

    def stop(self) -> None:
        self._running = False

    def shutdown(self) -> None:
        """Ship what is buffered, wait (bounded) for acks, then persist the checkpoint."""
        now = self.clock()
        for state in self._sources.values():
            state.pipeline.close()
            self._route(state, now)
        self._ship_due(now, force=True)
        left = self.sink.flush(self.config.shutdown_timeout_ms / 1000)
        if left:
            log.warning("%d batches unacknowledged at shutdown; they will be re-read on restart", left)
        self._checkpoint()
        self.source.close()
        self.sink.close()

    # -- reading and parsing ----------------------------------------------

    def _state(self, chunk: Lines, now: float) -> _SourceState:
        state = self._sources.get(chunk.source)
        if state is None:
            pipeline = LinePipeline(self.config.parse, self.metrics, chunk.path)
            state = self._sources[chunk.source] = _SourceState(chunk.source, chunk.path, pipeline)
            state.read_start = chunk.starts[0] if chunk.starts else 0
        state.last_seen = now
        return state

    def _feed(self, chunk: Lines, now: float) -> None:
        state = self._state(chunk, now)
        state.pipeline.feed_lines(chunk.lines, chunk.starts, chunk.ends, chunk.truncated)
        if chunk.ends:
            state.read_end = chunk.ends[-1]
        self._route(state, now)

    def _route(self, state: _SourceState, now: float) -> None:
        """The entries the pipeline completed, into the open batches of their streams; full batches are sent."""
        for name, rows in state.pipeline.take():
            self._append(state, name, rows, now)

    def _append(self, state: _SourceState, name: str, rows: Rows, now: float) -> None:
        """Cut `rows` into batches of at most batch_max_entries, closing one once its bytes (line characters plus
        an overhead per entry) reach batch_max_bytes, as adding them one at a time would."""
        key = (state.source, name)
        max_entries = self.config.batch_max_entries
        max_bytes = self.config.batch_max_bytes
        sizes = list(accumulate(map(add, map(len, rows.line), repeat(_ENTRY_OVERHEAD))))
        i, n = 0, len(sizes)
        while i < n:
            ob = self._open.get(key)
            if ob is None:
                stream = self.resolver.resolve(state.path, name)
                first = rows.start[i]
                after = min(state.last_end.get(name, state.read_start), first)
                ob = self._open[key] = _Open(RowBatch(stream, state.source, after), first, now)
            b = ob.batch
            base = sizes[i - 1] if i else 0
            # up to the first entry whose running size reaches the byte bound, or the entry bound
            j = min(bisect_left(sizes, max_bytes - b.nbytes + base, i) + 1, n, i + max_entries - len(b))
            b.rows.extend(rows, i, j)
            b.nbytes += sizes[j - 1] - base
            state.last_end[name] = rows.end[j - 1]
            i = j
            if len(b) >= max_entries or b.nbytes >= max_bytes:
                self._send(key, now)

    def _expire(self, now: float) -> None:
        wall = time.time_ns()
        for state in self._sources.values():
            state.pipeline.expire(wall)
            self._route(state, now)

    # -- shipping -------------------------------------------------------------

    def _ship_due(self, now: float, force: bool = False) -> None:
        linger = self.config.batch_linger_ms / 1000
        for key in [k for k, ob in self._open.items() if force or now - ob.opened >= linger]:
            self._send(key, now)

    def _send(self, key: tuple[str, str], now: float) -> None:
        ob = self._open.pop(key)
        batch = ob.batch
        batch.observed_ts = time.time_ns()
        state = self._sources[batch.source]
        self._seq += 1
        seq = self._seq
        nbytes = batch.nbytes
        count = len(batch)
        line_bytes = nbytes - count * _ENTRY_OVERHEAD

        def acked(error: str | None) -> None:
            state.inflight.pop(seq, None)
            self._inflight_bytes -= nbytes
            if error is None:
                self.metrics.entries_shipped.inc(count)
                self.metrics.bytes_shipped.inc(line_bytes)

        state.inflight[seq] = ob.first_start
        self._inflight_bytes += nbytes
        while not self.sink.send(batch, acked):
            self.metrics.backpressure.inc()
            self.sink.poll(0.05)
            if not self._running and self.clock() - now > self.config.shutdown_timeout_ms / 1000:
                raise TimeoutError("sink stayed full during shutdown")

    # -- checkpoints ---------------------------------------------------------

    def watermark(self, source: str) -> int:
        state = self._sources[source]
        marks = [state.read_end, *state.inflight.values()]
        pending = state.pipeline.pending_start()
        if pending is not None:
            marks.append(pending)
        marks.extend(ob.first_start for (src, _), ob in self._open.items() if src == source)
        return min(marks)

    def _checkpoint(self) -> None:
        now = self.clock()
        for source in list(self._sources):
            self.source.commit(source, self.watermark(source))
            state = self._sources[source]
            idle = not state.inflight and state.pipeline.pending_start() is None
            if idle and now - state.last_seen > 300 and not any(k[0] == source for k in self._open):
                del self._sources[source]
        self.source.save_checkpoints()
