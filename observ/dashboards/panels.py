"""Panel factories on grafana-foundation-sdk builders: one place decides units, thresholds and datasources.

Every panel sets its options explicitly: the SDK's model cannot read back a panel whose `options` is null, and the
round-trip test depends on reading back what we write.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import logs as logs_panel
from grafana_foundation_sdk.builders import loki, prometheus, stat, table, tempo, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from observ.dashboards.provisioning import LOKI_UID, PROMETHEUS_UID, TEMPO_UID
from observ.dashboards.queries import Target

PROMETHEUS = dm.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
LOKI = dm.DataSourceRef(type_val="loki", uid=LOKI_UID)
TEMPO = dm.DataSourceRef(type_val="tempo", uid=TEMPO_UID)
Steps = Sequence[tuple[float | None, str]]


def _ref(i: int) -> str:
    return chr(ord("A") + i)


def _legend() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .show_legend(True)
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
    )


def _thresholds(steps: Steps) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps([dm.Threshold(value=v, color=c) for v, c in steps])
    )


def prom_targets(
    targets: Sequence[Target], *, exemplar: bool = False, instant: bool = False
) -> list[Builder[Dataquery]]:
    """Builders typed as the SDK's `targets()` takes them (its list is invariant)."""
    out: list[Builder[Dataquery]] = []
    for i, t in enumerate(targets):
        q = prometheus.Dataquery().ref_id(_ref(i)).expr(t.expr).legend_format(t.legend).datasource(PROMETHEUS)
        out.append(q.instant().format(pm.PromQueryFormat.TABLE) if instant else q.range().exemplar(exemplar))
    return out


def graph(
    title: str, targets: Sequence[Target], unit: str, *, width: int = 8, height: int = 8, exemplar: bool = False,
    thresholds: Steps = (), description: str = "",
) -> timeseries.Panel:  # fmt: skip
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(PROMETHEUS)
        .targets(prom_targets(targets, exemplar=exemplar))
        .unit(unit)
        .span(width)
        .height(height)
        .line_width(1)
        .fill_opacity(10)
        .show_points(cm.VisibilityMode.NEVER)
        .legend(_legend())
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    )
    if description:
        panel = panel.description(description)
    if thresholds:
        panel = panel.thresholds(_thresholds(thresholds)).thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED)
        )
    return panel


def single(
    title: str, target: Target, unit: str, thresholds: Steps, *, width: int = 6, decimals: int = 2
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(PROMETHEUS)
        .targets(prom_targets([target]))
        .unit(unit)
        .decimals(decimals)
        .span(width)
        .height(4)
        .thresholds(_thresholds(thresholds))
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.AREA)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def instant_table(
    title: str, targets: Sequence[Target], *, width: int = 24, height: int = 6, sort_by: str = "", desc: bool = False,
) -> table.Panel:  # fmt: skip
    panel = (
        table.Panel()
        .title(title)
        .datasource(PROMETHEUS)
        .targets(prom_targets(targets, instant=True))
        .span(width)
        .height(height)
        .show_header(True)
    )
    if sort_by:
        panel = panel.sort_by([cb.TableSortByFieldState().display_name(sort_by).desc(desc)])
    return panel


def logs(title: str, expr: str) -> logs_panel.Panel:
    return (
        logs_panel.Panel()
        .title(title)
        .datasource(LOKI)
        .with_target(loki.Dataquery().ref_id("A").expr(expr).max_lines(500).datasource(LOKI))
        .span(24)
        .height(12)
        .show_time(True)
        .show_labels(False)
        .wrap_log_message(True)
        .enable_log_details(True)
        .prettify_log_message(False)
        .sort_order(cm.LogsSortOrder.DESCENDING)
        .dedup_strategy(cm.LogsDedupStrategy.NONE)
    )


def logs_volume(title: str, expr: str) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .datasource(LOKI)
        .with_target(loki.Dataquery().ref_id("A").expr(expr).legend_format("{{level}}").datasource(LOKI))
        .unit("short")
        .span(24)
        .height(6)
        .draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
        .legend(_legend())
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    )


def traces(title: str, traceql: str) -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .datasource(TEMPO)
        .with_target(tempo.TempoQuery().ref_id("A").query_type("traceql").query(traceql).limit(20).datasource(TEMPO))
        .span(24)
        .height(10)
        .show_header(True)
    )


def row(title: str) -> db.Row:
    return db.Row(title)
