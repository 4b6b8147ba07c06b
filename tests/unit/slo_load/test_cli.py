"""`observ slo` validate / generate / import / schema through the real typer app."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from observ.cli.main import app
from observ.slo.load import load_definitions
from observ.slo.model import ServiceDefinitions
from observ.slo.schema import schema_json

from .test_import_openslo import OPENSLO
from .test_import_sloth import SLOTH
from .test_load import GOOD

ALERTS = Path(__file__).resolve().parents[3] / "alerts"
runner = CliRunner()


def test_validate_good_file_prints_a_summary() -> None:
    result = runner.invoke(app, ["slo", "validate", str(ALERTS / "services.yaml")])
    assert result.exit_code == 0, result.output
    assert "8 SLOs, valid" in result.output
    assert "requests-availability" in result.output and "30d, calendar month" in result.output


def test_validate_bad_file_prints_each_error_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(GOOD.replace("objective: 99\n", "objective: 100\n").replace("total[{{window}}]", "total[5m]"))
    result = runner.invoke(app, ["slo", "validate", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines == [
        f"{path}:11:11: services[0].slos[0].sli.total_query: query must contain the {{{{window}}}} placeholder: "
        "'sum(rate(http_requests_total[5m]))'",
        f"{path}:13:9: services[0].slos[1].objective: objective must be strictly between 0 and 100 percent, got 100",
        f"2 errors in {path}",
    ]


@dataclass(frozen=True)
class _File:
    path: str
    content: str


@pytest.fixture
def fake_generator(monkeypatch: pytest.MonkeyPatch) -> list[ServiceDefinitions]:
    """Stands in for observ.slo.generate with its contract: generate(defs) -> files, write(files, out_dir)."""
    seen: list[ServiceDefinitions] = []
    module = types.ModuleType("observ.slo.generate")

    def generate(defs: ServiceDefinitions) -> list[_File]:
        seen.append(defs)
        return [_File(f"{s.name}.rules.yml", f"# {len(s.slos)} slos\n") for s in defs.services]

    def write(files: list[_File], out_dir: Path) -> None:
        for f in files:
            (out_dir / f.path).parent.mkdir(parents=True, exist_ok=True)
            (out_dir / f.path).write_text(f.content)

    module.generate = generate  # type: ignore[attr-defined]
    module.write = write  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "observ.slo.generate", module)
    return seen


def test_generate_writes_then_check_detects_staleness(tmp_path: Path, fake_generator: list[ServiceDefinitions]) -> None:
    out = tmp_path / "generated"
    result = runner.invoke(app, ["slo", "generate", str(ALERTS / "services.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert fake_generator == [load_definitions(ALERTS / "services.yaml")]
    assert (out / "checkout.rules.yml").read_text() == "# 2 slos\n"
    assert "4 files written" in result.output
    check = ["slo", "generate", str(ALERTS / "services.yaml"), "-o", str(out), "--check"]
    assert runner.invoke(app, check).exit_code == 0
    (out / "payments.rules.yml").write_text("edited by hand\n")
    stale = runner.invoke(app, check)
    assert stale.exit_code == 1 and "payments.rules.yml" in stale.output


def test_generate_refuses_invalid_definitions(tmp_path: Path, fake_generator: list[ServiceDefinitions]) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(GOOD.replace("kind: events", "kind: ratio"))
    result = runner.invoke(app, ["slo", "generate", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"{path}:9:11: services[0].slos[0].sli.kind: unknown SLI kind 'ratio'" in result.output
    assert fake_generator == [] and not (tmp_path / "out").exists()


def test_generate_with_the_real_generator(tmp_path: Path) -> None:
    pytest.importorskip("observ.slo.generate")
    result = runner.invoke(app, ["slo", "generate", str(ALERTS / "services.yaml"), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "checkout.rules.yml").exists()


@pytest.mark.parametrize("spec", [SLOTH, OPENSLO])
def test_import_writes_a_valid_services_file(tmp_path: Path, spec: str) -> None:
    src, out = tmp_path / "spec.yaml", tmp_path / "services.yaml"
    src.write_text(spec)
    result = runner.invoke(app, ["slo", "import", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "written to" in result.output
    assert out.read_text().startswith("# Imported from spec.yaml by `observ slo import`.\n")
    assert load_definitions(out).services
    again = runner.invoke(app, ["slo", "import", str(src), "-o", str(out)])
    assert again.exit_code == 1 and "pass --force" in again.output
    assert runner.invoke(app, ["slo", "import", str(src), "-o", str(out), "--force"]).exit_code == 0


def test_import_refusal_exits_1(tmp_path: Path) -> None:
    src = tmp_path / "spec.yaml"
    src.write_text(SLOTH.replace("      events:\n", "      raw:\n        error_ratio_query: x\n      eventz:\n"))
    result = runner.invoke(app, ["slo", "import", str(src)])
    assert result.exit_code == 1
    assert "sli.raw (a precomputed error ratio) cannot be imported" in result.output


def test_import_to_stdout_prints_warnings_apart(tmp_path: Path) -> None:
    src = tmp_path / "spec.yaml"
    src.write_text(SLOTH.replace("        disable: true\n", "        annotations: {team: api}\n"))
    result = runner.invoke(app, ["slo", "import", str(src), "--window", "7d"])
    assert result.exit_code == 0
    assert "window: 7d" in result.stdout and "warning:" not in result.stdout
    assert "warning: " in result.stderr and "page_alert.annotations merged" in result.stderr


def test_schema_prints_the_committed_schema(tmp_path: Path) -> None:
    result = runner.invoke(app, ["slo", "schema"])
    assert result.exit_code == 0
    assert result.stdout == schema_json() == (ALERTS / "services.schema.json").read_text()
