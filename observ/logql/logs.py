"""Log queries: the newest (or oldest) `limit` entries after the pipeline, grouped into streams."""

from __future__ import annotations

from observ.logql.errors import LimitError
from observ.logql.log.pipeline import Pipeline
from observ.logql.querier import Querier, QueryContext, plan_scan
from observ.logql.results import LogEntry, StreamResult, Streams
from observ.logql.series import key_of
from observ.logql.syntax import ast


def select_logs(
    querier: Querier,
    ctx: QueryContext,
    log: ast.LogExpr,
    tenant: str,
    start_ns: int,
    end_ns: int,
    limit: int,
    backward: bool,
    max_bytes: int = 100 * 2**20,
) -> Streams:
    """`max_bytes`: the lines and parsed labels returned may not pass it (a template can make every line large)."""
    scan = plan_scan(log, tenant, start_ns, end_ns)
    entries: list[tuple[dict[str, str], LogEntry]] = []
    size = 0
    check = ctx.deadline.check
    pipeline = Pipeline(scan.rest, check=check) if scan.rest else None
    chunks = querier.select_logs(ctx, scan, backward=backward, limit=limit if pipeline is None else None)
    for chunk in chunks:
        for ts, line, stream, md in chunk:
            labels = stream | md if md else stream
            if pipeline is None:
                entries.append((labels, LogEntry(ts, line, md)))
                continue
            check()  # per line: one line's stages may be slow, the query's deadline still holds
            out = pipeline.process(ts, line, labels)
            if out is None:
                continue
            line, labels = out
            if md:  # keep/drop apply to structured metadata too; a changed value is the pipeline's now
                md = {k: v for k, v in md.items() if labels.get(k) == v}
            parsed = {k: v for k, v in labels.items() if k not in stream and k not in md}
            size += len(line) + sum(len(v) for v in parsed.values())
            if size > max_bytes:
                raise LimitError(f"response larger than the max message size ({size} vs {max_bytes})")
            entries.append((labels, LogEntry(ts, line, md, parsed)))
            if len(entries) >= limit:
                return group_streams(entries)
    return group_streams(entries)


def group_streams(entries: list[tuple[dict[str, str], LogEntry]]) -> Streams:
    """Entries keep their global order inside each stream; streams are ordered by their labels.

    A label with an empty value is no label (`logfmt --keep-empty` makes them): it never splits a stream.
    """
    streams: dict[tuple[tuple[str, str], ...], StreamResult] = {}
    for labels, entry in entries:
        key = key_of(labels)
        s = streams.get(key)
        if s is None:
            s = streams[key] = StreamResult(dict(key), [])
        s.entries.append(entry)
    return Streams([streams[k] for k in sorted(streams)])
