"""Bad input through the real sidecar and broker: each case is counted with a reason, the rest arrives."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from tests.integration.harness import ingester, sidecar, wait_for
from tests.integration.test_pipeline_exactly_once import ingested, stored_lines
from tests.integration.writers import rfc3339

pytestmark = pytest.mark.kafka

TS = rfc3339(time.time_ns())


def cri(text: bytes, stream: bytes = b"stdout") -> bytes:
    return TS.encode() + b" " + stream + b" F " + text + b"\n"


def pod_file(root: Path, pod: str, content: bytes) -> None:
    path = root / f"var/log/pods/bad_{pod}_uid-{pod}/app/0.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_bad_input_is_counted_and_the_rest_arrives(tmp_path: Path, kafka_bootstrap: str, kafka_topic) -> None:
    topic = kafka_topic(partitions=1)
    logs = tmp_path / "logs"
    junk = bytes(random.Random(1).randrange(256) for _ in range(4096)).replace(b"\n", b"")
    cases = {
        "utf8": b"caf\xc3\xa9 ok then \xff\xfe invalid \xc3\x28 bytes",
        "huge": b"x" * (10 * 1024 * 1024),
        "junk": b"\x00\x01" + junk,
        "cut": None,
    }
    expected_good = []
    for pod, bad in cases.items():
        before, after = f"{pod} good line before".encode(), f"{pod} good line after".encode()
        expected_good += [before.decode(), after.decode()]
        middle = cri(bad) if bad is not None else TS.encode() + b" std\n"
        pod_file(logs, pod, cri(before) + middle + cri(after))
    loop = logs / "var/log/pods/bad_loop_uid-loop/app/0.log"
    loop.parent.mkdir(parents=True)
    os.symlink(loop, loop)
    sc = sidecar(tmp_path, [str(logs / "var/log/pods/*/*/*.log")], kafka_bootstrap, topic, "--format", "cri")
    ing = ingester(tmp_path, kafka_bootstrap, topic)
    sc.start()
    ing.start()
    wait_for(lambda: ingested(ing) >= 12, 60, "good and altered lines to be stored")
    wait_for(lambda: sc.metrics().get("observ_adapter_source_errors_total", 0) >= 1, 30, "the unreadable file")
    m = sc.metrics()
    time.sleep(1)
    sc.stop()
    ing.stop()
    for reason in ("invalid_utf8", "line_too_large", "binary", "malformed_cri"):
        assert m.get(f"observ_adapter_truncated_entries_total{{reason={reason}}}", 0) >= 1, reason
    assert m.get("observ_adapter_dropped_entries_total", 0) == 0
    lines = stored_lines(tmp_path / "observ.duckdb")
    assert sorted(line for line in lines if "good line" in line) == sorted(expected_good)
    assert any(line.startswith("café ok then \ufffd") for line in lines)
    huge = [line for line in lines if line.startswith("xxxx")]
    assert len(huge) == 1 and 1000 < len(huge[0]) <= 1024 * 1024
    assert any(line.startswith(TS) or line == "std" or "std" in line for line in lines if "good" not in line)
