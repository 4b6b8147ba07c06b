"""Sidecar -> real Kafka -> `observ serve --bootstrap` (ingester in-process) -> Loki API, and pushes beside it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import Proc, free_port, sidecar, wait_for
from tests.integration.writers import RotatingWriter

pytestmark = pytest.mark.kafka


def test_serve_ingests_kafka_and_answers_loki_queries(tmp_path: Path, kafka_bootstrap: str, kafka_topic) -> None:
    topic = kafka_topic(partitions=2)
    writer = RotatingWriter(
        tmp_path / "logs/var/log/pods/shop_api-7f9c_0d6e/api/0.log", "cri-api", "cri", "rename", 400
    )
    window = writer.window()
    sc = sidecar(tmp_path, [str(tmp_path / "logs/var/log/pods/*/*/*.log")], kafka_bootstrap, topic)
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "observ.cli.main", "serve", "--data", str(tmp_path / "data"), "--port", str(port),
            "--bootstrap", kafka_bootstrap, "--topic", topic, "--group", f"g-{topic}"]  # fmt: skip
    serve = Proc(args, tmp_path / "serve.log", port)
    sc.start()
    serve.start()
    writer.write(1000)

    def stored() -> int:
        r = httpx.get(f"{addr}/loki/api/v1/index/stats", params={"query": '{container="api"}', **window})
        return int(r.json()["entries"]) if r.status_code == 200 else -1

    wait_for(lambda: stored() == 1000, 60, "1000 lines through Kafka into the server's store")
    wait_for(lambda: httpx.get(f"{addr}/ready").status_code == 200, 30, "/ready with the ingester assigned")

    r = httpx.get(f"{addr}/loki/api/v1/query_range",
                  params={"query": '{container="api"} | logfmt | seq="0000999"', **window})  # fmt: skip
    [stream] = r.json()["data"]["result"]
    assert stream["stream"]["pod"] == "api-7f9c" and stream["stream"]["namespace"] == "shop"
    assert stream["values"][0][1].startswith("cri-api seq=0000999")

    # A push into the same process lands beside the ingested rows (one writer process for the DuckDB file).
    now = str(time.time_ns())
    push = {"streams": [{"stream": {"container": "pushed"}, "values": [[now, "hello"]]}]}
    assert httpx.post(f"{addr}/loki/api/v1/push", json=push).status_code == 204
    values = httpx.get(f"{addr}/loki/api/v1/label/container/values", params={"since": "24h"}).json()["data"]
    assert values == ["api", "pushed"]
    assert serve.stop() == 0 and sc.stop() == 0
