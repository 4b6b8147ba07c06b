"""PromQL, LogQL and TraceQL behind each panel, derived from the service definitions.

Kept apart from the panel layout so tests can check every query against the metrics the rules and SLIs provide.
SLO panels read the recording rules of `observ.slo.rules`; RED panels run the SLIs' own queries
over 5m on the raw metrics, so they work before any rule has been evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass

from observ.slo import rules
from observ.slo.model import SLO, WINDOW_PLACEHOLDER, AvailabilitySLI, EventsSLI, LatencySLI, LogSLI, Service
from observ.slo.windows import SHORT_WINDOWS, TIERS, promql_number

RATE_WINDOW = "5m"
SLI_ERROR = rules.RATIO
"""Prefix of the error-ratio recording rules; the suffix is the window (5m ... 3d, or the SLO period)."""
OBJECTIVE = rules.OBJECTIVE
CURRENT_BURN_RATE = rules.CURRENT_BURN
BUDGET_REMAINING = rules.PERIOD_REMAINING
RECORDED_METRICS = frozenset(
    {f"{SLI_ERROR}{w}" for w in (*SHORT_WINDOWS, "7d", "28d", "30d")}
    | {OBJECTIVE, CURRENT_BURN_RATE, BUDGET_REMAINING, rules.BUDGET, rules.PERIOD_BURN, rules.REQUESTS, rules.INFO}
    | {"ALERTS"}
)
"""Series the SLO rules record (plus Prometheus' own ALERTS): all an SLO panel may read."""
BURN_WINDOWS = ("5m", *(t.long_window for t in TIERS))
"""Windows shown on the burn-rate panel: the short page window and every tier's long window."""


@dataclass(frozen=True)
class Target:
    """One query of a panel: the expression and its legend."""

    expr: str
    legend: str


def burn_factors(slo: SLO) -> list[float]:
    """Burn rates of page-fast, page-slow, ticket-fast, ticket-slow for this SLO's period (14.4, 6, 3, 1 at 30d)."""
    return [t.factor(slo.period_days) for t in TIERS]


def group_matchers(slo: SLO) -> list[str]:
    """Matchers tying a grouped SLO's series to the dashboard's template variables (one per group_by label)."""
    return [f'{label}=~"${label}"' for label in slo.group_by]


def _selector(*parts: str) -> str:
    return "{" + ", ".join(p for p in parts if p.strip()) + "}"


def _identity(service: Service, slo: SLO) -> list[str]:
    return [f'slo_service="{service.name}"', f'slo_name="{slo.name}"']


def slo_selector(service: Service, slo: SLO) -> str:
    """Selects one SLO's recorded series, narrowed to the template variables' groups."""
    return _selector(*_identity(service, slo), *group_matchers(slo))


def _legend(slo: SLO, text: str) -> str:
    return text + "".join(f" {{{{{label}}}}}" for label in slo.group_by)


def _sum(slo: SLO, inner: str) -> str:
    return f"sum by ({', '.join(slo.group_by)}) ({inner})" if slo.group_by else f"sum({inner})"


def _windowed(query: str) -> str:
    return query.replace(WINDOW_PLACEHOLDER, RATE_WINDOW)


def _log_rate(service: Service, sli: LogSLI, matchers: str, slo: SLO) -> str:
    sel = _selector(f'service="{service.name}"', matchers, *group_matchers(slo))
    return _sum(slo, f"rate({sli.metric}{sel}[{RATE_WINDOW}])")


def request_rate(service: Service, slo: SLO) -> Target | None:
    """Events per second behind an SLO (availability gauges have none)."""
    sli = slo.sli
    if isinstance(sli, EventsSLI):
        return Target(_windowed(sli.total_query), _legend(slo, slo.name))
    if isinstance(sli, LatencySLI):
        sel = _selector(sli.selector, *group_matchers(slo))
        return Target(_sum(slo, f"rate({sli.metric}_count{sel}[{RATE_WINDOW}])"), _legend(slo, slo.name))
    if isinstance(sli, LogSLI):
        return Target(_log_rate(service, sli, sli.total_selector, slo), _legend(slo, f"{slo.name} log lines"))
    return None


def error_ratio(service: Service, slo: SLO) -> Target | None:
    """Share of bad events over 5m, straight from the SLI (latency SLIs are about slowness: see latency panel)."""
    sli = slo.sli
    if isinstance(sli, EventsSLI):
        return Target(f"({_windowed(sli.error_query)}) / ({_windowed(sli.total_query)})", _legend(slo, slo.name))
    if isinstance(sli, LogSLI):
        bad, total = (_log_rate(service, sli, m, slo) for m in (sli.error_selector, sli.total_selector))
        return Target(f"{bad} / {total}", _legend(slo, slo.name))
    if isinstance(sli, AvailabilitySLI):
        sel = _selector(sli.selector, *group_matchers(slo))
        avg = f"avg by ({', '.join(slo.group_by)})" if slo.group_by else "avg"
        return Target(f"1 - {avg}(avg_over_time({sli.metric}{sel}[{RATE_WINDOW}]))", _legend(slo, f"{slo.name} down"))
    return None


def latency_quantiles(slo: SLO) -> list[Target]:
    """p50/p95/p99 from the latency SLI's histogram buckets."""
    sli = slo.sli
    if not isinstance(sli, LatencySLI):
        return []
    by = ", ".join(["le", *slo.group_by])
    rate = f"sum by ({by}) (rate({sli.metric}_bucket{_selector(sli.selector, *group_matchers(slo))}[{RATE_WINDOW}]))"
    return [Target(f"histogram_quantile({q}, {rate})", _legend(slo, f"p{round(q * 100)}")) for q in (0.5, 0.95, 0.99)]


def sli_window(service: Service, slo: SLO) -> Target:
    return Target(f"1 - {SLI_ERROR}{slo.window}{slo_selector(service, slo)}", _legend(slo, f"SLI {slo.window}"))


def sli_series(service: Service, slo: SLO) -> list[Target]:
    sel = slo_selector(service, slo)
    return [
        Target(f"1 - {SLI_ERROR}5m{sel}", _legend(slo, "SLI 5m")),
        Target(f"1 - {SLI_ERROR}1h{sel}", _legend(slo, "SLI 1h")),
        objective(service, slo),
    ]


def burn_rates(service: Service, slo: SLO) -> list[Target]:
    """Error ratio per window over the budget; divides by the constant budget so group labels never mismatch."""
    sel = slo_selector(service, slo)
    return [
        Target(f"{SLI_ERROR}{w}{sel} / {promql_number(slo.budget)}", _legend(slo, f"burn {w}")) for w in BURN_WINDOWS
    ]


def current_burn_rate(service: Service, slo: SLO) -> Target:
    return Target(f"{CURRENT_BURN_RATE}{slo_selector(service, slo)}", _legend(slo, "current burn rate"))


def budget_remaining(service: Service, slo: SLO) -> Target:
    return Target(f"{BUDGET_REMAINING}{slo_selector(service, slo)}", _legend(slo, "budget remaining"))


def objective(service: Service, slo: SLO) -> Target:
    """The objective series has no group labels: a group matcher would drop it once a group is picked."""
    return Target(f"{OBJECTIVE}{_selector(*_identity(service, slo))}", "objective")


def alerts(service: Service) -> Target:
    return Target(f'ALERTS{{slo_service="{service.name}"}}', "{{alertname}} {{severity}}")


def logs(service: Service) -> str:
    return f'{{service="{service.name}"}}'


def logs_volume(service: Service) -> str:
    return f"sum by (level) (count_over_time({logs(service)} [$__interval]))"


def traces(service: Service) -> str:
    return f'{{resource.service.name="{service.name}"}}'


def overview_budget(service_filter: str) -> Target:
    return Target(f"sort({BUDGET_REMAINING}{service_filter})", "budget remaining")


def overview_objective(service_filter: str) -> Target:
    """The objective copied onto every group's series, so the overview's merge puts it on each group's row."""
    groups = f"0 * {BUDGET_REMAINING}{service_filter}"
    return Target(f"({groups}) + on (slo_service, slo_name) group_left () {OBJECTIVE}{service_filter}", "objective")
