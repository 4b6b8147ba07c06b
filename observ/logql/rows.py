"""Reading log rows for a query: the pushed-down SQL, time windows that let a limit stop early, labels per row."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import duckdb
import orjson

from observ.logql.errors import LimitError, LogQLError, QueryTimeout
from observ.logql.limits import QueryLimits
from observ.logql.results import QueryStats
from observ.logql.sql import COLUMN_LABELS, METADATA_COLUMNS, Pushdown, Where
from observ.store.logstore import LogStore

ROW_COLUMNS = (
    "ts, line, service, namespace, pod, container, stream, level, labels, trace_id, span_id, strlen(line), metadata"
)
"""Selected in this order; `Row` indexes follow it. Index 11 is the line's size in bytes (query stats)."""
FETCH = 4096


@dataclass(slots=True)
class Deadline:
    """The query's time budget. DuckDB work is interrupted from a timer; Python loops call `check`."""

    seconds: float
    started: float = field(default_factory=time.monotonic)
    expires: float = field(init=False)

    def __post_init__(self) -> None:
        self.expires = self.started + self.seconds

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def check(self) -> None:
        """Cheap enough to call per line and per stage."""
        if time.monotonic() >= self.expires:
            raise QueryTimeout(f"query timed out after {self.seconds:g}s")


class LabelCache:
    """Stream labels per distinct (columns, labels JSON): rows of one stream share one dict."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, ...], dict[str, str]] = {}

    def stream(self, key: tuple) -> dict[str, str]:
        """`key`: service, namespace, pod, container, stream, level, labels JSON — as selected."""
        labels = self._cache.get(key)
        if labels is None:
            labels = {name: v for name, v in zip(COLUMN_LABELS, key[:6], strict=True) if v}
            if key[6] and key[6] != "{}":
                for k, v in orjson.loads(key[6]).items():
                    if v != "" and v is not None:
                        labels[k] = str(v)
            labels = dict(sorted(labels.items()))
            self._cache[key] = labels
        return labels


def metadata(trace_id: str, span_id: str, pairs: str) -> dict[str, str]:
    """Structured metadata of a row, only non-empty values: the `metadata` JSON object's pairs, then the ID columns."""
    out = {k: v for k, v in orjson.loads(pairs).items() if v} if pairs != "{}" else {}
    out.update((name, v) for name, v in zip(METADATA_COLUMNS, (trace_id, span_id), strict=True) if v)
    return out


class Reader:
    """Runs compiled SQL against the store under a deadline and counts what it scanned."""

    def __init__(
        self, store: LogStore, deadline: Deadline, stats: QueryStats, limits: QueryLimits | None = None
    ) -> None:
        self.store = store
        self.deadline = deadline
        self.stats = stats
        self.limits = limits or QueryLimits()

    def execute(
        self, pd: Pushdown, template: str, before: list[object] | None = None, after: list[object] | None = None
    ) -> Iterator[list]:
        """Run `template` with `{source}` standing for the filtered relation, fetched in chunks.

        Positional parameters follow the text: `before` are those left of `{source}`, `after` those right of it.
        """
        rel = self.store.relation(pd.hints)
        self.stats.segments_scanned += rel.segments_scanned
        self.stats.segments_skipped += rel.segments_skipped
        source = f"(SELECT * FROM {rel.sql} AS l WHERE {pd.where.sql()}) AS s"
        sql = template.format(source=source)
        params = [*(before or []), *rel.params, *pd.where.params, *(after or [])]
        cur = self.store.cursor()
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise QueryTimeout(f"query timed out after {self.deadline.seconds:g}s")
        timer = threading.Timer(remaining, cur.interrupt)
        timer.start()
        try:
            try:
                cur.execute(sql, params)
                while chunk := cur.fetchmany(FETCH):
                    yield chunk
            except duckdb.InterruptException as e:
                raise QueryTimeout(f"query timed out after {self.deadline.seconds:g}s") from e
            except duckdb.InvalidInputException as e:
                raise LogQLError(_clean(str(e))) from e
            except (duckdb.OutOfMemoryException, duckdb.OutOfRangeException) as e:
                raise LimitError(f"the query needs more memory than the server allows: {_clean(str(e))}") from e
        finally:
            timer.cancel()
            cur.close()

    def windows(self, pd: Pushdown, backward: bool) -> Iterator[Pushdown]:
        """The query's range cut into growing slices, newest first for backward: a limit can stop early.

        A query whose needles or trace IDs let the store skip segments runs as one slice: it reads little
        anyway, and every slice costs a query.
        """
        start, end = pd.hints.start_ns, pd.hints.end_ns
        selective = pd.hints.trace_ids is not None or pd.hints.needles
        width = end - start if selective else max((end - start) // 64, 60 * 10**9)
        lo, hi = start, end
        while lo < hi:
            if backward:
                a, b = max(start, hi - width), hi
                hi = a
            else:
                a, b = lo, min(end, lo + width)
                lo = b
            width *= 2
            where = Where(list(pd.where.clauses), list(pd.where.params))
            where.add("ts >= ?", a)
            where.add("ts < ?", b)
            yield Pushdown(where, replace(pd.hints, start_ns=a, end_ns=b), pd.rest)


def _clean(message: str) -> str:
    """DuckDB's regex errors name the function; users wrote LogQL, so keep the reason only."""
    first = message.split("\n")[0]
    for prefix in ("Invalid Input Error: ", "Out of Memory Error: ", "Out of Range Error: "):
        first = first.removeprefix(prefix)
    return first
