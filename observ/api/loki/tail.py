"""Live tail over a websocket: poll the engine forward from the last entry sent, never send one twice.

Loki pushes from its ingesters; here the store is polled (every `poll_interval_s`). Entries that
arrive with a timestamp older than one already sent are not sent: `delay_for` (≤ 5 s) is the
client's way to wait for late writers, as in Loki.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from observ.api.loki.events import ApiMetrics
from observ.api.loki.params import NS, TailQuery
from observ.api.loki.responses import encode_tail
from observ.logql.errors import LogQLError, QueryTimeout
from observ.logql.results import LogEntry, StreamResult, Streams

if TYPE_CHECKING:  # routes imports this module
    from observ.api.loki.routes import QueryEngine

CLOSE_INTERNAL_ERROR = 1011
_MAX_CLOSE_REASON = 120
"""A close frame's reason must fit in 123 bytes."""

Key = tuple[int, tuple[tuple[str, str], ...], str]


def _key(labels: dict[str, str], e: LogEntry) -> Key:
    return (e.ts, tuple(sorted(labels.items())), e.line)


@dataclass(slots=True)
class TailCursor:
    """Where the tail stands: the newest timestamp sent and which entries at it were sent."""

    last_ts: int
    sent_at_last: set[Key] = field(default_factory=set)

    def take(self, streams: list[StreamResult]) -> tuple[list[StreamResult], int]:
        """The entries not sent yet, per stream, and how many entries were looked at."""
        fresh: list[StreamResult] = []
        seen = 0
        newest = self.last_ts
        keys_at_newest: set[Key] = set()
        for s in streams:
            keep = []
            for e in s.entries:
                seen += 1
                k = _key(s.labels, e)
                if e.ts < self.last_ts or (e.ts == self.last_ts and k in self.sent_at_last):
                    continue
                keep.append(e)
                if e.ts > newest:
                    newest, keys_at_newest = e.ts, {k}
                elif e.ts == newest:
                    keys_at_newest.add(k)
            if keep:
                fresh.append(StreamResult(s.labels, keep))
        if newest == self.last_ts:
            self.sent_at_last |= keys_at_newest
        else:
            self.last_ts, self.sent_at_last = newest, keys_at_newest
        return fresh, seen


class Tailer:
    """One tail connection: `first()` before the websocket is accepted (errors become HTTP 400), then `run()`."""

    def __init__(
        self,
        engine: QueryEngine,
        tenant: str,
        q: TailQuery,
        *,
        categorize: bool,
        poll_interval_s: float,
        metrics: ApiMetrics,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.engine = engine
        self.tenant = tenant
        self.q = q
        self.categorize = categorize
        self.poll_interval_s = poll_interval_s
        self.metrics = metrics
        self.now_ns = now_ns
        self.cursor = TailCursor(q.start_ns - 1)

    def _query(self, start_ns: int, end_ns: int, direction: str) -> list[StreamResult]:
        result = self.engine.query_range(
            self.q.query, tenant=self.tenant, start_ns=start_ns, end_ns=end_ns, step_ns=NS,
            limit=self.q.limit, direction=direction,
        )  # fmt: skip
        if not isinstance(result.data, Streams):
            raise LogQLError("tail only supports log queries")
        return result.data.streams

    def _end(self) -> int:
        return self.now_ns() - self.q.delay_for_s * NS

    async def first(self) -> list[StreamResult]:
        """The newest `limit` entries since `start` (Loki's historic batch); raises LogQLError for bad queries."""
        end = self._end()
        streams = await run_in_threadpool(self._query, self.q.start_ns, max(end, self.q.start_ns), "backward")
        fresh, _ = self.cursor.take(streams)
        return fresh

    async def _poll(self) -> tuple[list[StreamResult], bool]:
        """New entries, and whether the batch was full (more may be waiting)."""
        end = self._end()
        if end <= self.cursor.last_ts:
            return [], False
        streams = await run_in_threadpool(self._query, self.cursor.last_ts, end, "forward")
        before = self.cursor.last_ts
        fresh, seen = self.cursor.take(streams)
        full = seen >= self.q.limit
        if full and not fresh and self.cursor.last_ts == before:
            # More than `limit` entries share one timestamp: step past it rather than loop.
            self.cursor.last_ts += 1
            self.cursor.sent_at_last.clear()
        return fresh, full

    async def _send(self, ws: WebSocket, streams: list[StreamResult]) -> None:
        if streams:
            await ws.send_bytes(encode_tail(streams, categorize=self.categorize))
            self.metrics.tail_entries.inc(sum(len(s.entries) for s in streams))

    async def run(self, ws: WebSocket, first: list[StreamResult]) -> None:
        closed = asyncio.Event()

        async def watch() -> None:
            try:
                while (await ws.receive())["type"] != "websocket.disconnect":
                    pass
            finally:
                closed.set()

        watcher = asyncio.create_task(watch())
        self.metrics.tail_connections.inc()
        try:
            await self._send(ws, first)
            while not closed.is_set():
                fresh, full = await self._poll()
                await self._send(ws, fresh)
                if not full:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(closed.wait(), self.poll_interval_s)
        except (LogQLError, QueryTimeout) as e:
            await _close(ws, str(e))
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            pass
        finally:
            self.metrics.tail_connections.dec()
            watcher.cancel()


async def _close(ws: WebSocket, reason: str) -> None:
    text = reason.encode()[:_MAX_CLOSE_REASON].decode(errors="ignore")
    with contextlib.suppress(RuntimeError, ConnectionError):
        await ws.close(CLOSE_INTERNAL_ERROR, text)
