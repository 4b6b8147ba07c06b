"""bench/traces.py: the workload is what it claims (whole call trees across services, OTLP bodies of 512-2048
spans, a few failing), and a --quick run (with real HTTP to `observ serve`) prints every figure with its ratio.
No timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from observ.otlp.decode import PROTOBUF, decode_traces
from tests.unit.bench_modules import load_bench

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "traces.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("traces")


@pytest.fixture(scope="module")
def bodies(bench: ModuleType) -> list[bytes]:
    return list(bench.Workload(seed=3).bodies(6000))


def test_bodies_hold_the_spans_asked_for_in_requests_of_512_to_2048(bench: ModuleType, bodies: list[bytes]) -> None:
    sizes = [bench.span_count(b) for b in bodies]
    assert sum(sizes) == 6000
    assert all(512 <= n <= 2048 for n in sizes[:-1]) and 0 < sizes[-1] <= 2048


def test_the_workload_is_the_same_for_a_seed(bench: ModuleType, bodies: list[bytes]) -> None:
    assert list(bench.Workload(seed=3).bodies(6000)) == bodies
    assert list(bench.Workload(seed=4).bodies(6000)) != bodies


def test_traces_are_trees_across_services_with_openstack_requests_as_roots(bodies: list[bytes]) -> None:
    spans = [s for b in bodies for s in decode_traces(b, PROTOBUF, "t").spans]
    assert not any(decode_traces(b, PROTOBUF, "t").rejected for b in bodies), "every generated span is valid OTLP"
    by_trace: dict[str, list] = {}
    for s in spans:
        by_trace.setdefault(s.trace_id, []).append(s)
    complete = [t for t in by_trace.values() if any(not s.parent_span_id for s in t)]
    assert len(complete) > 100
    for trace in complete[:-5]:  # the last traces may still be cut by the span count
        ids = {s.span_id for s in trace}
        [root] = [s for s in trace if not s.parent_span_id]
        assert root.service in ("nova-api", "nova-metadata") and root.kind == 2
        assert re.fullmatch(r"(GET|POST|PUT|DELETE|HEAD) /\S+", root.name), root.name
        assert all(s.parent_span_id in ids for s in trace if s.parent_span_id), "every parent is in the trace"
        assert all(root.start_ns <= s.start_ns and s.end_ns <= root.end_ns for s in trace)
    services = Counter(s.service for s in spans)
    assert {"nova-api", "keystone", "glance-api", "neutron-server"} <= set(services)
    assert any("db.statement" in s.attributes for s in spans) and any(s.events for s in spans)
    failing = [t for t in complete if any(s.status_code == 2 for s in t)]
    assert 0 < len(failing) < len(complete) * 0.15
    for trace in failing:
        [root] = [s for s in trace if not s.parent_span_id]
        assert root.status_code == 2 and root.attributes["http.response.status_code"] == 500


def test_a_quick_run_prints_each_figure_and_its_ratio(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--spans", "3000", "--data", str(tmp_path), "--clients", "2", "--http"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "trace store: 3,000 spans in" in out
    for row in ("read_json NDJSON → DuckDB table (baseline)", "1 client", "SpanStore, 2 client(s)", "observ serve"):
        assert re.search(rf"{re.escape(row)}.*│\s+[\d.]+\s+│\s+[\d,]+\s+│\s+\d+\.\d\dx", out), row
    for row in ("baseline: its DuckDB table", "SpanStore as ingested", "SpanStore all compacted"):
        assert re.search(rf"{re.escape(row)}.*│\s+[\d.]+\s+│\s+[\d.]+\s+│\s+\d+\.\d\dx", out), row
    assert re.search(r"\{ status = error \}\s+│\s+[\d.]+\s+│\s+\d+", out)
    assert re.search(r"ingest \d+\.\d\dx the baseline with 2 client\(s\).*trace by ID p50 <= [\d.]+ ms", out)
    assert (tmp_path / "traces-3000.otlp").stat().st_size > 3000 * 100, "the bodies are cached for the next run"


@pytest.mark.parametrize("spans", ["0", "99", "-5"])
def test_too_few_spans_is_refused_with_the_reason(spans: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--spans", spans, "--data", str(tmp_path)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert f"--spans {spans}: at least 100 spans" in run.stderr
