"""Prometheus recording and alerting rules for one SLO, as plain dicts ready for YAML.

Recording rules carry the SLO identity (`slo_service`, `slo_name`, service and SLO labels) as rule labels and the
`group_by` labels from the queries, so every later rule selects its inputs by identity alone and one SLO per group
falls out of label matching. Thresholds are literals (factor * budget) rather than joins against budget series:
a literal cannot fail to match (sloth#171) and reads like the hand-computed figure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from observ.slo.model import (
    SLO,
    WINDOW_PLACEHOLDER,
    AvailabilitySLI,
    EventsSLI,
    LatencySLI,
    LogSLI,
    Service,
)
from observ.slo.windows import SHORT_WINDOWS, Tier, le_spellings, promql_number, tiers

RATIO = "slo:sli_error:ratio_rate"
REQUESTS = "slo:sli_requests:rate5m"
OBJECTIVE = "slo:objective:ratio"
BUDGET = "slo:error_budget:ratio"
CURRENT_BURN = "slo:current_burn_rate:ratio"
PERIOD_BURN = "slo:period_burn_rate:ratio"
PERIOD_REMAINING = "slo:period_error_budget_remaining:ratio"
INFO = "slo_info"
PERIOD_GROUP_INTERVAL = "5m"
"""Full-window rules read weeks of samples; evaluating them every 5m instead of every 30s is ~10 times cheaper."""

_SIMPLE_RATE = re.compile(
    r"^\s*sum\s*\(\s*rate\s*\(\s*(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(?P<sel>[^{}]*)\})?\s*"
    r"\[\s*\{\{window\}\}\s*\]\s*\)\s*\)\s*$"
)


@dataclass(frozen=True)
class Selector:
    """A metric and its label matchers (text without braces)."""

    metric: str
    matchers: str = ""

    def render(self, *extra: str) -> str:
        parts = [p.strip().strip(",").strip() for p in (self.matchers, *extra) if p.strip().strip(",").strip()]
        return f"{self.metric}{{{', '.join(parts)}}}" if parts else self.metric


def parse_simple_rate(query: str) -> Selector | None:
    """`sum(rate(metric{...}[{{window}}]))` → its selector; None for any other PromQL (kept verbatim)."""
    m = _SIMPLE_RATE.match(query)
    return Selector(m["metric"], m["sel"] or "") if m else None


def quote(value: str) -> str:
    """A PromQL string literal."""
    return json.dumps(value)


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name) if part)


def alert_base(service: Service, slo: SLO) -> str:
    """Alert name prefix: `Alerting.name` or CamelCase(service) + CamelCase(slo)."""
    return slo.alerting.name or camel(service.name) + camel(slo.name)


def identity(service: Service, slo: SLO) -> dict[str, str]:
    """Labels every generated series of this SLO carries (besides its group_by labels).

    A group_by label that is also a fixed label would be overwritten by the rule label, folding all groups into one
    label set, which Prometheus refuses at evaluation time; refuse it here instead, naming the SLO.
    """
    clash = set(slo.group_by) & {*service.labels, *slo.labels, "slo_service", "slo_name"}
    if clash:
        raise ValueError(
            f"service {service.name!r} SLO {slo.name!r}: group_by label(s) {', '.join(sorted(clash))} "
            "are also fixed labels of the SLO"
        )
    return {**service.labels, **slo.labels, "slo_service": service.name, "slo_name": slo.name}


def _id_selector(service: Service, slo: SLO) -> str:
    return f"{{slo_service={quote(service.name)}, slo_name={quote(slo.name)}}}"


def _sum(by: list[str], inner: str) -> str:
    return f"sum by ({', '.join(by)}) ({inner})" if by else f"sum({inner})"


def log_selectors(service: Service, sli: LogSLI) -> tuple[Selector, Selector]:
    """(error, total) selectors over observ's per-service line counters."""
    svc = f"service={quote(service.name)}"
    return (
        Selector(sli.metric, ", ".join(p for p in (svc, sli.error_selector) if p.strip())),
        Selector(sli.metric, ", ".join(p for p in (svc, sli.total_selector) if p.strip())),
    )


def _guarded(errors: str, total: str) -> str:
    """errors / total, defined only while total > 0; no error series at all counts as zero errors.

    `or 0 * total` keeps a service with no 5xx series yet at ratio 0 instead of absent;
    `/ (total > 0)` drops idle periods instead of producing NaN (sloth#133).
    """
    return f"(({errors}) or (0 * ({total}))) / (({total}) > 0)"


def _rate_fn(period: bool) -> str:
    """Over the full period the ratio is of counts (increase), which is what a budget is spent in."""
    return "increase" if period else "rate"


def total_query(service: Service, slo: SLO, window: str, period: bool = False) -> str | None:
    """Request rate over `window` (None for availability SLIs, which have no requests)."""
    sli, by, fn = slo.sli, slo.group_by, _rate_fn(period)
    if isinstance(sli, EventsSLI):
        sel = parse_simple_rate(sli.total_query)
        if sel:
            return _sum(by, f"{fn}({sel.render()}[{window}])")
        q = sli.total_query.replace(WINDOW_PLACEHOLDER, window)
        return _sum(by, q) if by else q
    if isinstance(sli, LatencySLI):
        return _sum(by, f"{fn}({Selector(sli.metric + '_count', sli.selector).render()}[{window}])")
    if isinstance(sli, LogSLI):
        return _sum(by, f"{fn}({log_selectors(service, sli)[1].render()}[{window}])")
    return None


def error_ratio(service: Service, slo: SLO, window: str, period: bool = False) -> str:
    """PromQL for the error ratio over `window`; with `period`, count-based (increase) over the whole window."""
    sli, by, fn = slo.sli, slo.group_by, _rate_fn(period)
    total = total_query(service, slo, window, period)
    if isinstance(sli, AvailabilitySLI):
        avg = f"avg_over_time({Selector(sli.metric, sli.selector).render()}[{window}])"
        return f"1 - ({'avg by (' + ', '.join(by) + ') ' if by else 'avg'}({avg}))"
    assert total is not None
    if isinstance(sli, LatencySLI):
        spellings = le_spellings(sli.threshold)
        le = f"le={quote(spellings[0])}" if len(spellings) == 1 else f"le=~{quote('|'.join(map(re.escape, spellings)))}"
        good = _sum(by, f"{fn}({Selector(sli.metric + '_bucket', sli.selector).render(le)}[{window}])")
        return f"({total} - {good}) / ({total} > 0)"
    if isinstance(sli, LogSLI):
        errors = _sum(by, f"{fn}({log_selectors(service, sli)[0].render()}[{window}])")
        return _guarded(errors, total)
    assert isinstance(sli, EventsSLI)
    sel = parse_simple_rate(sli.error_query)
    if sel:
        errors = _sum(by, f"{fn}({sel.render()}[{window}])")
    else:
        q = sli.error_query.replace(WINDOW_PLACEHOLDER, window)
        errors = _sum(by, q) if by else q
    return _guarded(errors, total)


def absent_selector(service: Service, slo: SLO) -> str:
    """The series whose absence means the SLI cannot be computed."""
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        return Selector(sli.metric + "_count", sli.selector).render()
    if isinstance(sli, AvailabilitySLI):
        return Selector(sli.metric, sli.selector).render()
    if isinstance(sli, LogSLI):
        return log_selectors(service, sli)[1].render()
    sel = parse_simple_rate(sli.total_query)
    return sel.render() if sel else sli.total_query.replace(WINDOW_PLACEHOLDER, "5m")


def _record(name: str, expr: str, labels: dict[str, str]) -> dict[str, object]:
    return {"record": name, "expr": expr, "labels": dict(labels)}


def sli_rules(service: Service, slo: SLO) -> list[dict[str, object]]:
    """Short-window ratios (5m … 3d), the request rate and the current burn rate."""
    ids = identity(service, slo)
    rules = [_record(RATIO + w, error_ratio(service, slo, w), ids) for w in SHORT_WINDOWS]
    requests = total_query(service, slo, "5m")
    if requests is not None:
        rules.append(_record(REQUESTS, requests, ids))
    sel = _id_selector(service, slo)
    rules.append(_record(CURRENT_BURN, f"{RATIO}5m{sel} / {promql_number(slo.budget)}", ids))
    return rules


def period_rules(service: Service, slo: SLO) -> list[dict[str, object]]:
    """Count-based full-window ratio, objective, budget, period burn, remaining budget and the info series."""
    ids, sel, budget = identity(service, slo), _id_selector(service, slo), promql_number(slo.budget)
    info = {
        **ids,
        "objective": promql_number(slo.objective),
        "window": slo.window,
        "owner": service.owner,
        "team": service.team,
    }
    return [
        _record(RATIO + slo.window, error_ratio(service, slo, slo.window, period=True), ids),
        _record(OBJECTIVE, f"vector({promql_number(round(slo.objective / 100, 12))})", ids),
        _record(BUDGET, f"vector({budget})", ids),
        _record(PERIOD_BURN, f"{RATIO}{slo.window}{sel} / {budget}", ids),
        _record(PERIOD_REMAINING, f"1 - {RATIO}{slo.window}{sel} / {budget}", ids),
        _record(INFO, "vector(1)", {k: v for k, v in info.items() if v}),
    ]


def _condition(sel: str, tier: Tier, slo: SLO) -> str:
    t = promql_number(tier.threshold(slo.period_days, slo.budget))
    return f"({RATIO}{tier.long_window}{sel} > {t} and {RATIO}{tier.short_window}{sel} > {t})"


def burn_description(slo: SLO, severity: str) -> str:
    """The burn figures of a severity's tiers, in words."""
    parts = [
        f"{promql_number(t.factor(slo.period_days))}x the budget "
        f"(error ratio {promql_number(t.threshold(slo.period_days, slo.budget))}) "
        f"over {t.long_window} and {t.short_window}, spending {promql_number(t.budget_fraction * 100)}% "
        f"of the {slo.window} budget"
        for t in tiers(severity)
    ]
    return (
        f"Error ratio of SLO {slo.name} (objective {promql_number(slo.objective)}%) is above "
        + ", or ".join(parts)
        + "."
    )


def alert_annotations(service: Service, slo: SLO, summary: str, description: str) -> dict[str, str]:
    a = slo.alerting
    urls = {"runbook_url": a.runbook_url, "dashboard_url": a.dashboard_url}
    return {"summary": summary, "description": description, **{k: v for k, v in urls.items() if v}, **a.annotations}


def burn_alert(service: Service, slo: SLO, severity: str) -> dict[str, object]:
    """One burn-rate alert rule; page and ticket share the name and differ by their severity labels."""
    a = slo.alerting
    sel = _id_selector(service, slo)
    severity_labels = a.page_labels if severity == "page" else a.ticket_labels
    return {
        "alert": alert_base(service, slo) + "BurnRate",
        "expr": " or ".join(_condition(sel, t, slo) for t in tiers(severity)),
        "labels": {**a.labels, **severity_labels},
        "annotations": alert_annotations(
            service,
            slo,
            f"{service.name}/{slo.name} is burning its error budget too fast ({severity})",
            burn_description(slo, severity),
        ),
    }


def absent_alert(service: Service, slo: SLO) -> dict[str, object]:
    """Without data the burn alerts are silent, so missing data is an alert of its own (ticket severity)."""
    a = slo.alerting
    return {
        "alert": alert_base(service, slo) + "SLIAbsent",
        "expr": f"absent({absent_selector(service, slo)})",
        "for": a.absent_for,
        "labels": {**a.labels, **a.ticket_labels, **identity(service, slo)},
        "annotations": alert_annotations(
            service,
            slo,
            f"{service.name}/{slo.name} has no SLI data",
            f"The SLI series {absent_selector(service, slo)} of SLO {slo.name} has been absent for "
            f"{a.absent_for}; its burn-rate alerts cannot fire.",
        ),
    }


def group_name(service: Service, slo: SLO, part: str) -> str:
    return f"slo-{service.name}-{slo.name}-{part}"


def slo_groups(service: Service, slo: SLO) -> list[dict[str, object]]:
    """Rule groups of one SLO: SLI ratios, full-period figures (relaxed interval), alerts (none when all disabled)."""
    groups: list[dict[str, object]] = [
        {"name": group_name(service, slo, "sli"), "rules": sli_rules(service, slo)},
        {
            "name": group_name(service, slo, "period"),
            "interval": PERIOD_GROUP_INTERVAL,
            "rules": period_rules(service, slo),
        },
    ]
    burns = [burn_alert(service, slo, severity) for severity in slo.alerting.severities]
    if burns:
        groups.append({"name": group_name(service, slo, "alerts"), "rules": [*burns, absent_alert(service, slo)]})
    return groups


def service_groups(service: Service) -> list[dict[str, object]]:
    return [g for slo in service.slos for g in slo_groups(service, slo)]
