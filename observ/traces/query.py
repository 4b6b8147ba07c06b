"""Reads of the spans store: span rows back into Span records, and trace search.

Every value a caller gives (IDs, attribute names, values, regexes, limits) reaches DuckDB as a bound
parameter; the SQL text holds only names from this module. Attribute names become JSON pointers
(`/http.method`), passed as parameters too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

import duckdb
import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

from observ.store.relation import Relation, ScanHints
from observ.traces.model import INT64_MAX, Span
from observ.traces.schema import SPAN_COLUMNS
from observ.traces.tags import INTRINSIC_COLUMNS, KIND, STATUS, Tag, parse_tag, pointer

_TRACE_COLUMNS = {"rootServiceName": "t_root_service", "rootName": "t_root_name", "traceDuration": "t_duration"}
_TRACE_COLUMNS_SQL = (
    "arg_min(service, start_ns) FILTER (WHERE parent_span_id = '') AS t_root_service, "
    "arg_min(name, start_ns) FILTER (WHERE parent_span_id = '') AS t_root_name, "
    "max(end_ns) - min(start_ns) AS t_duration"
)
"""Trace intrinsics per trace of the window, joined to its spans for conditions on them (a hash aggregate and
join cost less than the same as window functions)."""

Op = Literal["=", "!=", ">", ">=", "<", "<=", "=~", "!~"]

_HEX = re.compile(r"[0-9a-fA-F]{1,32}")
_JSON_COLUMNS = frozenset({"attributes", "events", "links", "resource"})
_SKIP = frozenset({"duration_ns"})
MAX_CONDITIONS = 64
MAX_DEPTH = 16


def trace_id(text: str) -> str:
    """32 lowercase hex digits from 1-32 hex digits (shorter IDs are left-padded with zeros, as Tempo reads
    64-bit Jaeger/Zipkin IDs); ValueError names what was wrong."""
    if not isinstance(text, str) or not _HEX.fullmatch(text):
        shown = repr(text) if len(repr(text)) <= 80 else repr(text)[:77] + "..."
        raise ValueError(f"trace ID {shown} must be 1 to 32 hex digits")
    return text.lower().rjust(32, "0")


def span_of(row: tuple[Any, ...]) -> Span:
    """A row of `SELECT <SPAN_COLUMNS>` as a Span (JSON columns parsed); DuckDB's rows are untyped."""
    kw = {
        c: (orjson.loads(v) if c in _JSON_COLUMNS else v)
        for c, v in zip(SPAN_COLUMNS, row, strict=True)
        if c not in _SKIP
    }
    return Span(**kw)


# --- search -------------------------------------------------------------------------------------------------


class Condition(BaseModel):
    """`tag op value` on one span: `status = "error"`, `span.http.status_code >= 500`, `name =~ "GET .*"`.

    Values are typed as in TraceQL: an attribute matches only a value of its own JSON type (a string never
    equals a number; ints and floats compare as numbers). Regexes are RE2, fully anchored. `status` and `kind`
    take their TraceQL names or OTLP integers; `duration` takes nanoseconds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: StrictStr
    op: Op
    value: StrictBool | StrictInt | StrictFloat | StrictStr

    @model_validator(mode="after")
    def _valid(self) -> Condition:
        tag = parse_tag(self.tag)
        v, op = self.value, self.op
        if op in ("=~", "!~") and not isinstance(v, str):
            raise ValueError(f"{self.tag} {op}: a regex must be a string, got {type(v).__name__}")
        if isinstance(v, bool) and op not in ("=", "!="):
            raise ValueError(f"{self.tag} {op} {v}: booleans compare only with = and !=")
        if isinstance(v, int | float) and not isinstance(v, bool) and abs(v) > INT64_MAX:
            raise ValueError(f"{self.tag} {op} {v}: the value is beyond the 64-bit range")
        if tag.scope == "intrinsic" and tag.key in ("status", "kind"):
            names = STATUS if tag.key == "status" else KIND
            if op not in ("=", "!="):
                raise ValueError(f"{tag.key} compares only with = and !=, got {op}")
            if isinstance(v, str) and v not in names:
                raise ValueError(f"{tag.key} {v!r} is not one of {', '.join(names)}")
            if isinstance(v, bool | float):
                raise ValueError(f"{tag.key} takes a name or an integer, got {v!r}")
        if (
            tag.scope in ("intrinsic", "trace")
            and tag.key in ("duration", "traceDuration")
            and (isinstance(v, bool) or not isinstance(v, int | float))
        ):
            raise ValueError(f"{tag.key} takes nanoseconds as a number, got {v!r}")
        if (
            tag.key in ("name", "statusMessage", "rootServiceName", "rootName")
            and tag.scope in ("intrinsic", "trace")
            and not isinstance(v, str)
        ):
            raise ValueError(f"{tag.key} is a string, got {v!r}")
        return self


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    all: list[Expr] = Field(min_length=1)


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    any: list[Expr] = Field(min_length=1)


Expr = Annotated[Union[Condition, AllOf, AnyOf], Field(union_mode="left_to_right")]  # noqa: UP007
AllOf.model_rebuild()
AnyOf.model_rebuild()


def _size(e: Expr, depth: int = 1) -> int:
    if depth > MAX_DEPTH:
        raise ValueError(f"a span condition nests deeper than {MAX_DEPTH} levels")
    if isinstance(e, Condition):
        return 1
    return sum(_size(x, depth + 1) for x in (e.all if isinstance(e, AllOf) else e.any))


class SpanQuery(BaseModel):
    """Traces having, in [start_ns, end_ns), a span matching each spanset (TraceQL `{a} && {b}`); no spansets
    means every trace with a span in the window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_ns: int = Field(0, ge=0, le=INT64_MAX)
    end_ns: int = Field(INT64_MAX, ge=0, le=INT64_MAX)
    spansets: list[Expr] = Field(default_factory=list, max_length=16)
    limit: int = Field(20, ge=1, le=10_000)
    spans_per_trace: int = Field(3, ge=0, le=1000)
    """Matched spans listed per trace (Tempo's `spss`); `matched` counts them all."""

    @model_validator(mode="after")
    def _bounds(self) -> SpanQuery:
        if self.end_ns <= self.start_ns:
            raise ValueError(f"end_ns {self.end_ns} must be after start_ns {self.start_ns}")
        if sum(_size(s) for s in self.spansets) > MAX_CONDITIONS:
            raise ValueError(f"a search takes at most {MAX_CONDITIONS} conditions")
        return self


@dataclass(frozen=True, slots=True)
class MatchedSpan:
    span_id: str
    service: str
    name: str
    start_ns: int
    duration_ns: int
    attributes: dict[str, object] = field(default_factory=dict)
    """The span's values of the attributes and intrinsics (`status`, `kind`, `statusMessage`) the search named,
    keyed by name without scope, as Tempo lists them with a matched span; absent ones left out."""


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: str
    root_service: str | None
    """None when the root span (no parent) is not stored (yet)."""
    root_name: str | None
    start_ns: int
    duration_ns: int
    span_count: int
    """Spans of the trace in the search window."""
    matched: int
    spans: list[MatchedSpan]
    """The first `spans_per_trace` matched spans, by start time."""


class _Sql:
    """Accumulates a WHERE fragment's parameters in order."""

    def __init__(self) -> None:
        self.params: list[object] = []
        self.trace = False
        """Whether a condition reads a trace intrinsic (the scan then adds _TRACE_COLUMNS_SQL)."""

    def expr(self, e: Expr) -> str:
        if isinstance(e, AllOf):
            return "(" + " AND ".join(self.expr(x) for x in e.all) + ")"
        if isinstance(e, AnyOf):
            return "(" + " OR ".join(self.expr(x) for x in e.any) + ")"
        return self.condition(e)

    def condition(self, c: Condition) -> str:
        tag = parse_tag(c.tag)
        if tag.scope == "trace":
            self.trace = True
            return self._compare(_TRACE_COLUMNS[tag.key], c.op, c.value)
        if tag.scope == "intrinsic":
            value = c.value
            if tag.key in ("status", "kind") and isinstance(value, str):
                value = (STATUS if tag.key == "status" else KIND)[value]
            return self._compare(INTRINSIC_COLUMNS[tag.key], c.op, value)
        if tag.scope != "span" and tag.key == "service.name" and isinstance(c.value, str):
            return self._compare("service", c.op, c.value)
        if tag.scope == "any":
            return f"({self._attribute('attributes', tag.key, c)} OR {self._attribute('resource', tag.key, c)})"
        return self._attribute("attributes" if tag.scope == "span" else "resource", tag.key, c)

    def _compare(self, column: str, op: Op, value: object) -> str:
        self.params.append(value)
        if op == "=~":
            return f"regexp_full_match({column}, ?)"
        if op == "!~":
            return f"NOT regexp_full_match({column}, ?)"
        return f"{column} {op} ?"

    def _attribute(self, column: str, key: str, c: Condition) -> str:
        """The JSON functions parse a span's whole object twice per condition (~1 us each); a substring test
        first skips the spans whose text cannot hold the member (`_member_text`)."""
        path = pointer(key)
        v = c.value
        if isinstance(v, bool):
            types, value = "('BOOLEAN')", f"TRY_CAST(json_extract({column}, ?) AS BOOLEAN)"
        elif isinstance(v, int | float):
            types, value = "('BIGINT', 'UBIGINT', 'DOUBLE')", f"TRY_CAST(json_extract({column}, ?) AS DOUBLE)"
        else:
            types, value = "('VARCHAR')", f"json_extract_string({column}, ?)"
        self.params += [_member_text(key, c), path, path]
        return (
            f"CASE WHEN contains({column}, ?) THEN json_type({column}, ?) IN {types} AND "
            f"{self._compare(value, c.op, v)} ELSE false END"
        )


def _member_text(key: str, c: Condition) -> str:
    """What the JSON text of an object matching `c` on top-level `key` must contain: `"key":`, and for string
    equality `"key":"value"`. The stored objects are orjson's compact text (the Arrow decoder is held equal to
    it), so a member is spelled exactly so; inside a string value the quote before the colon would be escaped.
    A nested object may hold it too: the JSON test after it decides."""
    member = orjson.dumps(key).decode() + ":"
    if c.op == "=" and isinstance(c.value, str):
        member += orjson.dumps(c.value).decode()
    return member


def search(
    cur: duckdb.DuckDBPyConnection, relation: Callable[[ScanHints], Relation], tenant: str, q: SpanQuery
) -> list[TraceSummary]:
    """Newest traces first (by their earliest span in the window), then by trace ID.

    A span is in the window when it overlaps it. The summary (root, start, duration, span count) is over the
    trace's spans in the window: a trace reaching beyond it is summarised by its part inside. One scan ranks
    the traces; a second, pruned by their trace IDs, lists the matched spans of the `limit` kept.
    """
    window = ScanHints(tenant, q.start_ns, q.end_ns)
    r = relation(window)
    sql = _Sql()
    sets = [sql.expr(s) for s in q.spansets] or ["true"]
    flags = ", ".join(f"{s} AS m{i}" for i, s in enumerate(sets))
    every = " AND ".join(f"bool_or(m{i})" for i in range(len(sets)))
    hit = " OR ".join(f"m{i}" for i in range(len(sets)))
    ranked = _execute(
        cur,
        "SELECT trace_id, arg_min(service, start_ns) FILTER (WHERE parent_span_id = ''), "
        "arg_min(name, start_ns) FILTER (WHERE parent_span_id = ''), min(start_ns) AS t0, max(end_ns) - t0, "
        f"count(*), count(*) FILTER (WHERE {hit}) FROM (SELECT trace_id, service, name, parent_span_id, start_ns, "
        f"end_ns, {flags} FROM {_spans(r, sql.trace)}) "
        f"GROUP BY trace_id HAVING {every} ORDER BY t0 DESC, trace_id LIMIT ?",
        [*sql.params, *r.params, tenant, q.end_ns, q.start_ns, q.limit],
    )
    spans: dict[str, list[MatchedSpan]] = {row[0]: [] for row in ranked}
    if spans and q.spans_per_trace:
        r = relation(ScanHints(tenant, q.start_ns, q.end_ns, trace_ids=frozenset(spans)))
        sql = _Sql()
        any_set = " OR ".join(sql.expr(s) for s in q.spansets) or "true"
        shown = _shown_tags(q.spansets)
        for tid, span_id, service, name, start_ns, duration_ns, attributes, resource, status, kind, message in _execute(
            cur,
            "SELECT trace_id, span_id, service, name, start_ns, duration_ns, attributes, resource, status_code, "
            f"kind, status_message FROM {_spans(r, sql.trace, 'AND list_contains(?, trace_id)')} "
            f"WHERE ({any_set}) "
            "QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY start_ns, span_id) <= ? "
            "ORDER BY trace_id, start_ns, span_id",
            [*r.params, tenant, q.end_ns, q.start_ns, list(spans), *sql.params, q.spans_per_trace],
        ):
            values = _values(shown, attributes, resource, status, kind, message) if shown else {}
            spans[tid].append(MatchedSpan(span_id, service, name, start_ns, duration_ns, values))
    return [TraceSummary(tid, rs, rn, t0, d, n, m, spans[tid]) for tid, rs, rn, t0, d, n, m in ranked]


def _spans(r: Relation, trace: bool, more: str = "") -> str:
    """The spans of the window (`r`, then tenant, end, start parameters), with the trace intrinsics' columns
    when a condition reads them."""
    where = f"WHERE tenant = ? AND start_ns < ? AND end_ns >= ? {more}"
    if not trace:
        return f"(SELECT * FROM {r.sql} AS s {where}) AS s"
    return (
        f"(WITH w AS (SELECT * FROM {r.sql} AS s {where}) SELECT * FROM w JOIN "
        f"(SELECT trace_id, {_TRACE_COLUMNS_SQL} FROM w GROUP BY trace_id) USING (trace_id)) AS s"
    )


def _shown_tags(spansets: list[Expr]) -> list[Tag]:
    """The tags a search names, in order, that Tempo lists with each matched span (not name, durations nor
    trace intrinsics: those are fields of their own)."""
    found: dict[Tag, None] = {}
    stack = list(reversed(spansets))
    while stack:
        e = stack.pop()
        if isinstance(e, Condition):
            tag = parse_tag(e.tag)
            if tag.scope != "trace" and not (tag.scope == "intrinsic" and tag.key in ("name", "duration")):
                found.setdefault(tag)
        else:
            stack.extend(reversed(e.all if isinstance(e, AllOf) else e.any))
    return list(found)


def _values(tags: list[Tag], attributes: str, resource: str, status: int, kind: int, message: str) -> dict[str, object]:
    """A span's values of `tags`, keyed as Tempo keys them (the name without its scope)."""
    spans, resources = orjson.loads(attributes), orjson.loads(resource)
    intrinsics = {"status": _NAMES["status"].get(status, status), "kind": _NAMES["kind"].get(kind, kind),
                  "statusMessage": message}  # fmt: skip
    out: dict[str, object] = {}
    for tag in tags:
        if tag.scope == "intrinsic":
            out[tag.key] = intrinsics[tag.key]
        elif tag.scope in ("span", "any") and tag.key in spans:
            out[tag.key] = spans[tag.key]
        elif tag.scope in ("resource", "any") and tag.key in resources:
            out[tag.key] = resources[tag.key]
    return out


_NAMES = {"status": {v: k for k, v in STATUS.items()}, "kind": {v: k for k, v in KIND.items()}}


def _execute(cur: duckdb.DuckDBPyConnection, text: str, params: list[object]) -> list[tuple]:
    """A regex RE2 refuses fails only when DuckDB binds it: a ValueError saying so, not a database error."""
    try:
        return cur.execute(text, params).fetchall()
    except duckdb.InvalidInputException as e:
        raise ValueError(f"bad search condition: {e}") from e
