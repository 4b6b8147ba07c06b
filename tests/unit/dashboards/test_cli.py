from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from observ.cli.dashboards import app
from tests.unit.dashboards.conftest import EXAMPLE


def _services(tmp_path: Path) -> Path:
    path = tmp_path / "services.yaml"
    path.write_text(yaml.safe_dump(EXAMPLE))
    return path


def test_generate_writes_dashboards_and_provisioning(tmp_path: Path) -> None:
    out = tmp_path / "dashboards"
    result = CliRunner().invoke(
        app, ["generate", "--services", str(_services(tmp_path)), "-o", str(out), "--loki-url", "http://o:3100"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.json")) == ["checkout.json", "frontend.json", "slo-overview.json"]
    sources = yaml.safe_load((out / "provisioning" / "datasources.yaml").read_text())["datasources"]
    assert {s["uid"]: s["url"] for s in sources}["tempo"] == "http://o:3100"
    assert yaml.safe_load((out / "provisioning" / "dashboards.yaml").read_text())["providers"][0]["type"] == "file"
    assert json.loads((out / "checkout.json").read_text())["uid"] == "observ-checkout"


def test_check_reports_stale_files(tmp_path: Path) -> None:
    services, out = _services(tmp_path), tmp_path / "dashboards"
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--services", str(services), "-o", str(out)]).exit_code == 0
    fresh = runner.invoke(app, ["generate", "--services", str(services), "-o", str(out), "--check"])
    assert fresh.exit_code == 0, fresh.output
    (out / "frontend.json").write_text("{}")
    stale = runner.invoke(app, ["generate", "--services", str(services), "-o", str(out), "--check"])
    assert stale.exit_code == 1
    assert "frontend.json" in stale.output and "checkout.json" not in stale.output


def test_bad_definitions_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    sli = "{kind: events, error_query: 'a[{{window}}]', total_query: 'b[{{window}}]'}"
    bad.write_text(f"version: 1\nservices:\n  - name: api\n    slos:\n      - name: x\n        objective: 100\n"
                   f"        sli: {sli}\n")  # fmt: skip
    result = CliRunner().invoke(app, ["generate", "--services", str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"{bad}:6:" in result.output and "objective" in result.output
    assert not (tmp_path / "out").exists()
