"""Sloth `prometheus/v1` specs (and its `PrometheusServiceLevel` CR) into our service definitions.

Events SLIs map one to one (`{{.window}}` becomes `{{window}}`). Raw error-ratio SLIs and SLI plugins are
refused: our rules need the error and total counts apart, for the count-based full-window ratio and the
`total > 0` guard, and a plugin is Go code we cannot run.
"""

from __future__ import annotations

import re
from typing import Any

from observ.slo.importers._common import SpecError, listing, mapping, need, slug, str_map, text
from observ.slo.model import WINDOW_PLACEHOLDER

_SLOTH_WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")


def is_sloth(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    return doc.get("version") == "prometheus/v1" or (
        str(doc.get("apiVersion", "")).startswith("sloth.slok.dev/") and doc.get("kind") == "PrometheusServiceLevel"
    )


def convert(doc: dict[str, Any], where: str, window: str, warnings: list[str]) -> dict[str, Any]:
    """One Sloth spec → one service (as plain data for the model)."""
    spec = mapping(doc.get("spec"), f"{where}: spec") if "apiVersion" in doc else doc
    service_name = text(need(spec, "service", where), f"{where}: service")
    slos = listing(need(spec, "slos", where), f"{where}: slos")
    return {
        "name": slug(service_name),
        "labels": str_map(spec.get("labels"), f"{where}: labels"),
        "slos": [
            _slo(s, f"{where}: service {service_name!r}, SLO {s.get('name', i) if isinstance(s, dict) else i!r}",
                 window, warnings)
            for i, s in enumerate(slos)
        ],
    }  # fmt: skip


def _slo(slo: Any, where: str, window: str, warnings: list[str]) -> dict[str, Any]:
    slo = mapping(slo, where)
    sli = mapping(need(slo, "sli", where), f"{where}: sli")
    if "raw" in sli:
        raise SpecError(
            f"{where}: sli.raw (a precomputed error ratio) cannot be imported: observ needs the error and "
            "total queries apart (count-based full-window ratio, total > 0 guard); rewrite it as sli.events"
        )
    if "plugin" in sli:
        plugin = mapping(sli["plugin"], f"{where}: sli.plugin").get("id", "")
        raise SpecError(f"{where}: sli.plugin {plugin!r} is Sloth Go code; rewrite it as sli.events")
    events = mapping(need(sli, "events", f"{where}: sli"), f"{where}: sli.events")
    out: dict[str, Any] = {
        "name": slug(text(need(slo, "name", where), f"{where}: name")),
        "objective": need(slo, "objective", where),
        "window": window,
        "sli": {
            "kind": "events",
            "error_query": _window(text(need(events, "error_query", f"{where}: sli.events"), f"{where}: error_query")),
            "total_query": _window(text(need(events, "total_query", f"{where}: sli.events"), f"{where}: total_query")),
        },
    }
    if slo.get("description"):
        out["description"] = text(slo["description"], f"{where}: description")
    if slo.get("labels"):
        out["labels"] = str_map(slo["labels"], f"{where}: labels")
    if slo.get("alerting"):
        out["alerting"] = _alerting(slo["alerting"], where, warnings)
    return out


def _window(query: str) -> str:
    return _SLOTH_WINDOW.sub(WINDOW_PLACEHOLDER, query).strip()


def _alerting(alerting: Any, where: str, warnings: list[str]) -> dict[str, Any]:
    alerting = mapping(alerting, f"{where}: alerting")
    annotations = str_map(alerting.get("annotations"), f"{where}: alerting.annotations")
    out: dict[str, Any] = {
        "labels": str_map(alerting.get("labels"), f"{where}: alerting.labels"),
        "annotations": annotations,
    }
    if alerting.get("name"):
        out["name"] = text(alerting["name"], f"{where}: alerting.name")
    for field in ("runbook_url", "dashboard_url"):
        if field in annotations:
            out[field] = annotations.pop(field)
    for tier in ("page", "ticket"):
        block = mapping(alerting.get(f"{tier}_alert") or {}, f"{where}: alerting.{tier}_alert")
        disable = block.get("disable", False)
        if not isinstance(disable, bool):
            raise SpecError(f"{where}: alerting.{tier}_alert.disable must be true or false, got {disable!r}")
        if disable:
            out[tier] = False
        labels = str_map(block.get("labels"), f"{where}: alerting.{tier}_alert.labels")
        if labels:
            out[f"{tier}_labels"] = {"severity": tier, **labels}
        if block.get("annotations"):
            warnings.append(f"{where}: {tier}_alert.annotations merged into alerting.annotations")
            annotations.update(str_map(block["annotations"], f"{where}: alerting.{tier}_alert.annotations"))
    return out
