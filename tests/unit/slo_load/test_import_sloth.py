"""Sloth prometheus/v1 specs import as events SLIs; raw ratios and plugins are refused with the reason."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from observ.slo.generate import generate
from observ.slo.importers import SpecError, import_spec, to_yaml
from observ.slo.load import parse_definitions
from observ.slo.model import EventsSLI
from observ.slo.rules import slo_groups

SLOTH = """\
version: "prometheus/v1"
service: "k8s-apiserver"
labels:
  cluster: "valhalla"
  component: "kubernetes"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Common SLO based on availability for Kubernetes apiserver HTTP request responses."
    sli:
      events:
        error_query: sum(rate(apiserver_request_total{code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(apiserver_request_total[{{.window}}]))
    alerting:
      name: K8sApiserverAvailabilityAlert
      labels:
        category: "availability"
      annotations:
        runbook_url: "https://runbooks.example.com/apiserver/availability"
        summary: "High error rate on apiserver requests"
      page_alert:
        labels:
          severity: critical
      ticket_alert:
        labels:
          severity: warning
  - name: "requests-latency"
    objective: 99
    labels:
      kind: latency
    sli:
      events:
        error_query: |
          (
            sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{ .window }}]))
            -
            sum(rate(apiserver_request_duration_seconds_bucket{le="0.4",verb!="WATCH"}[{{.window}}]))
          )
        total_query: sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{.window}}]))
    alerting:
      name: K8sApiserverLatencyAlert
      page_alert:
        disable: true
"""


def test_sloth_spec_imports() -> None:
    result = import_spec(SLOTH, "sloth.yaml")
    [service] = result.definitions.services
    assert service.name == "k8s-apiserver"
    assert service.labels == {"cluster": "valhalla", "component": "kubernetes"}
    avail, latency = service.slos
    assert avail.objective == 99.9 and avail.window == "30d"
    assert isinstance(avail.sli, EventsSLI)
    assert avail.sli.error_query == 'sum(rate(apiserver_request_total{code=~"(5..|429)"}[{{window}}]))'
    assert avail.sli.total_query == "sum(rate(apiserver_request_total[{{window}}]))"
    assert avail.alerting.name == "K8sApiserverAvailabilityAlert"
    assert avail.alerting.labels == {"category": "availability"}
    assert avail.alerting.runbook_url == "https://runbooks.example.com/apiserver/availability"
    assert avail.alerting.annotations == {"summary": "High error rate on apiserver requests"}
    assert avail.alerting.page_labels == {"severity": "critical"}
    assert avail.alerting.ticket_labels == {"severity": "warning"}
    assert isinstance(latency.sli, EventsSLI)
    assert latency.sli.error_query.count("[{{window}}]") == 2 and "{{ .window }}" not in latency.sli.error_query
    assert latency.labels == {"kind": "latency"}
    assert (avail.alerting.page, avail.alerting.ticket) == (True, True)
    assert (latency.alerting.page, latency.alerting.ticket) == (False, True)
    assert result.warnings == []


def test_written_yaml_round_trips_through_the_loader() -> None:
    defs = import_spec(SLOTH, "sloth.yaml", window="28d").definitions
    text = to_yaml(defs)
    assert "kind: events" in text and "error_query: |" in text
    assert parse_definitions(text) == defs
    assert {slo.window for slo in defs.services[0].slos} == {"28d"}


def test_several_documents_for_one_service_merge() -> None:
    second = SLOTH.replace('"requests-availability"', '"other"').replace('"requests-latency"', '"other-latency"')
    defs = import_spec(f"{SLOTH}---\n{second}", "sloth.yaml").definitions
    assert [s.name for s in defs.services[0].slos] == [
        "requests-availability",
        "requests-latency",
        "other",
        "other-latency",
    ]


def test_prometheus_service_level_cr_imports() -> None:
    body = "\n".join("  " + line for line in SLOTH.splitlines() if not line.startswith("version"))
    cr = f"apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nmetadata:\n  name: x\nspec:\n{body}\n"
    assert import_spec(cr).definitions.services[0].name == "k8s-apiserver"


def test_raw_error_ratio_is_refused() -> None:
    raw = SLOTH.replace(
        """      events:
        error_query: sum(rate(apiserver_request_total{code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(apiserver_request_total[{{.window}}]))""",
        """      raw:
        error_ratio_query: sum(rate(errors[{{.window}}])) / sum(rate(total[{{.window}}]))""",
    )
    prefix = "sloth.yaml: document 1: service 'k8s-apiserver', SLO 'requests-availability': "
    with pytest.raises(SpecError, match=rf"^{prefix}sli.raw \(a precomputed error ratio\) cannot be imported"):
        import_spec(raw, "sloth.yaml")


def test_plugin_is_refused() -> None:
    plugin = SLOTH.replace(
        """      events:
        error_query: sum(rate(apiserver_request_total{code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(apiserver_request_total[{{.window}}]))""",
        """      plugin:
        id: "sloth-common/kubernetes/apiserver/availability"
""",
    )
    with pytest.raises(
        SpecError, match=r"sli.plugin 'sloth-common/kubernetes/apiserver/availability' is Sloth Go code"
    ):
        import_spec(plugin, "sloth.yaml")


def test_invalid_objective_is_refused_by_name() -> None:
    with pytest.raises(SpecError) as info:
        import_spec(SLOTH.replace("objective: 99.9", "objective: 100"), "sloth.yaml")
    assert str(info.value) == (
        "sloth.yaml: service 'k8s-apiserver': SLO 'requests-availability': objective: "
        "objective must be strictly between 0 and 100 percent, got 100"
    )


def test_names_become_slugs() -> None:
    defs = import_spec(SLOTH.replace('"k8s-apiserver"', '"K8s API Server"'), "sloth.yaml").definitions
    assert defs.services[0].name == "k8s-api-server"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(SpecError, match=r"x.yaml: not a Sloth spec .* or OpenSLO v1"):
        import_spec("groups: []\n", "x.yaml")


def test_malformed_yaml_names_the_line() -> None:
    with pytest.raises(SpecError, match=r"^x.yaml:3:6: invalid YAML: mapping values are not allowed here$"):
        import_spec("version: prometheus/v1\nservice: x\n  bad: 1\n", "x.yaml")


def _alert_rules(spec: str) -> dict[str, list[dict[str, object]]]:
    """Alert rules generated per imported SLO name."""
    [service] = import_spec(spec, "sloth.yaml").definitions.services
    return {
        slo.name: [r for g in slo_groups(service, slo) for r in g["rules"] if "alert" in r]  # type: ignore[attr-defined]
        for slo in service.slos
    }


def test_disabled_page_alert_generates_no_page_rule() -> None:
    rules = _alert_rules(SLOTH)
    assert [r["labels"]["severity"] for r in rules["requests-availability"] if "BurnRate" in r["alert"]] == [
        "critical",
        "warning",
    ]
    latency = rules["requests-latency"]
    assert [r["labels"]["severity"] for r in latency if "BurnRate" in r["alert"]] == ["ticket"]
    assert any(r["alert"].endswith("SLIAbsent") for r in latency)


def test_both_alerts_disabled_generate_no_alert_at_all() -> None:
    spec = SLOTH.replace("      page_alert:\n        disable: true\n", "      page_alert: {disable: true}\n"
                         "      ticket_alert: {disable: true}\n")  # fmt: skip
    assert _alert_rules(spec)["requests-latency"] == []
    [service] = import_spec(spec, "sloth.yaml").definitions.services
    assert "slo-k8s-apiserver-requests-latency-alerts" not in {g["name"] for g in slo_groups(service, service.slos[1])}


def test_disable_must_be_a_boolean() -> None:
    with pytest.raises(SpecError, match=r"page_alert.disable must be true or false, got 'yes please'"):
        import_spec(SLOTH.replace("disable: true", "disable: yes please"), "sloth.yaml")


def test_promtool_confirms_a_disabled_page_alert_never_fires(tmp_path: Path) -> None:
    """The generated promtool tests burn the budget fast: the page-disabled SLO raises no page, the other pages."""
    spec = """\
version: prometheus/v1
service: api
slos:
"""
    for name, alerting in (("pages", "{}"), ("quiet", "{page_alert: {disable: true}}")):
        spec += f"""\
  - name: {name}
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{{service="{name}", code=~"5.."}}[{{{{.window}}}}]))
        total_query: sum(rate(http_requests_total{{service="{name}"}}[{{{{.window}}}}]))
    alerting: {alerting}
"""
    files = generate(import_spec(spec, "sloth.yaml").definitions)
    for f in files:
        (tmp_path / f.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f.path).write_text(f.content)
    [test] = [f for f in files if f.path.endswith(".test.yml")]
    assert "budget for" in test.content and "m pages" in test.content and "does not page" in test.content
    run = subprocess.run(["promtool", "test", "rules", test.path], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
