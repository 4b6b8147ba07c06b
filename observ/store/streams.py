"""What Loki answers from its index rather than its chunks: the streams a selector matches in a window, and the
bytes of their lines.

Volume and detected labels need stream labels and line sizes only, so one GROUP BY over the stream columns
answers each; no line reaches Python. Both run through the query `Reader`: the segment pruning, the query
timeout and the limits of every other query apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from observ.logql.limits import QueryLimits
from observ.logql.querier import Deadline
from observ.logql.results import QueryStats
from observ.logql.syntax import ast
from observ.store.logstore import LogStore
from observ.store.pushdown import STREAM_COLUMNS, compile_pushdown
from observ.store.querier import LabelCache, Reader


@dataclass(frozen=True, slots=True)
class StreamBytes:
    labels: dict[str, str]
    bucket: int
    """Which step of the window: rows with `ts` in [origin + bucket * step, origin + (bucket + 1) * step)."""
    bytes: int
    """Bytes of the stream's lines in that step (UTF-8, as stored)."""


class StreamIndex:
    """Stream-level answers over one log store, under the query limits."""

    def __init__(self, store: LogStore, limits: QueryLimits) -> None:
        self.store = store
        self.limits = limits

    def volumes(
        self, selector: ast.Selector, *, tenant: str, start_ns: int, end_ns: int, origin_ns: int, step_ns: int
    ) -> list[StreamBytes]:
        """Line bytes per matching stream and step, for rows in [start, end); only (stream, step) pairs with lines."""
        reader = self._reader(start_ns, end_ns)
        pd = compile_pushdown(ast.LogExpr(selector), tenant, start_ns, end_ns)
        template = f"SELECT {STREAM_COLUMNS}, (ts - ?) // ?, sum(strlen(line))::BIGINT FROM {{source}} GROUP BY ALL"
        cache = LabelCache()
        return [
            StreamBytes(cache.stream(row[:7]), int(row[7]), int(row[8]))
            for chunk in reader.execute(pd, template, [origin_ns, step_ns])
            for row in chunk
        ]

    def streams(self, selector: ast.Selector, *, tenant: str, start_ns: int, end_ns: int) -> list[dict[str, str]]:
        """The labels of every stream with a line in [start, end) that `selector` matches."""
        reader = self._reader(start_ns, end_ns)
        pd = compile_pushdown(ast.LogExpr(selector), tenant, start_ns, end_ns)
        cache = LabelCache()
        return [cache.stream(row) for chunk in reader.execute(pd, f"SELECT DISTINCT {STREAM_COLUMNS} FROM {{source}}")
                for row in chunk]  # fmt: skip

    def _reader(self, start_ns: int, end_ns: int) -> Reader:
        """Loki's query length limit applies to index queries too (its limits middleware runs before them)."""
        self.limits.check_range(start_ns, end_ns)
        return Reader(self.store, Deadline(self.limits.query_timeout_s), QueryStats())
