"""What both importers share: the refusal error, name slugs and writing our YAML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from observ.slo.model import ServiceDefinitions


class SpecError(ValueError):
    """A spec that cannot be imported faithfully; the message names the source, the document and the SLO."""


@dataclass
class ImportResult:
    """Imported definitions plus what was dropped or assumed on the way (printed by the CLI)."""

    definitions: ServiceDefinitions
    warnings: list[str] = field(default_factory=list)


_NOT_NAME = re.compile(r"[^a-z0-9_-]+")


def slug(name: str) -> str:
    """A foreign name as one of ours (`^[a-z][a-z0-9_-]*$`): lower case, other runs of characters become `-`."""
    s = _NOT_NAME.sub("-", name.strip().lower()).strip("-")
    return s if s[:1].isalpha() else f"x-{s}" if s else ""


def str_map(value: Any, where: str) -> dict[str, str]:
    """Labels and annotations: a mapping whose values become strings (YAML `true` or `1` stay as written)."""
    if value in (None, {}):
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(value).__name__}")
    return {str(k): _scalar(v) for k, v in value.items()}


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def listing(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SpecError(f"{where}: expected a number, got {type(value).__name__}")
    try:
        return float(value)
    except ValueError:
        raise SpecError(f"{where}: expected a number, got {value!r}") from None


def text(value: Any, where: str) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise SpecError(f"{where}: expected a string, got {type(value).__name__}")
    return str(value)


def need(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or mapping.get(key) in (None, ""):
        raise SpecError(f"{where}: missing {key!r}")
    return mapping[key]


def to_yaml(defs: ServiceDefinitions, header: str = "") -> str:
    """Our services file: defaults left out (except each SLI's `kind`), multi-line queries as block scalars."""
    data = defs.model_dump(mode="json", exclude_defaults=True)
    data = {"version": defs.version, **data}
    for service, model in zip(data["services"], defs.services, strict=True):
        for slo, slo_model in zip(service["slos"], model.slos, strict=True):
            slo["sli"] = {"kind": slo_model.sli.kind, **slo.get("sli", {})}
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100_000)
    return f"{header}{text}"


class _Dumper(yaml.SafeDumper):
    """Indents lists under their key, as `alerts/services.yaml` is written by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    """Buckets and group_by labels on one line; lists of mappings (services, SLOs) as blocks."""
    flow = all(not isinstance(v, dict | list) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)
