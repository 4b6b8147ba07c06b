"""OpenSLO v1 (multi-document YAML: Service, SLI, SLO, ...) into our service definitions.

What maps: an SLO's `indicator` or `indicatorRef` to a `kind: SLI`; `ratioMetric` with `good` or `bad`
plus `total` becomes an events SLI (error = bad, or total - good); a `thresholdMetric` over a histogram's
`_bucket` series with `op: lte|lt` becomes a latency SLI. Queries get our window placeholder by replacing
their range durations (`[5m]` → `[{{window}}]`); a bare counter selector marked `counter: true` is wrapped
in `sum(rate(...[{{window}}]))`. Everything else is refused with the reason, never guessed.
"""

from __future__ import annotations

import re
from typing import Any

from observ.slo.importers._common import SpecError, listing, mapping, need, number, slug, text
from observ.slo.model import WINDOW_PLACEHOLDER

_DURATION = r"\d+(?:ms|s|m|h|d|w|y)"
_RANGE = re.compile(rf"\[\s*(?:{_DURATION})+\s*\]")
_SLOTH_WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")
_SELECTOR = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*\s*(\{[^{}]*\})?$")
_BUCKET = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\s*(?:\{([^{}]*)\})?")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"')
_ROLLING = {"30d": "30d", "28d": "28d", "4w": "28d", "7d": "7d", "1w": "7d"}
_PROMQL_SOURCES = {"prometheus", "thanos", "cortex", "mimir", "victoriametrics", "amazonprometheus"}
PROMETHEUS_DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
"""prometheus client libraries' default histogram buckets, assumed when a threshold is one of them."""


def is_openslo(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("openslo/")


def convert(docs: list[tuple[int, dict[str, Any]]], source: str, warnings: list[str]) -> list[dict[str, Any]]:
    """Documents (numbered from 1) → services as plain data, in order of first appearance."""
    for n, doc in docs:
        if doc.get("apiVersion") != "openslo/v1":
            raise SpecError(f"{source}: document {n}: only openslo/v1 is supported, got {doc.get('apiVersion')!r}")
    slis = {_name(doc, f"{source}: document {n}"): doc for n, doc in docs if doc.get("kind") == "SLI"}
    services: dict[str, dict[str, Any]] = {}
    for n, doc in docs:
        where = f"{source}: document {n} ({doc.get('kind')} {_meta_name(doc)!r})"
        kind = doc.get("kind")
        if kind == "Service":
            services.setdefault(slug(_name(doc, where)), {"name": slug(_name(doc, where)), "slos": []})
        elif kind == "SLO":
            spec = mapping(need(doc, "spec", where), f"{where}: spec")
            service = slug(text(need(spec, "service", where), f"{where}: service"))
            entry = services.setdefault(service, {"name": service, "slos": []})
            entry["slos"] += _slos(doc, spec, slis, where, warnings)
        elif kind != "SLI":
            warnings.append(f"{where}: kind {kind} is not imported (alerting comes from our own burn-rate tiers)")
    for name, entry in list(services.items()):
        if not entry["slos"]:
            warnings.append(f"{source}: service {name!r} has no SLO and is left out")
            del services[name]
    return list(services.values())


def _meta_name(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _name(doc: dict[str, Any], where: str) -> str:
    return text(need(doc.get("metadata"), "name", f"{where}: metadata"), f"{where}: metadata.name")


def _slos(
    doc: dict[str, Any], spec: dict[str, Any], slis: dict[str, Any], where: str, warnings: list[str]
) -> list[dict[str, Any]]:
    indicator = _indicator(spec, slis, where)
    window, calendar = _window(spec, where, warnings)
    method = spec.get("budgetingMethod", "Occurrences")
    if method != "Occurrences":
        warnings.append(f"{where}: budgetingMethod {method} imported as Occurrences (a ratio of events)")
    objectives = [
        mapping(o, f"{where}: objectives[{i}]")
        for i, o in enumerate(listing(need(spec, "objectives", where), f"{where}: objectives"))
    ]
    base = slug(_name(doc, where))
    out = []
    for i, objective in enumerate(objectives):
        at = f"{where}: objectives[{i}]"
        name = base
        if len(objectives) > 1:
            name = f"{base}-{slug(str(objective.get('name') or objective.get('displayName') or i))}"
        slo: dict[str, Any] = {
            "name": name,
            "objective": _objective(objective, at),
            "window": window,
            "sli": _sli(indicator, objective, f"{where}: indicator", warnings),
        }
        if calendar:
            slo["calendar"] = calendar
        description = spec.get("description") or mapping(doc.get("metadata"), f"{where}: metadata").get("displayName")
        if description:
            slo["description"] = text(description, f"{where}: description")
        out.append(slo)
    return out


def _indicator(spec: dict[str, Any], slis: dict[str, Any], where: str) -> dict[str, Any]:
    if "indicator" in spec:
        indicator = spec["indicator"]
    elif "indicatorRef" in spec:
        ref = text(spec["indicatorRef"], f"{where}: indicatorRef")
        if ref not in slis:
            raise SpecError(f"{where}: indicatorRef {ref!r} names no kind: SLI document in this file")
        indicator = slis[ref]
    else:
        raise SpecError(f"{where}: needs indicator or indicatorRef")
    return mapping(need(indicator, "spec", f"{where}: indicator"), f"{where}: indicator.spec")


def _window(spec: dict[str, Any], where: str, warnings: list[str]) -> tuple[str, str]:
    windows = spec.get("timeWindow") or []
    if not windows:
        warnings.append(f"{where}: no timeWindow; using 30d rolling")
        return "30d", ""
    tw = mapping(windows[0] if isinstance(windows, list) else windows, f"{where}: timeWindow")
    duration = text(need(tw, "duration", f"{where}: timeWindow"), f"{where}: timeWindow.duration")
    if tw.get("isRolling", True) is False or "calendar" in tw:
        if duration == "1M":
            return "30d", "month"
        raise SpecError(f"{where}: calendar window {duration} is not supported; only a calendar month (1M) is")
    if duration not in _ROLLING:
        raise SpecError(f"{where}: rolling window {duration} is not supported; use one of {', '.join(_ROLLING)}")
    return _ROLLING[duration], ""


def _objective(objective: Any, where: str) -> float:
    if objective.get("targetPercent") is not None:
        return number(objective["targetPercent"], f"{where}: targetPercent")
    if objective.get("target") is not None:
        return round(number(objective["target"], f"{where}: target") * 100, 10)
    raise SpecError(f"{where}: needs target (a ratio) or targetPercent")


def _sli(indicator: dict[str, Any], objective: dict[str, Any], where: str, warnings: list[str]) -> dict[str, Any]:
    if "ratioMetric" in indicator:
        return _ratio(indicator["ratioMetric"], f"{where}.ratioMetric")
    if "thresholdMetric" in indicator:
        return _threshold(indicator["thresholdMetric"], objective, f"{where}.thresholdMetric", warnings)
    raise SpecError(f"{where}: only ratioMetric and thresholdMetric indicators can be imported")


def _ratio(ratio: Any, where: str) -> dict[str, Any]:
    ratio = mapping(ratio, where)
    if "raw" in ratio:
        raise SpecError(f"{where}: a raw ratio cannot be imported: observ needs the error and total queries apart")
    counter = bool(ratio.get("counter", True))
    total = _windowed(_query(need(ratio, "total", where), f"{where}.total"), counter, f"{where}.total")
    if "bad" in ratio:
        error = _windowed(_query(ratio["bad"], f"{where}.bad"), counter, f"{where}.bad")
    elif "good" in ratio:
        good = _windowed(_query(ratio["good"], f"{where}.good"), counter, f"{where}.good")
        error = f"({total}) - ({good})"
    else:
        raise SpecError(f"{where}: needs good or bad beside total")
    return {"kind": "events", "error_query": error, "total_query": total}


def _query(part: Any, where: str) -> str:
    source = mapping(need(part, "metricSource", where), f"{where}.metricSource")
    kind = text(source.get("type", "Prometheus"), f"{where}.metricSource.type")
    if kind.lower() not in _PROMQL_SOURCES:
        raise SpecError(f"{where}: metricSource type {kind!r} is not PromQL; observ generates Prometheus rules")
    spec = need(source, "spec", f"{where}.metricSource")
    if isinstance(spec, str):
        return spec.strip()
    for key in ("query", "promql", "expr"):
        if isinstance(spec, dict) and spec.get(key):
            return text(spec[key], f"{where}.metricSource.spec.{key}").strip()
    raise SpecError(f"{where}.metricSource.spec: needs query")


def _windowed(query: str, counter: bool, where: str) -> str:
    """The query with `{{window}}` where its range durations were (documented in docs/slo.md)."""
    query = _SLOTH_WINDOW.sub(WINDOW_PLACEHOLDER, query)
    if WINDOW_PLACEHOLDER in query:
        return query
    replaced, n = _RANGE.subn(f"[{WINDOW_PLACEHOLDER}]", query)
    if n:
        return replaced
    if counter and _SELECTOR.match(query):
        return f"sum(rate({query}[{WINDOW_PLACEHOLDER}]))"
    raise SpecError(
        f"{where}: query {query!r} has no range duration like [5m] to turn into [{WINDOW_PLACEHOLDER}] "
        "and is not a plain counter selector"
    )


def _threshold(metric: Any, objective: dict[str, Any], where: str, warnings: list[str]) -> dict[str, Any]:
    query = _query(metric, where)
    found = _BUCKET.search(query)
    if not found:
        raise SpecError(
            f"{where}: query {query!r} reads no histogram _bucket series; only histogram latency thresholds "
            "can be imported (as a latency SLI)"
        )
    op = objective.get("op", "lte")
    if op not in ("lte", "lt"):
        raise SpecError(f"{where}: op {op!r}: a latency threshold is an upper bound (lte or lt)")
    threshold = number(need(objective, "value", f"{where}: objective"), f"{where}: objective value")
    matchers = [m for m in _MATCHER.finditer(found.group(2) or "") if m.group(1) != "le"]
    if any(abs(b - threshold) < 1e-12 for b in PROMETHEUS_DEFAULT_BUCKETS):
        buckets = PROMETHEUS_DEFAULT_BUCKETS
        warnings.append(
            f"{where}: buckets assumed to be the Prometheus client defaults; list the histogram's real ones"
        )
    else:
        buckets = [threshold]
        warnings.append(f"{where}: buckets set to the threshold {threshold:g} only; list the histogram's real ones")
    warnings.append(
        f"{where}: a threshold on a quantile becomes a latency SLI: the share of requests at or under {threshold:g}s"
    )
    return {
        "kind": "latency",
        "metric": found.group(1),
        "threshold": threshold,
        "buckets": buckets,
        "selector": ", ".join(f'{m.group(1)}{m.group(2)}"{m.group(3)}"' for m in matchers),
    }
