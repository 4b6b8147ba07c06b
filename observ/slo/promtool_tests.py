"""promtool unit tests generated beside the rules: each page alert fires on a fast burn and stays silent when healthy.

Input series are synthesized from the SLI's own metric names and label matchers, so a test exercises the very
queries of the rule file. Every scenario starts with more healthy history (3d + 1h) than the longest alert window:
a 3d rate over a few hours of data would make ticket alerts fire early. Expected alerts are computed from the
scenario's piecewise-constant error ratio, and a burn length is chosen whose every window ratio is clearly (>= 10%)
above or below its threshold, so the expectation does not hinge on rate() extrapolation at window edges.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from observ.gocompat.durations import parse_duration_seconds
from observ.slo.model import SLO, AvailabilitySLI, EventsSLI, LatencySLI, LogSLI, Service
from observ.slo.rules import (
    BUDGET,
    OBJECTIVE,
    Selector,
    absent_selector,
    alert_annotations,
    alert_base,
    burn_description,
    identity,
    log_selectors,
    parse_simple_rate,
)
from observ.slo.windows import TIERS, promql_number, window_seconds

EVAL_INTERVAL_MIN = 5
HISTORY_MIN = 3 * 24 * 60 + 60
"""Healthy minutes before a burn: longer than the longest alert window (3d)."""
BURN_CANDIDATES_MIN = (75, 120, 90, 180, 420)
"""Burn lengths to try, shortest first: 75m trips the fast page tier alone for 30d and 28d SLOs."""
REQUESTS_PER_MIN = 1000.0
MARGIN = 0.1
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_FILLERS = ("ok", "info", "200", "success", "")

Matcher = tuple[str, str, str]


def parse_matchers(text: str) -> list[Matcher] | None:
    """`a="x", b=~"y|z"` → [(name, op, value)]; None when the text is not a plain matcher list."""
    out: list[Matcher] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _MATCHER.match(text, pos)
        if not m:
            return None
        out.append((m[1], m[2], json.loads(f'"{m[3]}"')))
        pos = m.end()
    return out


def _holds(labels: dict[str, str], matchers: list[Matcher]) -> bool:
    for name, op, value in matchers:
        got = labels.get(name, "")
        ok = {
            "=": got == value,
            "!=": got != value,
            "=~": re.fullmatch(value, got) is not None,
            "!~": re.fullmatch(value, got) is None,
        }[op]
        if not ok:
            return False
    return True


def _example(alternative: str) -> str:
    """A string a simple regex alternative accepts: `5..` → `500`, `error` → `error`."""
    return re.sub(r"\.[*+]?", "0", alternative)


def satisfy(matchers: list[Matcher], base: dict[str, str]) -> dict[str, str] | None:
    """Labels (extending `base`) that all matchers accept; None when no simple choice works."""
    labels = dict(base)
    for name, op, value in matchers:
        if op == "=" and value:
            labels[name] = value
        elif op == "=~" and name not in labels:
            choice = next((c for c in map(_example, value.split("|")) if c and re.fullmatch(value, c)), None)
            if choice is None:
                return None
            labels[name] = choice
    return labels if _holds(labels, matchers) else None


def violate(labels: dict[str, str], keep: list[Matcher], reject: list[Matcher]) -> dict[str, str] | None:
    """Labels that still satisfy `keep` but fail `reject`: the good events beside the bad ones."""
    for name, _, _ in reject:
        for filler in _FILLERS:
            cand = {**labels, name: filler} if filler else {k: v for k, v in labels.items() if k != name}
            if _holds(cand, keep) and not _holds(cand, reject):
                return cand
    return None


@dataclass
class Series:
    """A synthesized input series: a counter of `errors`-or-`total`-proportional increments, or a gauge."""

    metric: str
    labels: dict[str, str]
    kind: str  # "errors" | "good" | "total" | "availability"

    def text(self) -> str:
        body = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{body}}}"


@dataclass
class Synthesis:
    series: list[Series] = field(default_factory=list)
    note: str = ""


def _num(x: float) -> str:
    return f"{x:.12g}"


def _values(series: Series, phases: list[tuple[int, float]]) -> str:
    """promtool expanding notation for 1m samples over (minutes, error ratio) phases."""
    parts: list[str] = []
    value, first = 0.0, True
    for minutes, ratio in phases:
        if series.kind == "availability":
            v = 1 - ratio
            parts.append(f"{_num(v)}+0x{minutes if first else minutes - 1}")
            first = False
            continue
        inc = REQUESTS_PER_MIN * {"errors": ratio, "good": 1 - ratio, "total": 1.0}[series.kind]
        start = value if first else value + inc
        count = minutes if first else minutes - 1
        parts.append(f"{_num(start)}+{_num(inc)}x{count}")
        value = start + inc * count
        first = False
    return " ".join(parts)


def _group_labels(slo: SLO) -> dict[str, str]:
    return {g: f"{g}-a" for g in slo.group_by}


def synthesize(service: Service, slo: SLO) -> Synthesis:
    """Input series matching the SLI's queries, or a note saying why none could be built."""
    sli, base = slo.sli, _group_labels(slo)

    def ratio_series(err: Selector, tot: Selector) -> Synthesis:
        em, tm = parse_matchers(err.matchers), parse_matchers(tot.matchers)
        if em is None or tm is None:
            return Synthesis(note="selectors are not plain label matchers")
        if err.metric != tot.metric:
            el, tl = satisfy(em, base), satisfy(tm, base)
            if el is None or tl is None:
                return Synthesis(note="no label values satisfy the selectors")
            return Synthesis([Series(err.metric, el, "errors"), Series(tot.metric, tl, "total")])
        el = satisfy(em + tm, base)
        gl = violate(el, tm, em) if el is not None else None
        if el is None or gl is None:
            return Synthesis(note="no label values separate error from total series")
        return Synthesis([Series(err.metric, el, "errors"), Series(tot.metric, gl, "good")])

    if isinstance(sli, LatencySLI):
        m = parse_matchers(sli.selector)
        labels = satisfy(m, base) if m is not None else None
        if labels is None:
            return Synthesis(note="latency selector is not a plain matcher list")
        bucket = {**labels, "le": promql_number(sli.threshold)}
        return Synthesis(
            [Series(sli.metric + "_count", labels, "total"), Series(sli.metric + "_bucket", bucket, "good")]
        )
    if isinstance(sli, AvailabilitySLI):
        m = parse_matchers(sli.selector)
        labels = satisfy(m, base) if m is not None else None
        if labels is None:
            return Synthesis(note="availability selector is not a plain matcher list")
        return Synthesis([Series(sli.metric, labels, "availability")])
    if isinstance(sli, LogSLI):
        return ratio_series(*log_selectors(service, sli))
    assert isinstance(sli, EventsSLI)
    err, tot = parse_simple_rate(sli.error_query), parse_simple_rate(sli.total_query)
    if err is None or tot is None:
        return Synthesis(note="events queries are not of the form sum(rate(metric{...}[{{window}}]))")
    return ratio_series(err, tot)


def window_ratio(phases: list[tuple[int, float]], window_min: int) -> float:
    """Average error ratio over the last `window_min` minutes of the scenario."""
    left, total = window_min, 0.0
    for minutes, ratio in reversed(phases):
        take = min(left, minutes)
        total += take * ratio
        left -= take
        if left == 0:
            break
    return total / (window_min - left)


def firing(slo: SLO, phases: list[tuple[int, float]]) -> tuple[set[str], bool]:
    """Severities whose alert fires at the end of `phases`, and whether every comparison has a clear margin."""
    fired: set[str] = set()
    clear = True
    for tier in TIERS:
        thr = tier.threshold(slo.period_days, slo.budget)
        above = True
        for w in (tier.long_window, tier.short_window):
            r = window_ratio(phases, window_seconds(w) // 60)
            clear &= abs(r - thr) > MARGIN * thr
            above &= r > thr
        if above:
            fired.add(tier.severity)
    return fired, clear


def healthy_ratio(slo: SLO) -> float:
    """Half the lowest threshold: below every tier even for 7d SLOs, whose slow ticket factor is < 1."""
    return 0.5 * min(1.0, *(t.factor(slo.period_days) for t in TIERS)) * slo.budget


def _alert(service: Service, slo: SLO, severity: str) -> dict[str, object]:
    a = slo.alerting
    sev = a.page_labels if severity == "page" else a.ticket_labels
    labels = {**identity(service, slo), **_group_labels(slo), **a.labels, **sev}
    summary = f"{service.name}/{slo.name} is burning its error budget too fast ({severity})"
    return {
        "exp_labels": labels,
        "exp_annotations": alert_annotations(service, slo, summary, burn_description(slo, severity)),
    }


def _input(synth: Synthesis, phases: list[tuple[int, float]]) -> list[dict[str, str]]:
    return [{"series": s.text(), "values": _values(s, phases)} for s in synth.series]


def _static_checks(service: Service, slo: SLO, eval_time: str) -> list[dict[str, object]]:
    ids = identity(service, slo)
    body = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(ids.items()))
    sel = f"{{slo_service={json.dumps(service.name)}, slo_name={json.dumps(slo.name)}}}"
    return [
        {
            "expr": f"{name}{sel}",
            "eval_time": eval_time,
            "exp_samples": [{"labels": f"{name}{{{body}}}", "value": value}],
        }
        for name, value in ((OBJECTIVE, round(slo.objective / 100, 12)), (BUDGET, slo.budget))
    ]


def _absent_test(service: Service, slo: SLO) -> dict[str, object]:
    """No SLI series at all: the absent-data alert fires once `absent_for` has passed."""
    a = slo.alerting
    step = EVAL_INTERVAL_MIN * 60
    at = (math.ceil(parse_duration_seconds(a.absent_for) / step) + 1) * step // 60
    sel = absent_selector(service, slo)
    parsed = re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(.*)\})?$", sel)
    matchers = parse_matchers(parsed[1] or "") if parsed else []
    from_selector = {n: v for n, op, v in (matchers or []) if op == "="}
    labels = {**from_selector, **a.labels, **a.ticket_labels, **identity(service, slo)}
    return {
        "name": f"{service.name}/{slo.name}: no SLI data, absent alert fires",
        "interval": "1m",
        "input_series": [{"series": 'observ_slo_test_unrelated{job="none"}', "values": f"1+0x{at}"}],
        "alert_rule_test": [
            {
                "eval_time": f"{at}m",
                "alertname": alert_base(service, slo) + "SLIAbsent",
                "exp_alerts": [
                    {
                        "exp_labels": labels,
                        "exp_annotations": alert_annotations(
                            service,
                            slo,
                            f"{service.name}/{slo.name} has no SLI data",
                            f"The SLI series {sel} of SLO {slo.name} has been absent for "
                            f"{a.absent_for}; its burn-rate alerts cannot fire.",
                        ),
                    }
                ],
            }
        ],
    }


def _templated(slo: SLO) -> bool:
    a = slo.alerting
    return any("{{" in v for v in (a.runbook_url, a.dashboard_url, *a.annotations.values()))


def _via_alerts_series(group: dict[str, Any]) -> dict[str, object]:
    """Alert checks as queries of the ALERTS series, for annotations whose templates the test cannot render.
    `group` is a promtool test group as YAML holds it."""
    exprs = list(group.pop("promql_expr_test", []))
    for check in group.pop("alert_rule_test", []):
        name = check["alertname"]
        samples = []
        for alert in check["exp_alerts"]:
            labels = {"alertname": name, "alertstate": "firing", **alert["exp_labels"]}
            body = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
            samples.append({"labels": f"ALERTS{{{body}}}", "value": 1})
        expr = f'ALERTS{{alertname={json.dumps(name)}, alertstate="firing"}}'
        exprs.append({"expr": expr, "eval_time": check["eval_time"], "exp_samples": samples})
    return {**group, "promql_expr_test": exprs}


def slo_tests(service: Service, slo: SLO) -> tuple[list[dict[str, object]], list[str]]:
    """promtool test groups for one SLO, and notes on what could not be tested."""
    tests, notes = _slo_tests(service, slo)
    if _templated(slo):
        notes.append(f"{slo.name}: annotations are templates; alerts are checked through ALERTS, annotations are not")
        tests = [_via_alerts_series(t) for t in tests]
    return tests, notes


def _slo_tests(service: Service, slo: SLO) -> tuple[list[dict[str, object]], list[str]]:
    name, notes = alert_base(service, slo) + "BurnRate", []
    severities = slo.alerting.severities
    synth = synthesize(service, slo)
    healthy = [(HISTORY_MIN + BURN_CANDIDATES_MIN[0], healthy_ratio(slo))]
    end = f"{HISTORY_MIN + BURN_CANDIDATES_MIN[0]}m"
    tests: list[dict[str, object]] = [_absent_test(service, slo)] if severities else []
    if not synth.series:
        notes.append(f"{slo.name}: {synth.note}; only the static recording rules and the absent alert are tested")
        tests.append(
            {
                "name": f"{service.name}/{slo.name}: objective and budget series",
                "interval": "1m",
                "input_series": [],
                "promql_expr_test": _static_checks(service, slo, "5m"),
            }
        )
        return tests, notes
    tests.append(
        {
            "name": f"{service.name}/{slo.name}: healthy at {_num(healthy[0][1] / slo.budget)}x budget, no alert",
            "interval": "1m",
            "input_series": _input(synth, healthy),
            "alert_rule_test": [
                {"eval_time": end, "alertname": alert, "exp_alerts": []}
                for alert in ((name, alert_base(service, slo) + "SLIAbsent") if severities else ())
            ],
            "promql_expr_test": _static_checks(service, slo, end),
        }
    )
    if not severities:
        notes.append(f"{slo.name}: page and ticket alerts are disabled; no alert is generated")
        return tests, notes
    burn = min(1.0, 20 * slo.budget)
    for minutes in BURN_CANDIDATES_MIN:
        phases = [(HISTORY_MIN, healthy_ratio(slo)), (minutes, burn)]
        fired, clear = firing(slo, phases)
        if "page" in fired and clear:
            pages = "pages" if "page" in severities else "does not page (page alert disabled)"
            tests.append(
                {
                    "name": f"{service.name}/{slo.name}: {_num(burn / slo.budget)}x budget for {minutes}m {pages}",
                    "interval": "1m",
                    "input_series": _input(synth, phases),
                    "alert_rule_test": [
                        {
                            "eval_time": f"{HISTORY_MIN + minutes}m",
                            "alertname": name,
                            "exp_alerts": [_alert(service, slo, sev) for sev in severities if sev in fired],
                        }
                    ],
                }
            )
            return tests, notes
    notes.append(f"{slo.name}: no burn (error ratio <= 1) clearly exceeds the page thresholds; fast burn not tested")
    return tests, notes


def test_file(service: Service, rules_path: str) -> dict[str, object]:
    """The promtool test file of one service; `rules_path` is relative to the test file."""
    tests = [t for slo in service.slos for t in slo_tests(service, slo)[0]]
    return {"rule_files": [rules_path], "evaluation_interval": f"{EVAL_INTERVAL_MIN}m", "tests": tests}


def test_notes(service: Service) -> list[str]:
    return [n for slo in service.slos for n in slo_tests(service, slo)[1]]
