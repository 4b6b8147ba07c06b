"""`/loki/api/v1/detected_labels`: the stream labels worth offering as filters, with their cardinality.

As Loki's querier (`pkg/querier/querier.go`: `DetectedLabels`, `countLabelsAndCardinality`, `shouldRejectLabel`,
`containsAllIDTypes`): a label is dropped when every value is an ID — a number (`strconv.ParseFloat`) or a UUID
(`uuid.Parse`) — except one or two values all `0`/`1` (booleans); `cluster`, `namespace`, `instance` and `pod`
are kept whatever their values. Parameters as `ParseDetectedLabelsQuery` (`pkg/loghttp/labels.go`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import orjson

from observ.api.loki import params as p
from observ.api.loki.volume import parse_matchers
from observ.gocompat.strconv import parse_float
from observ.logql.syntax import ast

STATIC_LABELS = frozenset({"cluster", "namespace", "instance", "pod"})
_BOOLEANS = frozenset({"0", "1"})
_HEX = "[0-9a-fA-F]"
_UUID = re.compile(
    rf"(?:(?i:urn:uuid:))?{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
    rf"|\{{{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\}}"
    rf"|{_HEX}{{32}}"
)
"""The four spellings google/uuid's Parse accepts: plain, `urn:uuid:` (any case), braced, bare hex."""


@dataclass(frozen=True, slots=True)
class DetectedLabelsQuery:
    selector: ast.Selector
    start_ns: int
    end_ns: int


def detected_labels_query(form: p.Form, now_ns: int) -> DetectedLabelsQuery:
    """`query` is optional (every stream); when given, a selector only, as `syntax.ParseMatchers` requires."""
    start, end = p.parse_bounds(form, now_ns)
    if end < start:
        raise p.ParamError("end timestamp must not be before or equal to start time")
    query = p.get(form, "query")
    return DetectedLabelsQuery(parse_matchers(query) if query else ast.Selector(()), start, end)


def _is_id(value: str) -> bool:
    try:
        parse_float(value)
    except ValueError:
        return _UUID.fullmatch(value) is not None
    return True


def should_reject(values: Collection[str]) -> bool:
    """No values, or only IDs; one or two values that are all `0`/`1` are booleans, not IDs."""
    if not values:
        return True
    if len(values) <= 2 and all(v in _BOOLEANS for v in values):
        return False
    return all(_is_id(v) for v in values)


def detected_labels(streams: Iterable[dict[str, str]]) -> list[tuple[str, int]]:
    """(label, distinct values) of the labels kept, by name (Loki's order is a Go map's: unspecified)."""
    values: dict[str, set[str]] = {}
    for labels in streams:
        for k, v in labels.items():
            values.setdefault(k, set()).add(v)
    return [
        (name, len(vs))
        for name, vs in sorted(values.items())
        if (name in STATIC_LABELS and vs) or not should_reject(vs)
    ]


def encode(labels: list[tuple[str, int]]) -> bytes:
    """`{"detectedLabels":[{"label","cardinality"}]}`; `{}` when none (the proto field is `omitempty`)."""
    if not labels:
        return b"{}\n"
    return orjson.dumps({"detectedLabels": [{"label": n, "cardinality": c} for n, c in labels]}) + b"\n"
