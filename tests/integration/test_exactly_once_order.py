"""Exactly once when batches of one source do not arrive in time order, through the real broker.

Both cases once lost data: a backlog whose line timestamps step backwards (many batches of one source
in each poll, sorted by time before the replay filter ran), and batches that the sidecar re-sends
behind newer ones after a broker outage outlasted a bounded delivery timeout.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.harness import ingester, sidecar, wait_for
from tests.integration.test_pipeline_exactly_once import assert_exactly_once, ingested

pytestmark = pytest.mark.kafka


def json_lines(first: int, n: int, base_s: int) -> list[str]:
    """JSON lines carrying their own `time`, which steps back two minutes every 500 lines (a late writer)."""
    return [
        json.dumps({"time": f"{base_s - 120 * (i // 500)}.{i % 500:06d}", "level": "info", "msg": f"req {i:07d}"})
        for i in range(first, first + n)
    ]


def write(path: Path, lines: list[str]) -> None:
    with path.open("a") as f:
        f.write("".join(line + "\n" for line in lines))


def shipped(proc) -> float:  # type: ignore[no-untyped-def]
    return proc.metrics().get("observ_adapter_entries_shipped_total", 0.0)


def test_a_backlog_whose_timestamps_step_backwards_is_stored_whole(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic
) -> None:
    topic = kafka_topic(partitions=1)
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    expected = json_lines(0, 100_000, int(time.time()))
    write(log, expected)
    sc = sidecar(tmp_path, [str(log)], kafka_bootstrap, topic)
    sc.start()
    wait_for(lambda: shipped(sc) >= len(expected), 120, "the backlog in Kafka while no ingester runs")
    ing = ingester(tmp_path, kafka_bootstrap, topic)
    ing.start()
    try:
        wait_for(lambda: ingested(ing) >= len(expected), 120, "the backlog in DuckDB")
        time.sleep(1)
        m = ing.metrics()
    finally:
        sc.stop()
        ing.stop()
    assert m.get("observ_ingest_records_total", 0) >= 100, "many sidecar batches per poll"
    assert m.get("observ_ingest_duplicate_lines_total", 0) == 0
    assert_exactly_once(tmp_path / "observ.duckdb", expected)


def test_batches_resent_after_a_delivery_timeout_are_not_taken_for_replays(
    tmp_path: Path, kafka_broker, kafka_bootstrap: str, kafka_topic
) -> None:
    topic = kafka_topic(partitions=1)
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    config = tmp_path / "sidecar.yaml"
    config.write_text("kafka:\n  bus:\n    delivery_timeout_ms: 2000\n  retry_backoff_ms: 200\n")
    sc = sidecar(tmp_path, [str(log)], kafka_bootstrap, topic, "--config", str(config))
    ing = ingester(tmp_path, kafka_bootstrap, topic)
    sc.start()
    ing.start()
    base = int(time.time())
    expected: list[str] = []

    def more(n: int) -> None:
        lines = json_lines(len(expected), n, base)
        write(log, lines)
        expected.extend(lines)

    more(20_000)
    wait_for(lambda: ingested(ing) >= 20_000, 60, "lines before the outage")
    kafka_broker.stop()
    try:
        for _ in range(20):  # the outage outlasts the delivery timeout: batches fail and wait to be re-sent
            more(1_000)
            time.sleep(0.25)
        wait_for(lambda: sc.metrics().get("observ_adapter_sink_errors_total", 0) > 0, 30, "failed deliveries")
    finally:
        kafka_broker.start()
    for _ in range(20):  # newer batches race the re-sent ones
        more(2_000)
        time.sleep(0.05)
    wait_for(lambda: sc.metrics().get("observ_adapter_lag_bytes", 1) == 0, 120, "the sidecar to catch up")
    wait_for(lambda: ingested(ing) >= len(expected), 120, "every line in DuckDB")
    time.sleep(1.5)
    m = ing.metrics()
    sc.stop()
    ing.stop()
    assert_exactly_once(tmp_path / "observ.duckdb", expected)
    assert m.get("observ_ingested_lines_total", 0) == len(expected)
