"""Load `alerts/services.yaml` into the model, with errors that name the file, the line and the field.

PyYAML's composed node tree keeps a mark (line, column) for every key and value; pydantic reports each
error with a location tuple. Walking that tuple down the node tree turns "services.0.slos.1.objective"
into `services.yaml:14:9: services[0].slos[1].objective: ...`, so an editor can jump straight to it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from observ.slo.model import (
    SLO,
    Alerting,
    AvailabilitySLI,
    EventsSLI,
    LatencySLI,
    LogSLI,
    Service,
    ServiceDefinitions,
)

_SLI_KINDS: dict[str, type[BaseModel]] = {
    str(m.model_fields["kind"].default): m for m in (EventsSLI, LatencySLI, AvailabilitySLI, LogSLI)
}
_CHILD_MODELS: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (ServiceDefinitions, "services"): Service,
    (Service, "slos"): SLO,
    (SLO, "alerting"): Alerting,
}


@dataclass(frozen=True)
class DefinitionIssue:
    """One problem in a definitions file; `line` and `column` are 1-based, as editors count."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class DefinitionError(ValueError):
    """Every problem found in one file, sorted by position; `str()` gives one line per problem."""

    def __init__(self, issues: list[DefinitionIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.line, i.column))
        super().__init__("\n".join(str(i) for i in self.issues))


def load_definitions(path: Path) -> ServiceDefinitions:
    """Read and validate a services file; raise `DefinitionError` for any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DefinitionError([DefinitionIssue(str(path), 1, 1, "", f"cannot read: {e}")]) from None
    return parse_definitions(text, str(path))


def parse_definitions(text: str, source: str = "<string>") -> ServiceDefinitions:
    """Validate YAML text; `source` is the name errors carry."""
    root, data = _compose(text, source)
    try:
        return ServiceDefinitions.model_validate(data)
    except ValidationError as e:
        errors = [err for err in e.errors() if not err["msg"].startswith("Value error, duplicate ")]
        issues = [_issue(source, root, err) for err in errors]
        for loc, msg in _duplicate_names(root, data):
            mark, path = _locate(root, loc)
            issues.append(DefinitionIssue(source, *_line_col(mark), path, msg))
        raise DefinitionError(issues or [_issue(source, root, err) for err in e.errors()]) from None


def _compose(text: str, source: str) -> tuple[Node, Any]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise DefinitionError([DefinitionIssue(source, 1, 1, "", "the file is empty")])
        duplicates = _duplicate_keys(root)  # before construction flattens merge keys into the node tree
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = _line_col(mark) if mark else (1, 1)
        reason = e.problem or "malformed YAML"
        if e.context and e.context_mark and e.context_mark is not mark:
            reason += f" ({e.context} at line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
        elif e.context:
            reason = f"{e.context}: {reason}"
        raise DefinitionError([DefinitionIssue(source, line, col, "", f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as e:
        raise DefinitionError([DefinitionIssue(source, 1, 1, "", f"invalid YAML: {e}")]) from None
    finally:
        loader.dispose()
    if duplicates:
        raise DefinitionError([DefinitionIssue(source, *_line_col(m), p, msg) for m, p, msg in duplicates])
    return root, data


def _duplicate_keys(node: Node, path: str = "", seen_nodes: set[int] | None = None) -> list[tuple[yaml.Mark, str, str]]:
    """PyYAML keeps the last of two equal keys silently; a definitions file with both is a mistake."""
    found: list[tuple[yaml.Mark, str, str]] = []
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:  # an alias: checked where its anchor is, and it may refer to itself
        return found
    seen_nodes.add(id(node))
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else ""
            child = f"{path}.{name}" if path else name
            if name and name != "<<":
                if name in seen:
                    found.append((key.start_mark, child, f"duplicate key {name!r}"))
                seen.add(name)
            found += _duplicate_keys(value, child, seen_nodes)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            found += _duplicate_keys(item, f"{path}[{i}]", seen_nodes)
    return found


def _line_col(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def _duplicate_names(root: Node, data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Repeated service and SLO names, located at the repeat; pydantic's own check is skipped when
    anything else in the service is wrong, and it can only point at the whole service."""
    found: list[tuple[tuple[Any, ...], str]] = []
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, list):
        return found
    for loc, name, first in _repeats(services, ("services",)):
        found.append((loc, f"duplicate service name {name!r} (first at line {_line(root, first)})"))
    for i, service in enumerate(services):
        slos = service.get("slos") if isinstance(service, dict) else None
        if isinstance(slos, list):
            for loc, name, first in _repeats(slos, ("services", i, "slos")):
                where = f"(first at line {_line(root, first)})"
                found.append((loc, f"duplicate SLO name {name!r} in service {service.get('name')!r} {where}"))
    return found


def _repeats(items: list[Any], base: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str, tuple[Any, ...]]]:
    """(location of the repeat, name, location of the first) for each item whose name was seen before."""
    first: dict[str, tuple[Any, ...]] = {}
    out: list[tuple[tuple[Any, ...], str, tuple[Any, ...]]] = []
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            out.append(((*base, i, "name"), name, first[name]))
        first.setdefault(name, (*base, i, "name"))
    return out


def _line(root: Node, loc: tuple[Any, ...]) -> int:
    return _locate(root, loc)[0].line + 1


def _issue(source: str, root: Node, err: Any) -> DefinitionIssue:
    loc, message = _refine(tuple(err["loc"]), err)
    mark, path = _locate(root, loc)
    return DefinitionIssue(source, *_line_col(mark), path, message)


def _refine(loc: tuple[Any, ...], err: Any) -> tuple[tuple[Any, ...], str]:
    """Reword pydantic's generic messages and move model-level errors onto the field they are about."""
    kind, msg, ctx = err["type"], err["msg"], err.get("ctx") or {}
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        if msg.startswith("threshold ") and loc and loc[-1] == "latency":
            return (*loc, "threshold"), msg
        return loc, msg
    if kind == "union_tag_invalid":
        expected = ", ".join(_SLI_KINDS)
        return (*loc, "kind"), f"unknown SLI kind {ctx.get('tag')!r}; expected one of: {expected}"
    if kind == "union_tag_not_found":
        return loc, f"the SLI needs a kind: one of {', '.join(_SLI_KINDS)}"
    if kind == "missing":
        return loc, f"missing required key {loc[-1]!r}"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        tail = f"; did you mean {hint[0]!r}?" if hint else (f"; allowed: {', '.join(allowed)}" if allowed else "")
        return loc, f"unknown key {loc[-1]!r}{tail}"
    given = err.get("input")
    if loc and loc[-1] == "[key]":
        return loc[:-1], f"key {given!r} must be a string"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"expected a mapping, got {_shape(given)}"
    if kind == "list_type":
        return loc, f"expected a list, got {_shape(given)}"
    if kind == "string_type" and isinstance(given, int | float | bool):
        return loc, f'{msg}, got {given!r}: quote it, e.g. "{given}"'
    if isinstance(given, str | int | float | bool) or given is None:
        return loc, f"{msg}, got {given!r}"
    return loc, msg


def _shape(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else repr(value)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Keys the model accepts at `loc`, for a did-you-mean hint."""
    model: type[BaseModel] | None = ServiceDefinitions
    in_sli = False
    for step in loc:
        if isinstance(step, int):
            continue
        if in_sli:
            model, in_sli = _SLI_KINDS.get(step), False
        elif model is SLO and step == "sli":
            model, in_sli = None, True
        else:
            model = _CHILD_MODELS.get((model, step)) if model else None
    return list(model.model_fields) if model else []


def _locate(root: Node, loc: tuple[Any, ...]) -> tuple[yaml.Mark, str]:
    """The mark of the deepest node `loc` reaches (a key's own mark for a mapping entry) and the dotted path."""
    node: Node | None = root
    mark = root.start_mark
    path = ""
    after_sli = False
    for step in loc:
        if after_sli and step in _SLI_KINDS:  # the discriminated union's tag, not a key in the file
            after_sli = False
            continue
        after_sli = step == "sli"
        as_index = isinstance(step, int) and not isinstance(node, MappingNode)  # an int key of a mapping is a key
        path = f"{path}[{step}]" if as_index else (f"{path}.{step}" if path else str(step))
        if isinstance(node, MappingNode):
            pair = next((kv for kv in node.value if isinstance(kv[0], ScalarNode) and kv[0].value == str(step)), None)
            node = pair[1] if pair else None
            if pair:
                mark = pair[0].start_mark
        elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
            mark = node.start_mark
        else:
            node = None
    return mark, path
