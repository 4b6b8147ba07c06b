"""Log queries: the newest (or oldest) `limit` entries after the pipeline, grouped into streams."""

from __future__ import annotations

from observ.logql import ast
from observ.logql.errors import LimitError
from observ.logql.pipeline import Pipeline
from observ.logql.results import LogEntry, StreamResult, Streams
from observ.logql.rows import ROW_COLUMNS, LabelCache, Reader, metadata
from observ.logql.series import key_of
from observ.logql.sql import compile_pushdown


def select_logs(
    reader: Reader,
    log: ast.LogExpr,
    tenant: str,
    start_ns: int,
    end_ns: int,
    limit: int,
    backward: bool,
    max_bytes: int = 100 * 2**20,
) -> Streams:
    """`max_bytes`: the lines and parsed labels returned may not pass it (a template can make every line large)."""
    pd = compile_pushdown(log, tenant, start_ns, end_ns)
    order = "DESC" if backward else "ASC"
    select = f"SELECT {ROW_COLUMNS} FROM {{source}} ORDER BY ts {order}, line {order}"
    entries: list[tuple[dict[str, str], LogEntry]] = []
    size = 0
    cache = LabelCache()
    pipeline = Pipeline(pd.rest, check=reader.deadline.check) if pd.rest else None
    # Newest slices first: a limit met in a recent slice never scans the older ones.
    for window in reader.windows(pd, backward):
        if pipeline is None:
            chunks = reader.execute(window, select + " LIMIT ?", after=[limit - len(entries)])
        else:
            chunks = reader.execute(window, select)
        check = reader.deadline.check
        stats = reader.stats
        for chunk in chunks:
            check()
            stats.rows_scanned += len(chunk)
            stats.bytes_scanned += sum(row[11] for row in chunk)
            for row in chunk:
                if pipeline is not None:
                    check()  # per line: one line's stages may be slow, the query's deadline still holds
                stream = cache.stream(row[2:9])
                md = metadata(row[9], row[10], row[12])
                labels = stream | md if md else stream
                if pipeline is None:
                    entries.append((labels, LogEntry(row[0], row[1], md)))
                    continue
                out = pipeline.process(row[0], row[1], labels)
                if out is None:
                    continue
                line, labels = out
                if md:  # keep/drop apply to structured metadata too; a changed value is the pipeline's now
                    md = {k: v for k, v in md.items() if labels.get(k) == v}
                parsed = {k: v for k, v in labels.items() if k not in stream and k not in md}
                size += len(line) + sum(len(v) for v in parsed.values())
                if size > max_bytes:
                    raise LimitError(f"response larger than the max message size ({size} vs {max_bytes})")
                entries.append((labels, LogEntry(row[0], line, md, parsed)))
                if len(entries) >= limit:
                    return group_streams(entries)
        if len(entries) >= limit:
            break
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
