"""Lines from standard input (or any binary stream), with the tail source's API.

There is no durable checkpoint: a pipe cannot be re-read, so commit() only
tracks progress in memory and save_checkpoints() writes nothing. Lines read
but not yet acknowledged when the process dies are lost. Offsets count bytes
from 0 since the start, under the single source id `stdin`.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

from collectors.log_adapter.events import Metrics, SourceError
from collectors.log_adapter.sources.tail.lines import Lines, LineSplitter

SOURCE = "stdin"
PATH = "-"
_EOF = b""


class StdinSource:
    """A reader thread feeds a bounded queue, so read() never blocks and a slow sink slows the reader."""

    def __init__(
        self,
        metrics: Metrics,
        stream: BinaryIO | None = None,
        *,
        max_line_bytes: int = 1024 * 1024,
        read_chunk_bytes: int = 64 * 1024,
        partial_line_timeout_ms: int = 5000,
        queue_chunks: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.clock = clock
        self._stream: BinaryIO = stream if stream is not None else sys.stdin.buffer
        self._chunk = read_chunk_bytes
        self._partial = partial_line_timeout_ms / 1000
        self._split = LineSplitter(PATH, SOURCE, max_line_bytes)
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=queue_chunks)
        self._queued = 0
        self._lock = threading.Lock()
        self._eof = False
        self._committed = 0
        self._last_data = clock()
        self._thread = threading.Thread(target=self._pump, name="observ-stdin", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        """The stream ended and every byte of it was handed out."""
        return self._eof and self._queue.empty() and not self._split.pending

    @property
    def committed(self) -> int:
        return self._committed

    def _pump(self) -> None:
        read = getattr(self._stream, "read1", self._stream.read)
        try:
            while True:
                data = read(self._chunk)
                if not data:
                    break
                with self._lock:
                    self._queued += len(data)
                self._queue.put(data)
        except (OSError, ValueError) as e:
            SourceError("read_error", PATH, str(e)).emit(self.metrics)
        self._queue.put(_EOF)

    def read(self, budget_bytes: int) -> list[Lines]:
        out: list[Lines] = []
        now = self.clock()
        left = budget_bytes
        while left > 0 and not self._eof:
            try:
                data = self._queue.get_nowait()
            except queue.Empty:
                break
            if not data:
                self._eof = True
                break
            with self._lock:
                self._queued -= len(data)
            left -= len(data)
            self._last_data = now
            self.metrics.bytes_read.inc(len(data))
            lines = self._split.feed(data)
            if lines is not None:
                out.append(lines)
        if self._split.pending and (self._eof or now - self._last_data >= self._partial):
            lines = self._split.flush()
            if lines is not None:
                out.append(lines)
        n = sum(len(x.lines) for x in out)
        if n:
            self.metrics.lines_read.inc(n)
        self.metrics.lag_bytes.set(self.lag_bytes())
        return out

    def commit(self, source: str, offset: int) -> None:
        if source == SOURCE:
            self._committed = min(offset, self._split.consumed)

    def save_checkpoints(self) -> None:
        """Nothing to save: a stream cannot be resumed."""

    def lag_bytes(self) -> int:
        with self._lock:
            return self._queued

    def idle(self) -> bool:
        return self._queue.empty()

    def close(self) -> None:
        """The reader thread is a daemon: a read blocked on a terminal cannot be interrupted anyway."""
