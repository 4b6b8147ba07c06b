"""Log reads of correlation go through the engine as LogQL: the trace-ID lookup prunes segments by their filters."""

from __future__ import annotations

from pathlib import Path

from observ.correlate.logs import LogReader
from observ.logql.engine import Engine
from observ.logql.results import QueryResult
from observ.model import DecodedBatch, Stream
from observ.store.config import StoreConfig
from observ.store.logstore import LogStore
from observ.store.querier import LogQuerier

NS = 1_000_000_000


class Spy(Engine):
    """The real engine, keeping each answer's query text and statistics."""

    def __init__(self, store: LogStore) -> None:
        super().__init__(LogQuerier(store))
        self.seen: list[tuple[str, QueryResult]] = []

    def query_range(self, query: str, **kw: object) -> QueryResult:  # type: ignore[override]
        result = super().query_range(query, **kw)  # type: ignore[arg-type]
        self.seen.append((query, result))
        return result


def batch(service: str, trace_id: str, t0: int) -> DecodedBatch:
    n = 50
    return DecodedBatch(
        stream=Stream(tenant="t", service=service), source="", observed_ts=0, ts=[t0 + i for i in range(n)],
        level=["info"] * n, trace_id=[trace_id if i == 7 else "" for i in range(n)], span_id=[""] * n,
        end=[0] * n, line=[f"{service} line {i}" for i in range(n)],
    )  # fmt: skip


def test_lines_by_trace_id_skip_segments_without_it(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "observ.duckdb", StoreConfig(segment_min_rows=1))
    try:
        for i, service in enumerate(("api", "db", "web", "cart")):
            store.append([batch(service, f"{i + 1:032x}", i * NS)])
            store.compact()
        engine = Spy(store)
        got = LogReader(engine).with_trace("t", f"{3:032x}", 0, 10 * NS, 100)
        assert [(x.service, x.line, x.trace_id) for x in got] == [("web", "web line 7", f"{3:032x}")]
        query, result = engine.seen[-1]
        assert query == '{service=~".+"} | trace_id="00000000000000000000000000000003"'
        assert result.stats.segments_skipped >= 3 and result.stats.segments_scanned <= 1
    finally:
        store.close()


def test_untraced_lines_and_levels(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "observ.duckdb")
    try:
        store.append([batch("api", "a" * 32, 0)])
        reader = LogReader(Engine(LogQuerier(store)))
        untraced = reader.untraced("t", "api", 0, NS, 100)
        assert len(untraced) == 49 and all(x.trace_id == "" for x in untraced)
        assert [x.ts for x in untraced] == sorted(x.ts for x in untraced)
        assert reader.levels("t", "api", 0, NS) == {"info": 50}
        assert reader.levels("t", "api", 0, 10) == {"info": 10}  # ts 0..9: the window ends before ts 10
    finally:
        store.close()
