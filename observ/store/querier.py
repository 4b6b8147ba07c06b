"""The log store as the LogQL engine reads it: `LogQuerier` implements `observ.logql.querier.Querier`.

Each call compiles the scan (pushdown.py), runs the SQL against the store's pruned relation under the query's
deadline, and turns the stored columns back into labels: the engine never sees a column or a statement.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from math import gcd

import duckdb
import orjson

from observ.logql.errors import LimitError, LogQLError, QueryTimeout
from observ.logql.querier import BucketCount, Deadline, IndexStats, LogRow, QueryContext, Scan
from observ.logql.results import QueryStats
from observ.store.logstore import LogStore
from observ.store.pushdown import (
    COLUMN_LABELS,
    METADATA_COLUMNS,
    STREAM_COLUMNS,
    Pushdown,
    Where,
    compile_scan,
    label_sql,
    split_sql,
)
from observ.store.relation import CATALOG_MOVED

__all__ = ["ROW_COLUMNS", "LabelCache", "LogQuerier", "Reader", "metadata"]

ROW_COLUMNS = (
    "ts, line, service, namespace, pod, container, stream, level, labels, trace_id, span_id, strlen(line), metadata"
)
"""Selected in this order; `_rows` indexes follow it. Index 11 is the line's size in bytes (query stats)."""
FETCH = 4096
_REPLANS = 2
"""Times a statement is planned again when the segment catalog outran its relation before it ran."""
_ONCE = "OFFSET 0"
"""Ends a subquery whose computed column the outer query reads many times: DuckDB would otherwise inline the
expression (here the split's JSON parse) into every reference and evaluate it again for each."""
_FULL_GROUP = (*COLUMN_LABELS, "labels", *METADATA_COLUMNS, "metadata")
"""A series per stream and structured metadata: `LabelCache.stream` reads the first seven, `metadata` the rest."""


class LabelCache:
    """Stream labels per distinct (columns, labels JSON): rows of one stream share one dict."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, ...], dict[str, str]] = {}

    def stream(self, key: tuple) -> dict[str, str]:
        """`key`: the `STREAM_COLUMNS` as selected — the label columns, then the labels JSON."""
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

    def __init__(self, store: LogStore, deadline: Deadline, stats: QueryStats) -> None:
        self.store = store
        self.deadline = deadline
        self.stats = stats

    def execute(
        self, pd: Pushdown, template: str, before: list[object] | None = None, after: list[object] | None = None
    ) -> Iterator[list]:
        """Run `template` with `{source}` standing for the filtered relation, fetched in chunks.

        Positional parameters follow the text: `before` are those left of `{source}`, `after` those right of it.
        """
        for attempt in range(_REPLANS + 1):
            rel = self.store.relation(pd.hints)
            if attempt == 0:
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
            fetched = False
            try:
                try:
                    cur.execute(sql, params)
                    while chunk := cur.fetchmany(FETCH):
                        fetched = True
                        yield chunk
                    return
                except duckdb.InterruptException as e:
                    raise QueryTimeout(f"query timed out after {self.deadline.seconds:g}s") from e
                except duckdb.InvalidInputException as e:
                    if CATALOG_MOVED in str(e) and not fetched and attempt < _REPLANS:
                        continue  # the catalog outran the relation (relation.py): plan again on the new one
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
            yield Pushdown(where, replace(pd.hints, start_ns=a, end_ns=b))


class LogQuerier:
    """`observ.logql.querier.Querier` over one `LogStore`."""

    def __init__(self, store: LogStore) -> None:
        self.store = store

    def select_logs(
        self, ctx: QueryContext, scan: Scan, *, backward: bool, limit: int | None
    ) -> Iterator[list[LogRow]]:
        reader = self._reader(ctx)
        pd = compile_scan(scan)
        order = "DESC" if backward else "ASC"
        select = f"SELECT {ROW_COLUMNS} FROM {{source}} ORDER BY ts {order}, line {order}"
        cache = LabelCache()
        returned = 0
        # Newest slices first: a limit met in a recent slice never scans the older ones.
        for window in reader.windows(pd, backward):
            if limit is None:
                chunks = reader.execute(window, select)
            elif returned >= limit:
                return
            else:
                chunks = reader.execute(window, select + " LIMIT ?", after=[limit - returned])
            for chunk in chunks:
                returned += len(chunk)
                yield _rows(chunk, cache, ctx)

    def select_samples(self, ctx: QueryContext, scan: Scan) -> Iterator[list[LogRow]]:
        cache = LabelCache()
        template = f"SELECT {ROW_COLUMNS} FROM {{source}} ORDER BY ts"
        before: list[object] = []
        after: list[object] = []
        if scan.split is not None:
            # the rows count_buckets did not count (every row it cannot prove)
            sp = split_sql(scan.split, ())
            template = (
                f"SELECT {ROW_COLUMNS} FROM (SELECT *, {sp.j_sql} AS j FROM {{source}} {_ONCE}) AS sj"
                f" WHERE NOT coalesce({sp.safe}, FALSE) ORDER BY ts"
            )
            before, after = sp.j_params, sp.safe_params
        for chunk in self._reader(ctx).execute(compile_scan(scan), template, before, after):
            yield _rows(chunk, cache, ctx)

    def count_buckets(
        self, ctx: QueryContext, scan: Scan, *, base_ns: int, step_ns: int, range_ns: int, steps: int,
        group_by: tuple[str, ...] | None,
    ) -> Iterator[BucketCount]:  # fmt: skip
        g = gcd(step_ns, range_ns)
        a, b = step_ns // g, range_ns // g
        gparams: list[object] = []
        gexprs = list(_FULL_GROUP) if group_by is None else [label_sql(name, gparams) for name in group_by]
        total, counted, cols, source = "c", "count(*) AS c", "c, nb", "{source}"
        wrap_before: list[object] = []
        wrap_after: list[object] = []
        if scan.split is not None:
            # Only the rows `split_sql` proves; `c` counts those its filters keep, `call` all (for the stats).
            if group_by is None:
                raise ValueError("a split count needs its grouping")
            sp = split_sql(scan.split, group_by)
            gparams = [p for _, ps in sp.groups for p in ps]
            gexprs = [f"CASE WHEN keep THEN {e} ELSE '' END" for e, _ in sp.groups]
            total, cols = "CASE WHEN i < 0 THEN call ELSE c END", "c, call, nb"
            counted = "count(*) FILTER (WHERE keep) AS c, count(*) AS call"
            source = (
                f"(SELECT *, {sp.keep} AS keep FROM (SELECT *, {sp.j_sql} AS j FROM {{source}} {_ONCE}) AS sj"
                f" WHERE coalesce({sp.safe}, FALSE)) AS sk"
            )
            wrap_before, wrap_after = [*sp.keep_params, *sp.j_params], sp.safe_params
        aliases = [f"g{i}" for i in range(len(gexprs))]
        gsel = "".join(f"{e} AS {al}, " for e, al in zip(gexprs, aliases, strict=True))
        gnames = "".join(f"{al}, " for al in aliases)
        # k: the sub-bucket (base+(k-1)g, base+kg] of a row; window i covers sub-buckets i*a-b+1 .. i*a.
        # Integer division truncates in DuckDB, so every numerator is shifted to be positive first; the windows
        # of a sub-bucket are clipped to the steps before they are unnested (a long range never expands past n).
        # Window -1 collects every row once: the lines and bytes the query processed, for its stats.
        template = (
            f"SELECT {gnames} i, sum({total})::DOUBLE, sum(nb)::DOUBLE FROM ("
            f" SELECT {gnames} unnest(list_prepend(-1,"
            f"  range(greatest((k + ? + ? - 1) // ? - ?, 0), least((k + ? - 1) // ? + 1, ?)))) AS i, {cols} FROM ("
            f"  SELECT {gsel} (ts - ? + ? + ? - 1) // ? - ? AS k, {counted}, sum(strlen(line)) AS nb"
            f"   FROM {source} GROUP BY ALL)"
            ") WHERE i < ? GROUP BY ALL"
        )
        before = [a * b, a, a, b, b, a, steps, *gparams, base_ns, range_ns, g, g, b, *wrap_before]
        cache = LabelCache()
        ng = len(gexprs)
        for chunk in self._reader(ctx).execute(compile_scan(scan), template, before, [*wrap_after, steps]):
            ctx.deadline.check()
            for row in chunk:
                i, c, nb = row[ng], row[ng + 1], row[ng + 2]
                if i < 0:
                    ctx.stats.rows_scanned += int(c)
                    ctx.stats.bytes_scanned += int(nb or 0)
                    continue
                if not c:
                    continue  # rows the split's filters dropped
                if group_by is None:
                    labels = cache.stream(row[:7]) | metadata(row[7], row[8], row[9])
                else:
                    labels = {name: v for name, v in zip(group_by, row[:ng], strict=True) if v}
                yield BucketCount(labels, i, c, nb)

    def label_values(self, ctx: QueryContext, scan: Scan, name: str) -> set[str]:
        params: list[object] = []
        col = label_sql(name, params, metadata=False)
        template = f"SELECT DISTINCT {col} AS v FROM {{source}}"
        values: set[str] = set()
        for chunk in self._reader(ctx).execute(compile_scan(scan), template, params):
            values.update(r[0] for r in chunk if r[0])
        return values

    def streams(self, ctx: QueryContext, scan: Scan) -> list[dict[str, str]]:
        cache = LabelCache()
        template = f"SELECT DISTINCT {STREAM_COLUMNS} FROM {{source}}"
        return [cache.stream(row) for chunk in self._reader(ctx).execute(compile_scan(scan), template) for row in chunk]

    def index_stats(self, ctx: QueryContext, scan: Scan) -> IndexStats:
        template = (
            f"SELECT count(DISTINCT ({STREAM_COLUMNS})), count(*),"
            " coalesce(sum(strlen(line)), 0)::BIGINT FROM {source}"
        )
        streams = entries = nbytes = 0
        for chunk in self._reader(ctx).execute(compile_scan(scan), template):
            streams, entries, nbytes = chunk[0]
        chunks = ctx.stats.segments_scanned + (1 if entries else 0)
        return IndexStats(int(streams), int(chunks), int(entries), int(nbytes))

    def _reader(self, ctx: QueryContext) -> Reader:
        return Reader(self.store, ctx.deadline, ctx.stats)


def _rows(chunk: list[tuple], cache: LabelCache, ctx: QueryContext) -> list[LogRow]:
    """Counts the chunk in the query's stats and checks its deadline, as each chunk arrives."""
    ctx.deadline.check()
    ctx.stats.rows_scanned += len(chunk)
    ctx.stats.bytes_scanned += sum(row[11] for row in chunk)
    stream = cache.stream
    return [(row[0], row[1], stream(row[2:9]), metadata(row[9], row[10], row[12])) for row in chunk]


def _clean(message: str) -> str:
    """DuckDB's regex errors name the function; users wrote LogQL, so keep the reason only."""
    first = message.split("\n")[0]
    for prefix in ("Invalid Input Error: ", "Out of Memory Error: ", "Out of Range Error: "):
        first = first.removeprefix(prefix)
    return first
