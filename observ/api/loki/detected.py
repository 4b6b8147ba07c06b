"""`/loki/api/v1/detected_fields` and `/detected_field/{name}/values`: the fields sampled lines carry.

As Loki's frontend handler (pkg/querier/queryrange/detected_fields.go): structured metadata and the
query's own parsed labels count, and every line is tried as JSON, then logfmt; a key found there that
is also a stream label is named `<key>_extracted`, as Loki's labels builder names it. A field's type is
decided by its first value in each stream (`determineType`: int, float, boolean, duration, bytes, else
string). A field the `json` parser found carries `jsonPath`, the keys it came from (`["user", "id"]` for
`user_id`), from which Logs Drilldown builds the stage `| json user_id="<that path>"`; logfmt and structured
metadata fields have none. The paths are read with the `json` parser's own scanner (a port of Loki's
jsonparser), so every line that parser reads gets them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from observ.gocompat.durations import parse_duration
from observ.gocompat.humanize import parse_bytes
from observ.gocompat.strconv import parse_float
from observ.logql.log.json import json_paths
from observ.logql.results import LogEntry, StreamResult

LineParser = Callable[[str], dict[str, str] | None]
"""A line -> its fields, or None when the line is not in that format."""

_INT = re.compile(r"[+-]?[0-9]+")
_BOOL_TEXTS = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"})
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
    if value in _BOOL_TEXTS:
        return "boolean"
    if _parses(parse_duration, value):
        return "duration"
    return "bytes" if _parses(parse_bytes, value) else "string"


@dataclass(slots=True)
class _Field:
    type: str = "string"
    parsers: list[str] = field(default_factory=list)
    values: set[str] = field(default_factory=set)
    json_path: list[str] | None = None


def detect_fields(
    streams: Iterable[StreamResult], limit: int, parse_json: LineParser, parse_logfmt: LineParser
) -> list[dict[str, object]]:
    fields: dict[str, _Field] = {}

    def add(name: str, value: str, parsers: list[str], typed: set[str]) -> _Field | None:
        f = fields.get(name)
        if f is None:
            if len(fields) >= limit:
                return None
            f = fields[name] = _Field()
        for p in parsers:
            if p not in f.parsers:
                f.parsers.append(p)
        if name not in typed:
            f.type = determine_type(value)
            typed.add(name)
        f.values.add(value)
        return f

    for s in streams:
        typed: set[str] = set()
        for e in s.entries:
            for k, v in e.metadata.items():
                add(k, v, [], typed)
            parsers, found = _entry_fields(s.labels, e, parse_json, parse_logfmt)
            paths = json_paths(e.line, _stream_labels(s.labels, e)) if parsers == ["json"] else None
            for k, v in found.items():
                f = add(k, v, parsers, typed)
                if f is not None and paths is not None:
                    f.json_path = paths.get(k)  # as Loki: the last JSON line sets it, also to none
    return [_field_json(name, f) for name, f in sorted(fields.items())]


def _field_json(name: str, f: _Field) -> dict[str, object]:
    """logproto.DetectedField's JSON: `parsers` null when empty, `jsonPath` left out (`omitempty`)."""
    out: dict[str, object] = {"label": name, "type": f.type, "cardinality": len(f.values), "parsers": f.parsers or None}
    if f.json_path:
        out["jsonPath"] = f.json_path
    return out


def _stream_labels(labels: dict[str, str], e: LogEntry) -> set[str]:
    """The entry's stream labels alone: what a parsed key is renamed `<key>_extracted` for."""
    return {k for k in labels if k not in e.metadata and k not in e.parsed}


def _entry_fields(
    labels: dict[str, str], e: LogEntry, parse_json: LineParser, parse_logfmt: LineParser
) -> tuple[list[str], dict[str, str]]:
    """Loki's `parseEntry`: the line's own fields (json, else logfmt) over the query's parsed labels."""
    parsers: list[str] = []
    found: dict[str, str] = {}
    for name, parse in (("json", parse_json), ("logfmt", parse_logfmt)):
        got = parse(e.line)
        if got is not None:
            parsers, found = [name], got
            break
    stream_labels = _stream_labels(labels, e)
    extracted = {f"{k}_extracted" if k in stream_labels else k: v for k, v in found.items()}
    fields = {**extracted, **e.parsed}
    return parsers, {k: v for k, v in fields.items() if k not in _ERROR_LABELS}


_BYTES_UNITS: tuple[str, ...] = ("b", "kib", "kb", "mib", "mb", "gib", "gb", "tib", "tb", "pib", "pb", "eib", "eb")
_BYTES_UNITS += ("ki", "k", "mi", "m", "gi", "g", "ti", "t", "pi", "p", "ei", "e")
_SI_SIZES = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def humanize_bytes(n: int) -> str:
    """go-humanize's `Bytes` (SI units, one decimal under 10) without its space, as Loki inserts it in a query."""
    if n < 10:
        return f"{n}B"
    e = math.floor(math.log(n) / math.log(1000))
    val = math.floor(n / 1000**e * 10 + 0.5) / 10
    return f"{val:.1f}{_SI_SIZES[e]}" if val < 10 else f"{val:.0f}{_SI_SIZES[e]}"


def _value_for_query(value: str) -> str:
    """A bytes value with a unit is rewritten in go-humanize's form (`1024KB` -> `1.0MB`), as Loki does."""
    if value.lower().endswith(_BYTES_UNITS) and _parses(parse_bytes, value):
        return humanize_bytes(parse_bytes(value))
    return value


def detect_field_values(
    streams: Iterable[StreamResult], name: str, limit: int, parse_json: LineParser, parse_logfmt: LineParser
) -> list[str]:
    """Loki's `parseDetectedFieldValues`: `name`'s distinct values (metadata, then parsed), at most about `limit`.

    Like Loki, the limit is checked before each entry, so one entry may add a value past it; sorted, where
    Loki's order is a Go map's.
    """
    values: set[str] = set()
    for s in streams:
        for e in s.entries:
            if len(values) >= limit:
                break
            if name in e.metadata:
                values.add(e.metadata[name])
            found = _entry_fields(s.labels, e, parse_json, parse_logfmt)[1]
            if name in found:
                values.add(_value_for_query(found[name]))
    return sorted(values)
