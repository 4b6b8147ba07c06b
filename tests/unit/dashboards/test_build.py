from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as dm

from observ.dashboards import queries
from observ.dashboards.build import (
    OVERVIEW_UID,
    overview_dashboard,
    render_all,
    service_dashboard,
    service_uid,
    to_json,
)
from observ.dashboards.provisioning import ProvisioningConfig, datasources, defined_uids
from observ.logql.syntax.parser import parse
from observ.slo.model import AvailabilitySLI, EventsSLI, LatencySLI, LogSLI, ServiceDefinitions
from tests.unit.dashboards.conftest import example
from tests.unit.dashboards.helpers import datasource_refs, datasource_uids, panels
from tests.unit.dashboards.helpers import queries as all_queries

register_default_plugins()
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(promql: str) -> set[str]:
    """Metric names a PromQL expression reads: identifiers outside strings, matchers, ranges and groupings."""
    text = re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", promql)  # Grafana's variable query
    text = _STRING.sub('""', text)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = _GROUPING.sub("", text)
    return {name for name, call in _IDENT.findall(text) if not call and name.lower() not in _KEYWORDS}


def provided_metrics(defs: ServiceDefinitions) -> set[str]:
    """What the rules record and the SLIs read: the only series a dashboard may query."""
    names = set(queries.RECORDED_METRICS)
    for service in defs.services:
        for slo in service.slos:
            sli = slo.sli
            if isinstance(sli, EventsSLI):
                names |= metric_names(sli.error_query) | metric_names(sli.total_query)
            elif isinstance(sli, LatencySLI):
                names |= {f"{sli.metric}_bucket", f"{sli.metric}_count"}
            elif isinstance(sli, AvailabilitySLI | LogSLI):
                names.add(sli.metric)
    return names


def all_dashboards(defs: ServiceDefinitions) -> list[dict]:
    return [to_json(service_dashboard(s)) for s in defs.services] + [to_json(overview_dashboard(defs))]


def test_metric_names_reads_only_series() -> None:
    expr = 'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{x="b c", route=~"$route"}[5m]))) / on(x) b:c'
    assert metric_names(expr) == {"a_bucket", "b:c"}
    assert metric_names('label_values(slo:objective:ratio{slo_service="x"}, route)') == {"slo:objective:ratio"}


def test_round_trip_through_sdk_models(defs: ServiceDefinitions) -> None:
    for generated in all_dashboards(defs):
        parsed = dm.Dashboard.from_json(json.loads(json.dumps(generated)))
        assert to_json(parsed) == generated


def test_every_datasource_uid_is_provisioned(defs: ServiceDefinitions) -> None:
    provisioned = defined_uids(datasources(ProvisioningConfig()))
    used = {uid for d in all_dashboards(defs) for uid in datasource_uids(d)}
    assert used == {"prometheus", "loki", "tempo"}
    assert used <= provisioned


def test_datasource_types_match_provisioning(defs: ServiceDefinitions) -> None:
    types = {ds["uid"]: ds["type"] for ds in datasources(ProvisioningConfig())["datasources"]}
    for d in all_dashboards(defs):
        for kind, uid in datasource_refs(d):
            assert kind == types[uid], (d["uid"], kind, uid)


def test_public_surface() -> None:
    import observ.dashboards

    assert sorted(observ.dashboards.__all__) == [
        "OVERVIEW_UID", "ProvisioningConfig", "overview_dashboard", "render_all", "service_dashboard", "service_uid",
    ]  # fmt: skip


def test_queries_read_only_provided_metrics(defs: ServiceDefinitions) -> None:
    allowed = provided_metrics(defs)
    for d in all_dashboards(defs):
        for kind, expr in all_queries(d):
            if kind == "prometheus":
                assert metric_names(expr) <= allowed, (d["uid"], expr)


def test_logql_queries_parse(defs: ServiceDefinitions) -> None:
    logql = [e for d in all_dashboards(defs) for kind, e in all_queries(d) if kind == "loki"]
    assert len(logql) == 2 * len(defs.services)
    for expr in logql:
        parse(expr.replace("$__interval", "1m"))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promql_is_valid_for_promtool(defs: ServiceDefinitions, tmp_path: Path) -> None:
    exprs = sorted({e for d in all_dashboards(defs) for kind, e in all_queries(d) if kind == "prometheus"})
    exprs = [e for e in exprs if not e.startswith("label_values(")]
    rules = [
        {"record": f"dashboard:query{i}", "expr": re.sub(r"\$\w+", ".*", e.replace("$__rate_interval", "5m"))}
        for i, e in enumerate(exprs)
    ]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ids_unique_and_stable(defs: ServiceDefinitions) -> None:
    dashboards = all_dashboards(defs)
    uids = [d["uid"] for d in dashboards]
    assert len(set(uids)) == len(uids)
    assert all(len(u) <= 40 for u in uids)
    assert uids[-1] == OVERVIEW_UID
    for d in dashboards:
        ids = [p["id"] for p in panels(d)]
        assert ids == list(range(1, len(ids) + 1))
        for p in panels(d):
            refs = [t["refId"] for t in p.get("targets", [])]
            assert len(set(refs)) == len(refs) and all(refs)
    assert dashboards == all_dashboards(defs)


def test_long_service_name_gets_short_hashed_uid() -> None:
    uid = service_uid("a-very-long-service-name-that-goes-on-and-on")
    assert len(uid) == 40 and uid.startswith("observ-a-very")
    assert uid != service_uid("a-very-long-service-name-that-goes-on-and-on2")


def _by_title(d: dict) -> dict[str, dict]:
    return {p["title"]: p for p in panels(d) if p["type"] != "row"}


def test_service_dashboard_panels() -> None:
    checkout = to_json(service_dashboard(example().services[0]))
    assert checkout["uid"] == "observ-checkout"
    titled = _by_title(checkout)
    latency = titled["Latency p50 / p95 / p99"]
    assert [t["exemplar"] for t in latency["targets"]] == [True, True, True]
    assert latency["targets"][2]["expr"] == (
        "histogram_quantile(0.99, sum by (le, route) "
        '(rate(http_request_duration_seconds_bucket{job="checkout", route=~"$route"}[5m])))'
    )
    assert titled["Request rate"]["targets"][0]["exemplar"] is True
    assert titled["Request rate"]["targets"][0]["expr"] == 'sum(rate(http_requests_total{job="checkout"}[5m]))'
    assert titled["Logs"]["targets"][0]["expr"] == '{service="checkout"}'
    assert titled["Log volume by level"]["targets"][0]["expr"] == (
        'sum by (level) (count_over_time({service="checkout"} [$__interval]))'
    )
    traces = titled["Recent traces"]
    assert traces["datasource"]["uid"] == "tempo"
    assert traces["targets"][0]["query"] == '{resource.service.name="checkout"}'
    assert traces["targets"][0]["queryType"] == "traceql"
    assert titled["Firing and pending SLO alerts"]["targets"][0]["expr"] == 'ALERTS{slo_service="checkout"}'
    rows = [p["title"] for p in panels(checkout) if p["type"] == "row"]
    assert rows == ["Alerts", "RED: rate, errors, duration", "SLO availability: 99.9% over 30d",
                    "SLO latency: 99% over 28d", "Logs", "Traces"]  # fmt: skip
    assert [v["name"] for v in checkout["templating"]["list"]] == ["route"]


def test_slo_panels_read_the_recording_rules() -> None:
    checkout = to_json(service_dashboard(example().services[0]))
    exprs = {t.get("expr") for p in panels(checkout) for t in p.get("targets", [])}
    avail = '{slo_service="checkout", slo_name="availability"}'
    latency = '{slo_service="checkout", slo_name="latency", route=~"$route"}'
    assert f"1 - slo:sli_error:ratio_rate30d{avail}" in exprs
    assert f"1 - slo:sli_error:ratio_rate28d{latency}" in exprs
    assert f"slo:sli_error:ratio_rate1h{avail} / 0.001" in exprs
    assert f"slo:sli_error:ratio_rate3d{latency} / 0.01" in exprs
    assert f"slo:period_error_budget_remaining:ratio{avail}" in exprs
    assert f"slo:current_burn_rate:ratio{latency}" in exprs
    assert 'slo:objective:ratio{slo_service="checkout", slo_name="latency"}' in exprs


def test_burn_thresholds_follow_the_period() -> None:
    checkout = example().services[0]
    assert queries.burn_factors(checkout.slos[0]) == [14.4, 6, 3, 1]
    burn = [p for p in panels(to_json(service_dashboard(checkout))) if p["title"] == "Burn rate"]
    steps = [s["value"] for s in burn[1]["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [None, pytest.approx(28 / 30), pytest.approx(5.6), pytest.approx(13.44)]


def test_overview_sorts_by_budget_and_links_services() -> None:
    defs = example()
    overview = to_json(overview_dashboard(defs))
    table = _by_title(overview)["SLOs by error budget remaining"]
    first = table["targets"][0]
    assert first["expr"] == 'sort(slo:period_error_budget_remaining:ratio{slo_service=~"$service"})'
    assert first["instant"] is True and first["format"] == "table"
    assert table["options"]["sortBy"] == [{"displayName": "Budget remaining", "desc": False}]
    assert [link["url"] for link in overview["links"]] == ["/d/observ-checkout", "/d/observ-frontend"]
    service_links = [o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "slo_service"]
    assert service_links[0]["properties"][0]["value"][0]["url"].startswith("/d/observ-${__value.raw}")


def test_render_all_writes_every_file() -> None:
    files = render_all(example(), ProvisioningConfig())
    assert sorted(files) == ["checkout.json", "frontend.json", "provisioning/dashboards.yaml",
                             "provisioning/datasources.yaml", "slo-overview.json"]  # fmt: skip
    assert json.loads(files["checkout.json"])["uid"] == "observ-checkout"
