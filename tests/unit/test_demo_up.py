"""`observ up`'s own parts of the demo: the ingested-lines counters and the demo without Prometheus."""

from __future__ import annotations

import contextlib
import io
import socket
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from rich.console import Console

from observ.api.config import ServeConfig
from observ.cli import up
from observ.ingester.metrics import IngestMetrics
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


def test_the_banner_says_9090_is_taken_only_when_the_default_fell_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(up.shutil, "which", lambda name: "/bin/true")
    monkeypatch.setattr(up.PrometheusRunner, "start", lambda self, config, timeout=30.0: None)
    config = ServeConfig(data=tmp_path, port=3999)
    asked = free_port()
    run = up.DemoRun(config, 1.0, asked, Console(file=io.StringIO()))
    run.stop()
    assert f"Prometheus on http://127.0.0.1:{asked} " in "\n".join(run.banner("u"))
    assert "is taken" not in "\n".join(run.banner("u"))
    with socket.socket() as holder:
        with contextlib.suppress(OSError):  # else something on this machine holds 9090 already
            holder.bind(("127.0.0.1", 9090))
            holder.listen()
        run = up.DemoRun(config, 1.0, None, Console(file=io.StringIO()))
        run.stop()
    assert run.prometheus is not None and run.prometheus.port != 9090
    assert "9090 is taken" in "\n".join(run.banner("u"))
    assert (tmp_path / "prometheus/prometheus.yml").is_file()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_refusing(ports: list[int], refuse: int | None) -> object:
    """PrometheusRunner.start as if another process took `refuse` between choosing the port and binding it."""

    def start(self: up.PrometheusRunner, config: Path, timeout: float = 30.0) -> None:
        ports.append(self.port)
        if self.port == refuse:
            raise up.Refused(f"Prometheus did not start on {self.url}: listen tcp: bind: address already in use")

    return start


def test_a_chosen_port_taken_before_prometheus_binds_it_gets_one_more_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two demos starting at once may both choose 9090; the one that loses moves on, as with 9090 taken."""
    monkeypatch.setattr(up.shutil, "which", lambda name: "/bin/true")
    config = ServeConfig(data=tmp_path, port=3999)
    tried: list[int] = []
    default = free_port()
    monkeypatch.setattr(up, "choose_port", lambda host, asked: asked or default)
    monkeypatch.setattr(up.PrometheusRunner, "start", _start_refusing(tried, default))
    run = up.DemoRun(config, 1.0, None, Console(file=io.StringIO()))
    run.stop()
    assert tried[0] == default and len(tried) == 2 and tried[1] != default
    assert run.prometheus is not None and run.prometheus.port == tried[1]
    assert f"http://127.0.0.1:{tried[1]} " in "\n".join(run.banner("u"))
    asked, tried = free_port(), []
    monkeypatch.setattr(up.PrometheusRunner, "start", _start_refusing(tried, asked))
    with pytest.raises(up.Refused, match="address already in use"):
        up.DemoRun(config, 1.0, asked, Console(file=io.StringIO()))
    assert tried == [asked], "a port the user asked for is never swapped"
