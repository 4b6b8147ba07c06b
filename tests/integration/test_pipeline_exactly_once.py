"""Sidecar -> real Kafka -> ingester -> DuckDB: every line once, through rotations, crashes and outages."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import duckdb
import psutil
import pytest

from tests.integration.harness import Proc, ingester, sidecar, wait_for
from tests.integration.writers import RotatingWriter

pytestmark = pytest.mark.kafka


def stored_lines(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT line FROM logs").fetchall()]
    finally:
        con.close()


def assert_exactly_once(db: Path, expected: list[str]) -> None:
    got = Counter(stored_lines(db))
    want = Counter(expected)
    missing = want - got
    extra = got - want
    assert not missing and not extra, (
        f"{sum(missing.values())} missing (e.g. {list(missing)[:3]}), "
        f"{sum(extra.values())} duplicated or unexpected (e.g. {list(extra)[:3]})"
    )


def ingested(ing: Proc) -> float:
    return ing.metrics().get("observ_ingested_lines_total", 0.0)


def stored_rows(ing: Proc) -> float:
    """Rows in the store, which survives ingester restarts (unlike the per-process counters)."""
    return ing.metrics().get("observ_store_log_rows", 0.0)


def start_pipeline(tmp: Path, file_globs: list[str], bootstrap: str, topic: str) -> tuple[Proc, Proc]:
    """The sidecar and the ingester as users run them, both healthy."""
    sc = sidecar(tmp, file_globs, bootstrap, topic)
    ing = ingester(tmp, bootstrap, topic)
    sc.start()
    ing.start()
    return sc, ing


def writers(logs: Path, rotate_every: int) -> list[RotatingWriter]:
    return [
        RotatingWriter(logs / "var/log/pods/shop_api-7f9c_0d6e/api/0.log", "cri-api", "cri", "rename", rotate_every),
        RotatingWriter(logs / "app/app.log", "plain-app", "plain", "copytruncate", rotate_every),
    ]


def globs(logs: Path) -> list[str]:
    return [str(logs / "var/log/pods/*/*/*.log"), str(logs / "app/*.log")]


def test_rotations_of_both_kinds_arrive_exactly_once(tmp_path: Path, kafka_bootstrap: str, kafka_topic) -> None:
    ws = writers(tmp_path / "logs", rotate_every=20_000)
    sc, ing = start_pipeline(tmp_path, globs(tmp_path / "logs"), kafka_bootstrap, kafka_topic(partitions=3))
    for _ in range(20):
        for w in ws:
            w.write(5_000)
        time.sleep(0.1)
    expected = [line for w in ws for line in w.lines()]
    assert len(expected) == 200_000 and all(w.rotations == 5 for w in ws)
    try:
        wait_for(lambda: ingested(ing) >= len(expected), 180, "200k lines in DuckDB")
    finally:
        m = sc.metrics()
        time.sleep(1.5)
        sc.stop()
        ing.stop()
        assert_exactly_once(tmp_path / "observ.duckdb", expected)
    assert m["observ_adapter_entries_shipped_total"] >= len(expected)
    assert m.get("observ_adapter_dropped_entries_total", 0) == 0


def test_sigkilled_sidecar_and_ingester_still_exactly_once(tmp_path: Path, kafka_bootstrap: str, kafka_topic) -> None:
    ws = writers(tmp_path / "logs", rotate_every=15_000)
    sc, ing = start_pipeline(tmp_path, globs(tmp_path / "logs"), kafka_bootstrap, kafka_topic(partitions=2))
    rng = random.Random(3)
    for step in range(20):
        for w in ws:
            w.write(5_000)
        time.sleep(rng.uniform(0.05, 0.4))
        if step in (4, 9, 14):
            sc.kill()
            sc.start()
        if step in (6, 12):
            wait_for(lambda: ingested(ing) > 0, 60, "the ingester to be mid-stream")
            ing.kill()
            ing.start()
    expected = [line for w in ws for line in w.lines()]
    wait_for(lambda: stored_rows(ing) >= len(expected), 180, "every line in DuckDB")
    time.sleep(1.5)  # duplicates, if any, would arrive now
    sc.stop()
    ing.stop()
    assert sc.starts == 4 and ing.starts == 3
    assert_exactly_once(tmp_path / "observ.duckdb", expected)


def test_broker_outage_loses_nothing_and_memory_stays_bounded(
    tmp_path: Path, kafka_broker, kafka_bootstrap: str, kafka_topic
) -> None:
    logs = tmp_path / "logs"
    w = RotatingWriter(logs / "app/app.log", "outage", "plain", "copytruncate", 10**9)
    sc, ing = start_pipeline(tmp_path, [str(logs / "app/*.log")], kafka_bootstrap, kafka_topic(partitions=1))
    w.write(20_000)
    wait_for(lambda: ingested(ing) >= 20_000, 60, "first lines before the outage")
    kafka_broker.stop()
    try:
        peak = 0
        rss = psutil.Process(sc.pid)
        for _ in range(30):
            w.write(10_000)  # ~30 MB while the broker is down: more than the sidecar may hold
            peak = max(peak, rss.memory_info().rss)
            time.sleep(0.1)
        wait_for(lambda: sc.metrics().get("observ_adapter_backpressure_waits_total", 0) > 0, 30, "backpressure")
        for _ in range(20):
            peak = max(peak, rss.memory_info().rss)
            time.sleep(0.1)
        m = sc.metrics()
        assert m["observ_adapter_lag_bytes"] > 0, "with the broker down, the sidecar must stop reading"
        assert m["observ_adapter_inflight_bytes"] <= 8 * 1024 * 1024 + 1024 * 1024
    finally:
        kafka_broker.start()
    expected = w.lines()
    wait_for(lambda: sc.metrics().get("observ_adapter_lag_bytes", 1) == 0, 120, "the sidecar to catch up")
    wait_for(lambda: ingested(ing) >= len(expected), 120, "every line in DuckDB")
    sc.stop()
    ing.stop()
    assert peak < 150 * 1024 * 1024, f"sidecar RSS peaked at {peak / 2**20:.0f} MiB during the outage"
    assert_exactly_once(tmp_path / "observ.duckdb", expected)
