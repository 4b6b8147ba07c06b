"""Sloth prometheus/v1 specs import as events SLIs; raw ratios and plugins are refused with the reason."""

from __future__ import annotations

import pytest

from observ.slo.importers import SpecError, import_spec, to_yaml
from observ.slo.load import parse_definitions
from observ.slo.model import EventsSLI

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
    assert result.warnings == [
        "sloth.yaml: document 1: service 'k8s-apiserver', SLO 'requests-latency': "
        "page_alert.disable is not supported; the page alert is generated"
    ]


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
