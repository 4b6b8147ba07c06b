"""`observ up`'s in-process path: sidecar topology -> StoreSink -> LogStore, replays and a store that cannot write."""

from __future__ import annotations

import json
from pathlib import Path

from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.events import Metrics
from collectors.log_adapter.main import build_topology
from collectors.log_adapter.sinks.store import StoreSink
from collectors.log_adapter.sources.tail.config import TailConfig
from observ.model import Batch, Entry, Stream
from observ.store.logstore import AppendResult, LogStore, Prepared, StoreWriteError


class FlakyStore:
    """A LogStore whose writes fail while `full` is set, as DuckDB's do on ENOSPC."""

    def __init__(self, store: LogStore) -> None:
        self.store = store
        self.full = False
        self.failed = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def write(self, prepared: Prepared) -> AppendResult:
        if self.full:
            self.failed += 1
            raise StoreWriteError("TransactionException: Could not write file: No space left on device")
        return self.store.write(prepared)


PAD = "x" * 500


def msg(i: int) -> str:
    return json.dumps({"msg": f"line {i}", "pad": PAD})


def cri_file(path: Path, n: int, first: int = 0) -> None:
    """stdout and stderr lines interleaved, with times that step back every 7 lines (a clock step)."""
    with path.open("a") as f:
        for i in range(first, first + n):
            ts = f"2020-01-01T00:{59 - (i // 7) % 60:02d}:00.{i:09d}Z"
            f.write(f"{ts} {'stderr' if i % 3 == 0 else 'stdout'} F {msg(i)}\n")


def run_topology(tmp_path: Path, store: object, until_lines: int, max_steps: int = 400) -> Metrics:
    config = AdapterConfig(
        tail=TailConfig(include=[str(tmp_path / "logs" / "*.log")], checkpoint_path=str(tmp_path / "cp.json")),
        http_port=0,
        batch_linger_ms=0,
        batch_max_entries=5,
        max_inflight_bytes=65536,
    )
    metrics = Metrics()
    topology = build_topology(config, metrics, sink=StoreSink(store, retry_max_s=0.01), env={})  # type: ignore[arg-type]
    steps = iter(range(max_steps))
    topology.run(until=lambda: _shipped(metrics) >= until_lines or next(steps, None) is None)
    return metrics


def _shipped(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("observ_adapter_entries_shipped_total") or 0


def stored(store: LogStore) -> list[str]:
    return sorted(r[0] for r in store.cursor().execute("SELECT line FROM logs").fetchall())


def test_interleaved_streams_restarts_and_clock_steps_store_each_line_once(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "app.log"
    store = LogStore(tmp_path / "db" / "observ.duckdb")
    cri_file(log, 100)
    run_topology(tmp_path, store, 100)
    cri_file(log, 50, first=100)
    run_topology(tmp_path, store, 50)  # a second process, from the checkpoint
    want = sorted(msg(i) for i in range(150))
    assert stored(store) == want
    # batches chain within a process; a restart may leave one gap where only the other stream's lines sit
    assert len(store._coverage) == 2 and all(len(c) <= 2 for c in store._coverage.values())


def test_a_store_that_cannot_write_holds_batches_in_order_and_loses_none(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "app.log"
    store = FlakyStore(LogStore(tmp_path / "db" / "observ.duckdb"))
    cri_file(log, 200)
    store.full = True
    metrics = run_topology(tmp_path, store, 1, max_steps=60)
    assert store.failed > 0 and _shipped(metrics) == 0 and store.count() == 0
    assert (metrics.registry.get_sample_value("observ_adapter_backpressure_waits_total") or 0) > 0, "reading stopped"
    store.full = False
    run_topology(tmp_path, store, 200)
    assert stored(store.store) == sorted(msg(i) for i in range(200))


def test_an_idle_poll_waits_its_timeout_and_a_poll_that_acknowledges_does_not(tmp_path: Path) -> None:
    """The topology's idle wait is the sink's poll timeout: ignoring it spun a core in an idle `observ up`."""
    slept: list[float] = []
    store = LogStore(tmp_path / "observ.duckdb")
    sink = StoreSink(store, sleep=slept.append)
    sink.poll(0.05)
    assert slept == [0.05], "nothing to acknowledge: the poll waits like a producer's"
    acked: list[str | None] = []
    batch = Batch(Stream(tenant="t", service="s"), "src", [Entry(ts=1, line="hello", start=0, end=6)])
    assert sink.send(batch, acked.append)
    sink.poll(0.05)
    assert acked == [None] and slept == [0.05], "acknowledgements delivered: no wait on top"
    sink.poll(0)
    assert slept == [0.05]
    store.close()
