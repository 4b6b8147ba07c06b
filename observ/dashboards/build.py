"""Dashboards from service definitions: one per service (RED, SLOs, logs, traces) and an overview of every SLO.

Output is deterministic (stable uids, panel ids and refIds, sorted JSON keys) so the generated files in
`dashboards/` diff cleanly and `generate --check` can tell when they are stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

from observ.dashboards import panels, queries
from observ.dashboards.provisioning import ProvisioningConfig, dashboard_providers, datasources, render
from observ.slo.model import SLO, LatencySLI, Service, ServiceDefinitions

OVERVIEW_UID = "observ-slo-overview"
TAGS = ["observ", "slo"]
_UID_MAX = 40


def service_uid(name: str) -> str:
    """`observ-<service>`, shortened with a hash past Grafana's 40-character uid limit."""
    uid = f"observ-{name}"
    if len(uid) <= _UID_MAX:
        return uid
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{uid[: _UID_MAX - 9]}-{digest}"


def _group_variables(service: Service) -> list[Builder[dm.VariableModel]]:
    labels: dict[str, SLO] = {}
    for slo in service.slos:
        for label in slo.group_by:
            labels.setdefault(label, slo)
    return [
        db.QueryVariable(label)
        .label(label)
        .datasource(panels.PROMETHEUS)
        .query(f'label_values({queries.SLI_ERROR}5m{{slo_service="{service.name}"}}, {label})')
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        for label, slo in sorted(labels.items())
    ]


def _red_row(d: db.Dashboard, service: Service) -> db.Dashboard:
    rates = _unique(t for slo in service.slos if (t := queries.request_rate(service, slo)))
    errors = _unique(t for slo in service.slos if (t := queries.error_ratio(service, slo)))
    latency = [t for slo in service.slos for t in queries.latency_quantiles(slo)]
    d = d.with_row(panels.row("RED: rate, errors, duration"))
    if rates:
        d = d.with_panel(panels.graph("Request rate", rates, "reqps", exemplar=True))
    if errors:
        d = d.with_panel(panels.graph("Error ratio (5m)", errors, "percentunit"))
    if latency:
        names = ", ".join(s.name for s in service.slos if isinstance(s.sli, LatencySLI))
        d = d.with_panel(
            panels.graph("Latency p50 / p95 / p99", latency, "s", exemplar=True, description=f"SLOs: {names}")
        )
    return d


def _slo_row(d: db.Dashboard, service: Service, slo: SLO) -> db.Dashboard:
    target = slo.objective / 100
    page_fast, page_slow, ticket_fast, ticket_slow = queries.burn_factors(slo)
    burn_help = (
        f"Error ratio / error budget ({slo.budget:g}). Alerts page at {page_fast:g}x (1h and 5m) or "
        f"{page_slow:g}x (6h and 30m), ticket at {ticket_fast:g}x (1d and 2h) or {ticket_slow:g}x (3d and 6h)."
    )
    burn_steps = [(None, "green"), (ticket_slow, "yellow"), (page_slow, "orange"), (page_fast, "red")]
    stats = [
        panels.single(
            f"SLI ({slo.window})", queries.sli_window(service, slo), "percentunit",
            [(None, "red"), (target, "green")], decimals=3,
        ),
        panels.single("Objective", queries.objective(service, slo), "percentunit", [(None, "blue")], decimals=3),
        panels.single(
            "Error budget remaining", queries.budget_remaining(service, slo), "percentunit",
            [(None, "red"), (0, "orange"), (0.25, "green")], decimals=1,
        ),
        panels.single(
            "Current burn rate", queries.current_burn_rate(service, slo), "x",
            [(None, "green"), (1, "yellow"), (page_fast, "red")],
        ),
    ]  # fmt: skip
    graphs = [
        panels.graph("SLI vs objective", queries.sli_series(service, slo), "percentunit"),
        panels.graph(
            "Burn rate", queries.burn_rates(service, slo), "x", thresholds=burn_steps, description=burn_help
        ),
        panels.graph(
            "Error budget remaining", [queries.budget_remaining(service, slo)], "percentunit",
            thresholds=[(None, "red"), (0, "green")],
        ),
    ]  # fmt: skip
    d = d.with_row(panels.row(f"SLO {slo.name}: {slo.objective:g}% over {slo.window}"))
    for panel in [*stats, *graphs]:
        d = d.with_panel(panel)
    return d


def service_dashboard(service: Service) -> dm.Dashboard:
    overview = db.DashboardLink("SLO overview").type(dm.DashboardLinkType.LINK).url(f"/d/{OVERVIEW_UID}")
    d = (
        db.Dashboard(f"{service.name} — service")
        .uid(service_uid(service.name))
        .tags([*TAGS, service.name])
        .description(f"Generated from alerts/services.yaml (owner: {service.owner or service.team or 'unknown'}).")
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("utc")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .link(overview.keep_time(True))
        .variables(_group_variables(service))
    )
    d = d.with_row(panels.row("Alerts")).with_panel(
        panels.instant_table("Firing and pending SLO alerts", [queries.alerts(service)], height=5)
    )
    d = _red_row(d, service)
    for slo in service.slos:
        d = _slo_row(d, service, slo)
    d = (
        d.with_row(panels.row("Logs"))
        .with_panel(panels.logs_volume("Log volume by level", queries.logs_volume(service)))
        .with_panel(panels.logs("Logs", queries.logs(service)))
        .with_row(panels.row("Traces"))
        .with_panel(panels.traces("Recent traces", queries.traces(service)))
    )
    return _numbered(d.build())


def _overview_table(service_filter: str) -> table.Panel:
    targets = [
        queries.overview_budget(service_filter),
        queries.overview_objective(service_filter),
        queries.Target(f"{queries.CURRENT_BURN_RATE}{service_filter}", "burn rate"),
    ]
    organize = {
        "excludeByName": {"Time": True, "__name__": True},
        "renameByName": {"Value #A": "Budget remaining", "Value #B": "Objective", "Value #C": "Burn rate"},
    }
    link = {"title": "Open ${__value.raw} dashboard", "url": "/d/observ-${__value.raw}?${__url_time_range}"}
    return (
        panels.instant_table("SLOs by error budget remaining", targets, height=14, sort_by="Budget remaining")
        .with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(dm.DataTransformerConfig(id_val="organize", options=organize))
        .override_by_name("Budget remaining", [dm.DynamicConfigValue(id_val="unit", value="percentunit")])
        .override_by_name("Objective", [dm.DynamicConfigValue(id_val="unit", value="percentunit")])
        .override_by_name("Burn rate", [dm.DynamicConfigValue(id_val="unit", value="x")])
        .override_by_name("slo_service", [dm.DynamicConfigValue(id_val="links", value=[link])])
    )


def overview_dashboard(defs: ServiceDefinitions) -> dm.Dashboard:
    """Every SLO in one table, the least budget left first, linking to each service's dashboard."""
    service_filter = '{slo_service=~"$service"}'
    counts = [
        ("SLOs out of budget", f"count({queries.BUDGET_REMAINING}{service_filter} < 0)", "red"),
        ("SLOs burning faster than budget", f"count({queries.CURRENT_BURN_RATE}{service_filter} > 1)", "orange"),
        ("Firing SLO alerts", 'count(ALERTS{alertstate="firing", slo_service=~"$service"})', "red"),
    ]
    service_var = (
        db.QueryVariable("service")
        .label("service")
        .datasource(panels.PROMETHEUS)
        .query(f"label_values({queries.OBJECTIVE}, slo_service)")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    links: list[Builder[dm.DashboardLink]] = [
        db.DashboardLink(s.name).type(dm.DashboardLinkType.LINK).url(f"/d/{service_uid(s.name)}").keep_time(True)
        for s in defs.services
    ]
    d = (
        db.Dashboard("SLO overview")
        .uid(OVERVIEW_UID)
        .tags(TAGS)
        .description("Every SLO from alerts/services.yaml, least error budget remaining first.")
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("utc")
        .with_variable(service_var)
        .links(links)
    )
    for title, expr, color in counts:
        target = queries.Target(f"{expr} or vector(0)", title)
        d = d.with_panel(panels.single(title, target, "short", [(None, "green"), (1, color)], width=8, decimals=0))
    return _numbered(d.with_panel(_overview_table(service_filter)).build())


def _unique(targets: Iterable[queries.Target]) -> list[queries.Target]:
    seen: dict[str, queries.Target] = {}
    for t in targets:
        seen.setdefault(t.expr, t)
    return list(seen.values())


def _numbered(d: dm.Dashboard) -> dm.Dashboard:
    """Panel ids 1..n in layout order: Grafana needs them unique for links and panel state."""
    for i, panel in enumerate(d.panels or [], start=1):
        panel.id_val = i
    return d


def to_json(d: dm.Dashboard) -> dict[str, Any]:
    return json.loads(json.dumps(d, cls=JSONEncoder))


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all(defs: ServiceDefinitions, cfg: ProvisioningConfig) -> dict[str, str]:
    """Relative path → file content for everything `generate` writes."""
    files = {f"{s.name}.json": dumps(to_json(service_dashboard(s))) for s in defs.services}
    files["slo-overview.json"] = dumps(to_json(overview_dashboard(defs)))
    files["provisioning/datasources.yaml"] = render(datasources(cfg))
    files["provisioning/dashboards.yaml"] = render(dashboard_providers(cfg))
    return files


def write(files: dict[str, str], out: Path) -> list[Path]:
    written = []
    for rel, content in sorted(files.items()):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def stale(files: dict[str, str], out: Path) -> list[str]:
    """Files missing or different on disk: what `generate --check` reports."""
    return [rel for rel, content in sorted(files.items()) if not (out / rel).is_file()
            or (out / rel).read_text(encoding="utf-8") != content]  # fmt: skip
