"""`observ up`'s own parts of the demo: the ingested-lines counters and the demo without Prometheus."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from rich.console import Console

from observ.api.config import ServeConfig
from observ.cli import up
from observ.store.ingest import IngestMetrics
from observ.store.logstore import AppendResult


class FakeStore:
    def __init__(self) -> None:
        self.written: list[object] = []

    def count(self) -> int:
        return 40

    def prepare(self, batches: list[object]) -> object:
        return ("prepared", len(batches))

    def write(self, prepared: object) -> AppendResult:
        self.written.append(prepared)
        return AppendResult(5, 1, {("default", "payments", "error"): 2, ("default", "payments", "info"): 3})


def test_stored_lines_are_counted_like_the_ingester_counts_them() -> None:
    registry = CollectorRegistry()
    counted = up.CountedStore(FakeStore(), IngestMetrics(registry))  # type: ignore[arg-type]
    counted.write(counted.prepare([]))  # type: ignore[arg-type]
    counted.write(counted.prepare([]))  # type: ignore[arg-type]
    lines = {"tenant": "default", "service": "payments"}
    assert registry.get_sample_value("observ_ingested_lines_total", {**lines, "level": "error"}) == 4
    assert registry.get_sample_value("observ_ingested_lines_total", {**lines, "level": "info"}) == 6
    assert registry.get_sample_value("observ_store_log_rows") == 50
    assert registry.get_sample_value("observ_ingest_duplicate_lines_total") == 2
    assert registry.get_sample_value("observ_ingest_commit_seconds_count") == 2


def test_without_prometheus_on_path_the_demo_says_once_that_metrics_correlation_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(up.shutil, "which", lambda name: None)
    out = io.StringIO()
    config = ServeConfig(data=tmp_path, port=3999)
    run = up.DemoRun(config, 1.0, None, Console(file=out, width=200))
    try:
        assert run.prometheus is None and run.with_prometheus(config) is config
        banner = "\n".join(run.banner("http://127.0.0.1:3999"))
    finally:
        run.stop()
    assert out.getvalue().count("metrics correlation is off") == 1
    assert "Prometheus on" not in banner and "observ demo fault payments" in banner


def test_a_prometheus_in_the_settings_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(up.shutil, "which", lambda name: None)
    config = ServeConfig(data=tmp_path).with_prometheus("http://metrics.example:9090")
    run = up.DemoRun(config, 1.0, None, Console(file=io.StringIO()))
    run.prometheus = up.PrometheusRunner("prometheus", 9999, tmp_path)
    try:
        assert run.with_prometheus(config).api.prometheus.url == "http://metrics.example:9090"  # type: ignore[union-attr]
        bare = ServeConfig(data=tmp_path)
        assert run.with_prometheus(bare).api.prometheus.url == "http://127.0.0.1:9999"  # type: ignore[union-attr]
    finally:
        run.prometheus = None
        run.stop()


@pytest.mark.parametrize(
    ("host", "reached"),
    [("0.0.0.0", "127.0.0.1"), ("", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]"), ("10.1.2.3", "10.1.2.3")],
)
def test_the_demo_sends_to_an_address_that_reaches_observ(host: str, reached: str) -> None:
    assert up.reachable(host) == reached
