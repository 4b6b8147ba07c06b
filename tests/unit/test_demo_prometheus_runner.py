"""The demo's Prometheus: its config, rule copies, port choice and start-up refusals (a fake binary here; the
real one runs in tests/integration/test_up_demo.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from observ.cli import prometheus_runner
from observ.cli.prometheus_runner import (
    PERIOD_INTERVAL,
    PrometheusRunner,
    Targets,
    choose_port,
    find_rule_files,
    scrape_config,
    sooner_period_groups,
)
from observ.cli.refusal import Refused

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_scrape_config_labels_each_demo_target_with_its_service_and_probes_through_the_prober() -> None:
    targets = Targets({"payments": "127.0.0.1:2", "frontend": "127.0.0.1:1"}, "127.0.0.1:3100", "127.0.0.1:7",
                      ["http://127.0.0.1:1/healthz"])  # fmt: skip
    config = scrape_config(targets, ["/r/a.yml"])
    assert config == {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "scrape_configs": [
            {
                "job_name": "demo",
                "static_configs": [
                    {"targets": ["127.0.0.1:1"], "labels": {"service": "frontend"}},
                    {"targets": ["127.0.0.1:2"], "labels": {"service": "payments"}},
                ],
            },
            {"job_name": "observ", "static_configs": [{"targets": ["127.0.0.1:3100"]}]},
            {
                "job_name": "blackbox",
                "metrics_path": "/probe",
                "params": {"module": ["http_2xx"]},
                "static_configs": [{"targets": ["http://127.0.0.1:1/healthz"]}],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": "127.0.0.1:7"},
                ],
            },
        ],
        "rule_files": ["/r/a.yml"],
    }
    assert [job["job_name"] for job in scrape_config(Targets({}, "o:1"), [])["scrape_configs"]] == ["demo", "observ"]


def test_only_the_relaxed_period_groups_run_sooner() -> None:
    text = (ROOT / "alerts/generated/payments.rules.yml").read_text()
    before = yaml.safe_load(text)["groups"]
    after = yaml.safe_load(sooner_period_groups(text))["groups"]
    assert [g.get("interval") for g in after] == [PERIOD_INTERVAL if "interval" in g else None for g in before]
    assert any("interval" in g for g in before) and any("interval" not in g for g in before)
    assert [g["rules"] for g in after] == [g["rules"] for g in before]


def test_rule_files_come_from_the_working_folder_first(tmp_path: Path) -> None:
    assert find_rule_files(tmp_path) == sorted((ROOT / "alerts/generated").glob("*.rules.yml"))
    own = tmp_path / "alerts/generated/mine.rules.yml"
    own.parent.mkdir(parents=True)
    own.write_text("groups: []\n")
    assert find_rule_files(tmp_path) == [own]


def test_a_port_asked_for_and_taken_is_one_refusal_line(taken: int) -> None:
    with pytest.raises(Refused) as info:
        choose_port("127.0.0.1", taken)
    assert str(info.value).startswith(f"Prometheus cannot listen on 127.0.0.1:{taken}: ")
    assert str(info.value).endswith("(pick another with --prometheus-port)") and "\n" not in str(info.value)


def test_without_a_port_9090_or_else_any_free_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default port is one this test holds (9090 itself may be taken by a parallel `observ up --demo`)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        default = held.getsockname()[1]
        monkeypatch.setattr(prometheus_runner, "DEFAULT_PORT", default)
        other = choose_port("127.0.0.1", None)
        assert other not in (default, 0), "the default is taken: any free port"
    assert choose_port("127.0.0.1", None) == default, "the default is free again: it is taken"


def _fake_binary(tmp_path: Path, script: str) -> str:
    path = tmp_path / "prometheus"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


def test_a_prometheus_that_exits_is_refused_with_its_last_log_line(tmp_path: Path) -> None:
    binary = _fake_binary(tmp_path, 'echo "starting"\necho "err: opening storage failed: lock DB directory"\nexit 1\n')
    runner = PrometheusRunner(binary, choose_port("127.0.0.1", None), tmp_path / "data")
    config = runner.write_config(Targets({"payments": "127.0.0.1:1"}, "127.0.0.1:3100"), [])
    with pytest.raises(Refused) as info:
        runner.start(config, timeout=10)
    assert str(info.value) == (
        f"Prometheus did not start on {runner.url}: err: opening storage failed: lock DB directory"
    )
    assert runner.proc is None


def test_the_written_config_and_rules_live_in_the_data_folder(tmp_path: Path) -> None:
    runner = PrometheusRunner("prometheus", 1234, tmp_path)
    rules = sorted((ROOT / "alerts/generated").glob("*.rules.yml"))
    path = runner.write_config(Targets({"frontend": "127.0.0.1:1"}, "127.0.0.1:3100"), rules)
    config = yaml.safe_load(path.read_text())
    assert path == tmp_path / "prometheus/prometheus.yml"
    assert config["rule_files"] == [str(tmp_path / "prometheus/rules" / r.name) for r in rules]
    assert all(Path(r).is_file() for r in config["rule_files"])
