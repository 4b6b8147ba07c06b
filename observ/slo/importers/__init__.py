"""Import Sloth and OpenSLO specs as our service definitions (`observ slo import`).

The format is detected from the documents: Sloth's `version: prometheus/v1` (or its PrometheusServiceLevel CR)
or OpenSLO's `apiVersion: openslo/v1`. The result is validated by the model before anything is written.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from observ.slo.importers import openslo, sloth
from observ.slo.importers._common import ImportResult, SpecError, to_yaml
from observ.slo.model import PERIODS, ServiceDefinitions

__all__ = ["ImportResult", "SpecError", "import_documents", "import_spec", "to_yaml"]


def import_spec(text: str, source: str = "<string>", window: str = "30d") -> ImportResult:
    """Convert a Sloth or OpenSLO file; `window` is the period for Sloth SLOs, whose spec has none."""
    return import_documents(_load_all(text, source), source, window)


def import_documents(raw: list[Any], source: str = "<string>", window: str = "30d") -> ImportResult:
    """The same from already parsed YAML documents."""
    if window not in PERIODS:
        raise SpecError(f"window {window!r} must be one of {', '.join(PERIODS)}")
    docs = _documents(raw, source)
    warnings: list[str] = []
    if docs and all(sloth.is_sloth(d) for _, d in docs):
        services = _merge([sloth.convert(d, f"{source}: document {n}", window, warnings) for n, d in docs])
    elif docs and all(openslo.is_openslo(d) for _, d in docs):
        services = openslo.convert(docs, source, warnings)
    else:
        raise SpecError(
            f"{source}: not a Sloth spec (version: prometheus/v1) or OpenSLO v1 (apiVersion: openslo/v1) "
            "in every document"
        )
    if not services:
        raise SpecError(f"{source}: no SLO found")
    try:
        defs = ServiceDefinitions.model_validate({"version": 1, "services": services})
    except ValidationError as e:
        raise SpecError("\n".join(_explain(source, services, err) for err in e.errors())) from None
    return ImportResult(defs, warnings)


def _load_all(text: str, source: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise SpecError(f"{where}: invalid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{source}: invalid YAML: {e}") from None


def _documents(raw: list[Any], source: str) -> list[tuple[int, dict[str, Any]]]:
    """Non-empty documents numbered from 1; a document holding a list of objects counts as each of them."""
    docs: list[tuple[int, dict[str, Any]]] = []
    for n, doc in enumerate(raw, 1):
        for item in doc if isinstance(doc, list) else [doc]:
            if item is None:
                continue
            if not isinstance(item, dict):
                raise SpecError(f"{source}: document {n}: expected a mapping, got {type(item).__name__}")
            docs.append((n, item))
    return docs


def _merge(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Several Sloth specs for one service become one service (labels of the later spec win)."""
    merged: dict[str, dict[str, Any]] = {}
    for s in services:
        if s["name"] in merged:
            merged[s["name"]]["slos"] += s["slos"]
            merged[s["name"]]["labels"] |= s["labels"]
        else:
            merged[s["name"]] = s
    return list(merged.values())


def _explain(source: str, services: list[dict[str, Any]], err: Any) -> str:
    """A model error in terms of the imported service and SLO names, not list indexes."""
    loc = list(err["loc"])
    where = [source]
    if len(loc) >= 2 and loc[0] == "services" and isinstance(loc[1], int):
        service = services[loc[1]]
        where.append(f"service {service.get('name')!r}")
        loc = loc[2:]
        if len(loc) >= 2 and loc[0] == "slos" and isinstance(loc[1], int):
            where.append(f"SLO {service['slos'][loc[1]].get('name')!r}")
            loc = loc[2:]
    field = ".".join(str(p) for p in loc if p not in ("events", "latency", "availability", "logs"))
    message = err["msg"].removeprefix("Value error, ")
    return ": ".join([*where, field, message] if field else [*where, message])
