"""`/loki/api/v1/detected_fields`: which fields sampled lines carry, their type and cardinality.

As Loki's querier: structured metadata and the query's own parsed labels count, and every line is
tried as JSON, then logfmt. A field's type is decided by its first value in each stream
(`determineType`: int, float, boolean, duration, bytes, else string).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from observ.logql.gocompat import parse_bytes, parse_duration, parse_float
from observ.logql.results import StreamResult

LineParser = Callable[[str], dict[str, str] | None]
"""A line -> its fields, or None when the line is not in that format."""

_INT = re.compile(r"[+-]?[0-9]+")
_BOOL = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"})
_ERROR_LABELS = frozenset({"__error__", "__error_details__", "__preserve_error__"})


def _parses(parse: Callable[[str], object], value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def determine_type(value: str) -> str:
    """strconv.ParseInt, ParseFloat, ParseBool, time.ParseDuration, humanize.ParseBytes: the first that accepts."""
    if _INT.fullmatch(value) and -(2**63) <= int(value) < 2**63:
        return "int"
    if _parses(parse_float, value):
        return "float"
    if value in _BOOL:
        return "boolean"
    if _parses(parse_duration, value):
        return "duration"
    return "bytes" if _parses(parse_bytes, value) else "string"


@dataclass(slots=True)
class _Field:
    type: str = "string"
    parsers: list[str] = field(default_factory=list)
    values: set[str] = field(default_factory=set)


def detect_fields(
    streams: Iterable[StreamResult], limit: int, parse_json: LineParser, parse_logfmt: LineParser
) -> list[dict[str, object]]:
    fields: dict[str, _Field] = {}

    def add(name: str, value: str, parsers: list[str], typed: set[str]) -> None:
        f = fields.get(name)
        if f is None:
            if len(fields) >= limit:
                return
            f = fields[name] = _Field()
        for p in parsers:
            if p not in f.parsers:
                f.parsers.append(p)
        if name not in typed:
            f.type = determine_type(value)
            typed.add(name)
        f.values.add(value)

    for s in streams:
        typed: set[str] = set()
        for e in s.entries:
            for k, v in e.metadata.items():
                add(k, v, [], typed)
            parsers: list[str] = []
            found: dict[str, str] = {}
            for name, parse in (("json", parse_json), ("logfmt", parse_logfmt)):
                got = parse(e.line)
                if got is not None:
                    parsers, found = [name], got
                    break
            stream_labels = {k for k in s.labels if k not in e.metadata and k not in e.parsed}
            for k, v in {**found, **e.parsed}.items():
                if k not in _ERROR_LABELS and (k in e.parsed or k not in stream_labels):
                    add(k, v, parsers, typed)
    return [
        {"label": name, "type": f.type, "cardinality": len(f.values), "parsers": f.parsers or None}
        for name, f in sorted(fields.items())
    ]
