"""Tag names and values of the spans store (Tempo's /api/v2/search/tags and .../tag/<tag>/values), and the
tag vocabulary search conditions share: scopes, intrinsics, status and kind names.

Attribute names reach DuckDB as JSON pointers (`/http.method`) in bound parameters, never in the SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb

from observ.store.relation import Relation
from observ.traces.model import INT64_MAX

Scope = Literal["resource", "span", "intrinsic"]
TagType = Literal["string", "int", "float", "bool", "keyword"]
STATUS = {"unset": 0, "ok": 1, "error": 2}
KIND = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
INTRINSIC_COLUMNS = {
    "name": "name", "status": "status_code", "kind": "kind", "duration": "duration_ns",
    "statusMessage": "status_message",
}  # fmt: skip
"""TraceQL intrinsics the store answers (conditions and tag values), and their columns."""
TRACE_INTRINSICS = ("rootServiceName", "rootName", "traceDuration")
"""Intrinsics of the whole trace (its root span's service and name, its duration), the same for all its spans."""


@dataclass(frozen=True, slots=True)
class Tag:
    scope: Literal["resource", "span", "any", "intrinsic", "trace"]
    """`any`: a span or a resource attribute, either matching is enough (TraceQL's unscoped `.name`); `trace`: a
    trace intrinsic."""
    key: str


def parse_tag(text: str) -> Tag:
    """`resource.service.name`, `span.http.method`, `.http.method` (either scope), an intrinsic (`name`,
    `status`, `kind`, `duration`, `statusMessage`), a trace intrinsic (`rootServiceName`, `rootName`,
    `traceDuration`), or a bare attribute name (either scope, as Tempo's v1 tags are)."""
    if not isinstance(text, str) or not text:
        raise ValueError("a tag name must be a non-empty string")
    if text in INTRINSIC_COLUMNS:
        return Tag("intrinsic", text)
    if text in TRACE_INTRINSICS:
        return Tag("trace", text)
    prefixes: tuple[tuple[str, Literal["resource", "span", "any"]], ...] = (
        ("resource.", "resource"), ("span.", "span"), (".", "any")
    )  # fmt: skip
    for prefix, scope in prefixes:
        if text.startswith(prefix):
            key = text[len(prefix) :]
            if not key:
                raise ValueError(f"tag {text!r} names no attribute after {prefix!r}")
            return Tag(scope, key)
    return Tag("any", text)


def pointer(key: str) -> str:
    """RFC 6901 JSON pointer of a top-level key: DuckDB reads every character of it literally."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True, slots=True)
class TagValue:
    type: TagType
    """As Tempo's tag values answer: `keyword` for status and kind names."""
    value: str


_JSON_TYPES: dict[str, TagType] = {
    "VARCHAR": "string",
    "BIGINT": "int",
    "UBIGINT": "int",
    "DOUBLE": "float",
    "BOOLEAN": "bool",
}


def check_tag_request(start_ns: int, end_ns: int, scope: str | None = None, limit: int = 1) -> None:
    """The checks SpanQuery makes, for the tag lookups' plain arguments."""
    if not (isinstance(start_ns, int) and isinstance(end_ns, int) and 0 <= start_ns < end_ns <= INT64_MAX):
        raise ValueError(f"the window must be 0 <= start_ns < end_ns <= {INT64_MAX}, got [{start_ns!r}, {end_ns!r})")
    if scope not in (None, "resource", "span", "intrinsic"):
        raise ValueError(f"scope {scope!r} is not one of resource, span, intrinsic")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100_000:
        raise ValueError(f"limit must be an integer from 1 to 100000, got {limit!r}")


def _window(r: Relation) -> str:
    return f"(SELECT * FROM {r.sql} AS s WHERE tenant = ? AND start_ns < ? AND end_ns >= ?)"


def tag_names(
    cur: duckdb.DuckDBPyConnection, r: Relation, tenant: str, scope: Scope | None, start_ns: int, end_ns: int
) -> dict[Scope, list[str]]:
    """Names of the attributes of spans in the window, by scope; intrinsics are the ones `Condition` takes."""
    out: dict[Scope, list[str]] = {}
    columns: tuple[tuple[Scope, str], ...] = (("resource", "resource"), ("span", "attributes"))
    for s, column in columns:
        if scope in (None, s):
            rows = cur.execute(
                f"SELECT DISTINCT unnest(json_keys({column})) AS k FROM {_window(r)} ORDER BY k",
                [*r.params, tenant, end_ns, start_ns],
            ).fetchall()
            out[s] = [k for (k,) in rows]
    if scope in (None, "intrinsic"):
        out["intrinsic"] = sorted(INTRINSIC_COLUMNS)
    return out


def tag_values(
    cur: duckdb.DuckDBPyConnection, r: Relation, tenant: str, tag: Tag, start_ns: int, end_ns: int, limit: int
) -> list[TagValue]:
    """Distinct values of a tag in the window, sorted by type then value, at most `limit`; maps and arrays are
    left out (TraceQL cannot compare them)."""
    base = [*r.params, tenant, end_ns, start_ns]
    if tag.scope == "trace":
        if tag.key == "traceDuration":
            return []
        column = "service" if tag.key == "rootServiceName" else "name"
        rows = cur.execute(
            f"SELECT DISTINCT {column} AS v FROM {_window(r)} WHERE parent_span_id = '' ORDER BY v LIMIT ?",
            [*base, limit],
        ).fetchall()
        return [TagValue("string", v) for (v,) in rows]
    if tag.scope == "intrinsic":
        if tag.key in ("status", "kind"):
            names = {v: k for k, v in (STATUS if tag.key == "status" else KIND).items()}
            column = INTRINSIC_COLUMNS[tag.key]
            rows = cur.execute(f"SELECT DISTINCT {column} FROM {_window(r)}", base).fetchall()
            found = sorted(names.get(v, str(v)) for (v,) in rows)
            return [TagValue("keyword", v) for v in found[:limit]]
        if tag.key == "duration":
            return []
        column = INTRINSIC_COLUMNS[tag.key]
        rows = cur.execute(
            f"SELECT DISTINCT {column} AS v FROM {_window(r)} ORDER BY v LIMIT ?", [*base, limit]
        ).fetchall()
        return [TagValue("string", v) for (v,) in rows]
    if tag.key == "service.name" and tag.scope != "span":
        rows = cur.execute(
            f"SELECT DISTINCT service AS v FROM {_window(r)} ORDER BY v LIMIT ?", [*base, limit]
        ).fetchall()
        return [TagValue("string", v) for (v,) in rows]
    columns = {"span": ["attributes"], "resource": ["resource"], "any": ["attributes", "resource"]}[tag.scope]
    path = pointer(tag.key)
    union = " UNION ".join(
        f"SELECT json_type({c}, ?) AS t, json_extract_string({c}, ?) AS v FROM {_window(r)}" for c in columns
    )
    params = [x for _ in columns for x in (path, path, *base)]
    rows = cur.execute(
        f"SELECT DISTINCT t, v FROM ({union}) WHERE t IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN') "
        "ORDER BY t, v LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [TagValue(_JSON_TYPES[t], v) for t, v in rows]
