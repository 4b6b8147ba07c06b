"""`/loki/api/v1/patterns`: log templates of the selected streams with their line counts per step.

Loki mines at ingest time in its pattern ingester; observ mines at query time: the newest `max_lines` lines
of the query in [start, end) are read through the engine (its tenancy, limits and timeout), a page of
`max_entries` at a time, and fed oldest first to `observ.patterns.mine`, which mines each stream and level
apart as Loki does and answers with Loki's series (at least 30 lines, the 300 largest).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response

from observ.api.auth import Tenancy
from observ.api.config import PatternsConfig
from observ.api.loki import params as p
from observ.api.loki.events import ApiMetrics
from observ.api.loki.responses import encode_data
from observ.api.loki.routes import QueryEngine, answer, require_log_query
from observ.ingest_defaults import DETECTED_LEVEL, normalize_level
from observ.logql.errors import LogQLError
from observ.logql.limits import MAX_POINTS, TOO_MANY_POINTS
from observ.logql.results import LogEntry, StreamResult, Streams
from observ.patterns.mine import MinedLine, PatternSeries, mine

ROUTE = "loki_api_v1_patterns"
NOT_A_LOG_QUERY = "only log queries (a stream selector and an optional pipeline) are supported here"

StreamKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PatternsQuery:
    query: str
    start_ns: int
    end_ns: int
    step_ns: int


def patterns_query(form: p.Form, now_ns: int) -> PatternsQuery:
    """`loghttp.ParsePatternsQuery`: query, start/end/since as every range query, step defaulting to range/250."""
    start, end = p.parse_bounds(form, now_ns)
    if end < start:
        raise p.ParamError("end timestamp must not be before or equal to start time")
    text_step = p.get(form, "step")
    step = max((end - start) // p.NS // 250, 1) * p.NS if text_step == "" else p.parse_seconds_or_duration(text_step)
    if step <= 0:
        raise p.ParamError("zero or negative query resolution step widths are not accepted. Try a positive integer")
    if (end - start) // step > MAX_POINTS:
        raise p.ParamError(TOO_MANY_POINTS)
    return PatternsQuery(p.get(form, "query"), start, end, step)


def entry_level(labels: dict[str, str], entry: LogEntry) -> str:
    """Loki's `detected_level` (structured metadata); without one, the line's `level` label, as Loki's distributor
    derives it; `unknown` when neither is there."""
    level = entry.metadata.get(DETECTED_LEVEL) or labels.get(DETECTED_LEVEL) or labels.get("level") or ""
    return normalize_level(level) if level else "unknown"


def stream_key(labels: dict[str, str], entry: LogEntry) -> StreamKey:
    """The entry's stream labels: without the flag, a result stream's labels hold metadata and parsed ones too."""
    return tuple(sorted((k, v) for k, v in labels.items() if k not in entry.metadata and k not in entry.parsed))


def series_json(series: list[PatternSeries]) -> list[dict[str, object]]:
    """`marshal.WriteQueryPatternsResponseJSON`: pattern, level, samples as [unix seconds, count]."""
    return [
        {"pattern": s.pattern, "level": s.level, "samples": [[ms // 1000, n] for ms, n in s.samples]} for s in series
    ]


class LineReader:
    """The newest lines of a log query, page by page through the engine, grouped by stream."""

    def __init__(self, engine: QueryEngine, page: int) -> None:
        self.engine = engine
        self.page = page

    def _page(self, query: str, tenant: str, start_ns: int, end_ns: int) -> list[StreamResult]:
        result = self.engine.query_range(
            query, tenant=tenant, start_ns=start_ns, end_ns=end_ns, step_ns=p.NS, limit=self.page,
            direction="backward",
        )  # fmt: skip
        if not isinstance(result.data, Streams):
            raise LogQLError(NOT_A_LOG_QUERY)
        return result.data.streams

    def read(self, query: str, tenant: str, start_ns: int, end_ns: int, max_lines: int) -> list[list[MinedLine]]:
        """Each page ends where the last one's oldest line is (that nanosecond read again, its lines taken skipped);
        a nanosecond holding more lines than a page is read only that far."""
        streams: dict[StreamKey, list[MinedLine]] = {}
        seen: set[tuple[StreamKey, int, str]] = set()
        """Lines at the current page end's timestamp already taken."""
        left, end = max_lines, end_ns
        while left > 0 and end > start_ns:
            found = [
                (stream_key(s.labels, e), e, entry_level(s.labels, e)) for s in self._page(query, tenant, start_ns, end)
                for e in s.entries
            ]  # fmt: skip
            new = sorted((x for x in found if (x[0], x[1].ts, x[1].line) not in seen), key=lambda x: -x[1].ts)[:left]
            for key, e, level in new:
                streams.setdefault(key, []).append(MinedLine(e.ts, e.line, level))
            left -= len(new)
            if len(found) < self.page:
                break
            oldest = min(e.ts for _, e, _ in found)
            if not new:  # a whole page at one timestamp, all seen: the rest of that nanosecond is skipped
                end, seen = oldest, set()
                continue
            if oldest != end - 1:
                seen = set()
            seen |= {(k, e.ts, e.line) for k, e, _ in found if e.ts == oldest}
            end = oldest + 1
        return list(streams.values())


def patterns_router(
    engine: QueryEngine,
    tenancy: Tenancy,
    metrics: ApiMetrics,
    max_entries: int,
    config: PatternsConfig | None = None,
    now_ns: Callable[[], int] = time.time_ns,
) -> APIRouter:
    """GET and POST `/loki/api/v1/patterns`; `max_entries` is the engine's largest `limit`, the page size."""
    config = config or PatternsConfig()
    reader = LineReader(engine, max_entries)

    def work(tenant: str, form: p.Form) -> bytes:
        q = patterns_query(form, now_ns())
        require_log_query(q.query)
        streams = reader.read(q.query, tenant, q.start_ns, q.end_ns, config.max_lines)
        series = mine(streams, q.start_ns, q.end_ns, q.step_ns)
        return encode_data(series_json(series))

    async def endpoint(request: Request) -> Response:
        return await answer(request, ROUTE, tenancy, metrics, work)

    endpoint.__name__ = ROUTE
    r = APIRouter()
    for method in ("GET", "POST"):
        r.add_api_route("/loki/api/v1/patterns", endpoint, methods=[method], name=ROUTE)
    return r
