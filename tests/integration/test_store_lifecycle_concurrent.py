"""Retention and merging against concurrent readers: LogQL through the engine and SpanStore.trace/search run in a
loop while maintenance rounds delete and merge segments and writers append and compact; no query fails, and every
row inside the retention window is returned every time.

The graveyard's clock counts rounds, and a round ends only once every reader finished a query that started after
its commits: files buried in one round are unlinked in the next, when no query can still hold them, which is what
`delete_delay_s` (above the query timeout) guarantees in a service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from observ.logql.engine import Engine
from observ.logql.results import Streams, Vector
from observ.model import DecodedBatch, Stream
from observ.store.config import MergeConfig, RetentionConfig, StoreConfig
from observ.store.lifecycle import Graveyard, LifecycleMetrics, Maintainer
from observ.store.logstore import LogStore
from observ.store.querier import LogQuerier
from observ.traces import query
from observ.traces.store import SpanStore
from tests.unit.traces.helpers import cols, span, tid

S = 1_000_000_000
T0 = 1_700_000_000 * S
"""A fixed epoch: the test never reads the clock."""
NOW = T0 + 200 * S
"""Retention's now: with a 140 s period the cutoff is T0 + 60 s."""
BATCHES = 12
"""Batch k: 100 log lines at T0 + 10k s (10 ms apart) and trace k's 3 spans from T0 + 10k s, a segment each."""
WINDOW = (T0 + 61 * S, T0 + 125 * S)
"""Inside retention: log batches 7 to 11 and the hot batch at T0 + 115 s; traces 6 (from T0 + 61 s) to 11."""
IN_WINDOW = 600
TRACES_IN_WINDOW = [6, 7, 8, 9, 10, 11]
ROUNDS = 6


def lines(k: int, at: int, n: int = 100, source: str = "") -> DecodedBatch:
    return DecodedBatch(
        stream=Stream(tenant="t1", service="api", pod="api-0"),
        source=source or f"batch-{k}",
        observed_ts=at,
        ts=[at + i * 10_000_000 for i in range(n)],
        level=["info"] * n,
        trace_id=[""] * n,
        span_id=[""] * n,
        end=[i + 1 for i in range(n)],
        line=[f"batch {k:04d} row {i:04d}" for i in range(n)],
    )


def trace_spans(k: int, at: int) -> list:
    return [span(k, n, start=at + n * S, end_ns=at + n * S + S) for n in (1, 2, 3)]


def stores(tmp_path: Path) -> tuple[LogStore, SpanStore]:
    cfg = StoreConfig(
        compact_rows=10**9,
        segment_min_rows=1,
        segment_max_rows=300,  # merges of at most three batches: several groups, several rounds
        retention=RetentionConfig(period=140),
        merge=MergeConfig(small_bytes=10**9, max_merges_per_run=2),
    )
    logs = LogStore(tmp_path / "observ.duckdb", cfg)
    spans = SpanStore(tmp_path / "spans.duckdb", cfg.model_copy(update={"zstd_level": 3}))
    for k in range(BATCHES):
        logs.append([lines(k, T0 + k * 10 * S)])
        logs.compact()
        spans.append([cols(*trace_spans(k, T0 + k * 10 * S))])
        spans.compact()
    logs.append([lines(90, T0 + 30 * S), lines(91, T0 + 115 * S)])  # hot: one out of retention, one inside
    spans.append([cols(*trace_spans(90, T0 + 30 * S))])
    return logs, spans


class Readers:
    """Threads running one check in a loop; each records the round its last finished query started in."""

    def __init__(self, checks: dict[str, Callable[[], None]]) -> None:
        self.round = 0
        self.errors: list[str] = []
        self.runs = dict.fromkeys(checks, 0)
        self._finished = dict.fromkeys(checks, -1)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(n, c), daemon=True) for n, c in checks.items()]

    def _loop(self, name: str, check: Callable[[], None]) -> None:
        while not self._stop.is_set():
            with self._cond:
                started = self.round
            try:
                check()
            except Exception as e:  # every failure is reported by the test
                self.errors.append(f"{name} in round {started}: {type(e).__name__}: {e}")
            with self._cond:
                self.runs[name] += 1
                self._finished[name] = started
                self._cond.notify_all()

    def __enter__(self) -> Readers:
        for t in self._threads:
            t.start()
        return self

    def next_round(self) -> None:
        """Start a round and wait until every reader finished a query that started in it."""
        with self._cond:
            self.round += 1
            assert self._cond.wait_for(lambda: min(self._finished.values()) >= self.round, timeout=120)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def test_no_query_fails_or_misses_a_row_in_range_while_retention_and_merges_run(tmp_path: Path) -> None:
    logs, spans = stores(tmp_path)
    engine = Engine(LogQuerier(logs))
    first = {s.path for s in logs.segments} | {s.path for s in spans.segments}

    def count_lines() -> None:
        result = engine.query_instant('sum(count_over_time({service="api"}[64s]))', tenant="t1", time_ns=WINDOW[1])
        assert isinstance(result.data, Vector) and [s.value for s in result.data.samples] == [IN_WINDOW]

    def find_line() -> None:
        result = engine.query_range(
            '{service="api"} |= "batch 0009 row 0042"', tenant="t1", start_ns=WINDOW[0], end_ns=WINDOW[1],
            step_ns=S, limit=10,
        )  # fmt: skip
        assert isinstance(result.data, Streams)
        assert [e.line for s in result.data.streams for e in s.entries] == ["batch 0009 row 0042"]

    def read_traces() -> None:
        for k in TRACES_IN_WINDOW:
            assert len(spans.trace("t1", tid(k))) == 3, k
        found = spans.search("t1", query.SpanQuery(start_ns=WINDOW[0], end_ns=WINDOW[1], limit=100))
        assert sorted(t.trace_id for t in found) == [tid(k) for k in TRACES_IN_WINDOW]

    stop_writing = threading.Event()

    def write() -> None:
        """New rows after the window, compacted into more small segments while rounds run."""
        k = 100
        while not stop_writing.is_set():
            logs.append([lines(k, NOW + k * S)])
            logs.compact()
            spans.append([cols(*trace_spans(k, NOW + k * S))])
            spans.compact()
            k += 1

    rounds = [0.0]
    grave = Graveyard(1, clock=lambda: rounds[0])
    registry = CollectorRegistry()
    maintainer = Maintainer({"logs": logs, "spans": spans}, grave, LifecycleMetrics(registry), 1, lambda: NOW)
    writer = threading.Thread(target=write, daemon=True)
    with Readers({"count": count_lines, "find": find_line, "traces": read_traces}) as readers:
        readers.next_round()
        for r in range(ROUNDS):
            assert maintainer.run_once().failed == []
            if r == 0:  # after the first retention: the writer's compactions would put the old hot rows in a segment
                writer.start()  # reaching into the window, which retention keeps whole
            readers.next_round()
            rounds[0] += 1
        stop_writing.set()
        writer.join()
        grave.sweep()
    assert readers.errors == []
    assert min(readers.runs.values()) >= ROUNDS
    value = registry.get_sample_value
    assert value("observ_store_retention_deleted_segments_total", {"store": "logs", "tenant": "t1"}) == 6
    assert value("observ_store_retention_deleted_rows_total", {"store": "logs", "tenant": "t1"}) == 700
    assert value("observ_store_retention_deleted_segments_total", {"store": "spans", "tenant": "t1"}) == 6
    assert value("observ_store_retention_deleted_rows_total", {"store": "spans", "tenant": "t1"}) == 21
    assert value("observ_store_merges_total", {"store": "logs", "tenant": "t1"}) >= 2
    assert value("observ_store_merges_total", {"store": "spans", "tenant": "t1"}) >= 2
    gone = first - {s.path for s in logs.segments} - {s.path for s in spans.segments}
    assert len(gone) == 2 * BATCHES, "every first segment was expired or merged away"
    assert not any(Path(p).exists() for p in gone) and grave.pending == []
    count_lines()
    read_traces()
    logs.close()
    spans.close()
