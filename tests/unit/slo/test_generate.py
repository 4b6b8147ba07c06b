"""Generated files: layout, the scenarios of the promtool tests, and promtool itself on the example set."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from observ.slo.generate import generate, write
from observ.slo.model import ServiceDefinitions
from observ.slo.promtool_tests import firing, healthy_ratio, slo_tests, synthesize, window_ratio
from tests.unit.slo.example import EXAMPLE, example

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    write(generate(example()), out)
    return out


def test_layout_per_service(out_dir: Path) -> None:
    paths = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
    assert paths == [
        "checkout.rules.yml",
        "checkout.test.yml",
        "ingest_api.rules.yml",
        "ingest_api.test.yml",
        "prometheusrule/checkout.yaml",
        "prometheusrule/ingest_api.yaml",
    ]
    tests = yaml.safe_load((out_dir / "checkout.test.yml").read_text())
    assert tests["rule_files"] == ["checkout.rules.yml"]
    assert (out_dir / "checkout.test.yml").read_text().startswith("# not covered: complex: events queries")


def test_scenarios_match_the_sli_series() -> None:
    defs = example()
    checkout, ingest = defs.services
    events = synthesize(checkout, checkout.slos[0]).series
    assert [(s.text(), s.kind) for s in events] == [
        ('http_requests_total{code="500", job="checkout"}', "errors"),
        ('http_requests_total{code="ok", job="checkout"}', "good"),
    ]
    latency = synthesize(checkout, checkout.slos[1]).series
    assert [s.text() for s in latency] == [
        'http_request_duration_seconds_count{job="checkout", route="route-a"}',
        'http_request_duration_seconds_bucket{job="checkout", le="0.25", route="route-a"}',
    ]
    assert synthesize(checkout, checkout.slos[2]).series == []
    logs = synthesize(ingest, ingest.slos[0]).series
    assert [s.text() for s in logs] == [
        'observ_ingested_lines_total{level="error", service="ingest_api"}',
        'observ_ingested_lines_total{level="ok", service="ingest_api"}',
    ]


def test_distinct_error_and_total_metrics_each_get_a_series_per_group() -> None:
    ingest = example().services[1]
    series = synthesize(ingest, ingest.slos[3]).series
    assert [(s.text(), s.kind) for s in series] == [
        ('rpc_errors_total{job="ingest", method="method-a"}', "errors"),
        ('rpc_requests_total{job="ingest", method="method-a"}', "total"),
    ]


def test_templated_annotations_are_checked_through_the_alerts_series() -> None:
    ingest = example().services[1]
    tests, notes = slo_tests(ingest, ingest.slos[1])
    assert notes == ["up: annotations are templates; alerts are checked through ALERTS, annotations are not"]
    assert all("alert_rule_test" not in t for t in tests)
    fast = tests[-1]["promql_expr_test"]
    assert fast[0]["expr"] == 'ALERTS{alertname="IngestApiUpBurnRate", alertstate="firing"}'
    assert fast[0]["exp_samples"][0]["labels"].startswith('ALERTS{alertname="IngestApiUpBurnRate", alertstate="firing"')


def test_expected_alerts_from_piecewise_ratios() -> None:
    slo = example().services[0].slos[0]  # 99.9% / 30d
    assert window_ratio([(60, 0.0), (60, 0.02)], 60) == 0.02
    assert window_ratio([(60, 0.0), (60, 0.02)], 120) == 0.01
    fired, clear = firing(slo, [(4380, 0.0005), (75, 0.02)])
    assert fired == {"page"} and clear
    fired, _ = firing(slo, [(4380, 0.0005), (4380, 0.0005)])
    assert fired == set()


def test_healthy_ratio_stays_under_the_7d_slow_ticket() -> None:
    slo = example().services[1].slos[0]  # 99.5% / 7d: slow ticket threshold 0.2333 * 0.005
    assert healthy_ratio(slo) == pytest.approx(0.5 * 0.233333333 * 0.005)
    assert firing(slo, [(4455, healthy_ratio(slo))])[0] == set()


@needs_promtool
def test_rule_files_pass_promtool_lint(out_dir: Path) -> None:
    for cr in sorted((out_dir / "prometheusrule").glob("*.yaml")):
        spec = yaml.safe_load(cr.read_text())["spec"]
        (out_dir / f"cr-{cr.stem}.rules.yml").write_text(yaml.safe_dump(spec))
    files = sorted(p.name for p in out_dir.glob("*.rules.yml"))
    result = _promtool("check", "rules", "--lint=all", "--lint-fatal", *files, cwd=out_dir)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_generated_promtool_tests_pass(out_dir: Path) -> None:
    assert PROMTOOL is not None
    procs = [
        subprocess.Popen([PROMTOOL, "test", "rules", name], cwd=out_dir, stdout=subprocess.PIPE, text=True)
        for name in ("checkout.test.yml", "ingest_api.test.yml")
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out


@needs_promtool
def test_generated_tests_catch_a_wrong_page_threshold(tmp_path: Path) -> None:
    one = {**EXAMPLE, "services": [{**EXAMPLE["services"][0], "slos": EXAMPLE["services"][0]["slos"][:1]}]}
    write(generate(ServiceDefinitions.model_validate(one)), tmp_path)
    rules = tmp_path / "checkout.rules.yml"
    rules.write_text(rules.read_text().replace("> 0.0144 ", "> 0.5 "))
    result = _promtool("test", "rules", "checkout.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "CheckoutRequestsAvailabilityBurnRate" in result.stdout + result.stderr


def test_a_budget_too_large_to_page_is_reported_not_silently_skipped() -> None:
    loose = {"name": "loose", "objective": 90, "sli": {"kind": "logs"}}  # 14.4 * 0.1 > 1: no error ratio can page
    service = ServiceDefinitions.model_validate({"services": [{"name": "svc", "slos": [loose]}]}).services[0]
    tests, notes = slo_tests(service, service.slos[0])
    assert notes == ["loose: no burn (error ratio <= 1) clearly exceeds the page thresholds; fast burn not tested"]
    assert [t["name"] for t in tests] == [
        "svc/loose: no SLI data, absent alert fires",
        "svc/loose: healthy at 0.5x budget, no alert",
    ]
