"""Prometheus in the service's settings: `api.prometheus`, `observ serve --prometheus-url`, and create_app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from observ.api.app import create_app
from observ.api.config import ApiConfig, ServeConfig
from observ.cli.main import app as cli
from observ.correlate.prometheus import PrometheusClient, PrometheusConfig
from observ.store.logstore import LogStore


def test_prometheus_is_off_by_default() -> None:
    assert ApiConfig().prometheus is None


def test_with_prometheus_sets_the_url_and_keeps_the_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "observ.yaml"
    path.write_text(yaml.safe_dump({"api": {"prometheus": {"url": "http://old:9090", "read_timeout_s": 2}}}))
    config = ServeConfig.from_yaml(path).with_prometheus("http://127.0.0.1:19090/prom/")
    assert config.api.prometheus is not None
    assert (config.api.prometheus.url, config.api.prometheus.read_timeout_s) == ("http://127.0.0.1:19090/prom", 2)
    assert ServeConfig().with_prometheus("http://p:1").api.prometheus == PrometheusConfig(url="http://p:1")


@pytest.mark.parametrize("url", ["ftp://x", "127.0.0.1:9090", "http://", "http://h:1/?q=1"])
def test_with_prometheus_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"expected http\(s\)://host\[:port\]\[/prefix\], got"):
        ServeConfig().with_prometheus(url)


def test_serve_refuses_a_bad_prometheus_url_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--data", str(tmp_path), "--create", "--prometheus-url", "ftp://x"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "observ serve: --prometheus-url: expected http(s)://host[:port][/prefix], got 'ftp://x'"
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    s = LogStore(tmp_path / "observ.duckdb")
    yield s
    s.close()


def test_create_app_builds_the_client_with_its_metrics_on_the_registry(store: LogStore) -> None:
    registry = CollectorRegistry()
    config = ApiConfig.model_validate({"prometheus": {"url": "http://127.0.0.1:1"}})
    app = create_app(store, registry, lambda: True, config=config)
    client = app.state.prometheus
    assert isinstance(client, PrometheusClient) and client.config.url == "http://127.0.0.1:1"
    assert registry.get_sample_value("observ_prometheus_circuit_state", {"state": "closed"}) == 1.0


def test_create_app_uses_a_given_client_and_none_without_config(store: LogStore) -> None:
    given = PrometheusClient(PrometheusConfig(url="http://127.0.0.1:2"))
    assert create_app(store, CollectorRegistry(), lambda: True, prometheus=given).state.prometheus is given
    assert create_app(store, CollectorRegistry(), lambda: True).state.prometheus is None


def test_correlation_line_limits_are_held_to_the_engine_entries_limit() -> None:
    """A settings file lowering `limits.max_entries` alone is accepted; correlation reads no more than it."""
    cfg = ApiConfig.model_validate({"limits": {"max_entries": 7}, "correlate": {"limits": {"max_time_lines": 5}}})
    lim = cfg.correlate_within_limits().limits
    assert (lim.max_lines, lim.max_time_lines, lim.error_lines_scanned) == (7, 5, 7)
    assert cfg.correlate.limits.max_lines == 1000, "the configured value itself is kept"
