"""A LogQL scan as SQL over the log table: the selector and pushed filters as a parameterised WHERE clause.

`observ.logql.querier.plan_scan` decides which stages the store may evaluate; this is how: against the
columns below and the raw line, inside DuckDB. Values and regexes are always parameters; identifiers come
from a fixed set. The same scan gives the hints that let the store skip segments (services, trace IDs, needles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from observ.logql.querier import Scan, plan_scan
from observ.logql.syntax import ast
from observ.store.relation import ScanHints, regex_needles

__all__ = [
    "COLUMN_LABELS",
    "METADATA_COLUMNS",
    "STREAM_COLUMNS",
    "Pushdown",
    "Where",
    "compile_pushdown",
    "compile_scan",
    "label_sql",
    "matcher_sql",
]

COLUMN_LABELS = ("service", "namespace", "pod", "container", "stream", "level")
"""Stream labels stored as columns; any other stream label lives in the `labels` JSON object."""
METADATA_COLUMNS = ("trace_id", "span_id")
"""Structured metadata (Loki 3) with a column of its own; the other pairs live in the `metadata` JSON object.
Filterable and groupable, but not stream labels."""
STREAM_COLUMNS = ", ".join((*COLUMN_LABELS, "labels"))
"""The columns that make a stream's labels, in the order `querier.LabelCache.stream` reads them."""
_CAPTURE = re.compile(r"<[A-Za-z_][A-Za-z0-9_]*>")
_LITERAL_ALTERNATION = re.compile(r"[\w\-]+(?:\|[\w\-]+)*")


@dataclass(slots=True)
class Where:
    clauses: list[str] = field(default_factory=list)
    params: list[object] = field(default_factory=list)

    def add(self, clause: str, *params: object) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return " AND ".join(f"({c})" for c in self.clauses) if self.clauses else "TRUE"


@dataclass(slots=True)
class Pushdown:
    """What DuckDB evaluates for a scan, and what the store may prune by."""

    where: Where
    hints: ScanHints


def label_sql(name: str, params: list[object], metadata: bool = True) -> str:
    """The SQL value of label `name` ('' when absent, as Loki treats a missing label).

    Stream selectors pass `metadata=False`: they see stream labels only, never structured metadata. Otherwise a
    metadata pair wins over a stream label of the same name, as in the labels the engine builds per row.
    """
    if name in COLUMN_LABELS or (metadata and name in METADATA_COLUMNS):
        return name
    path = f"$.{name}" if name.isidentifier() else f'$."{name}"'
    if not metadata:
        params.append(path)
        return "coalesce(json_extract_string(labels, ?), '')"
    params.extend((path, path))
    return "coalesce(nullif(json_extract_string(metadata, ?), ''), json_extract_string(labels, ?), '')"


def matcher_sql(m: ast.Matcher, params: list[object], metadata: bool = True) -> str:
    col = label_sql(m.name, params, metadata)
    params.append(m.value)
    match m.op:
        case ast.MatchOp.EQ:
            return f"{col} = ?"
        case ast.MatchOp.NEQ:
            return f"{col} <> ?"
        case ast.MatchOp.RE | ast.MatchOp.NRE:
            params.pop()
            test = _regex_matcher_sql(col, m.value, params)
            return test if m.op is ast.MatchOp.RE else f"NOT ({test})"


def _regex_matcher_sql(col: str, regex: str, params: list[object]) -> str:
    """An anchored matcher, without a regex per row for the shapes selectors use most (`.+`, `a|b`)."""
    if regex in (".*", "(?s).*"):
        return "TRUE"
    if regex in (".+", "(?s).+"):
        return f"{col} <> ''"
    if _LITERAL_ALTERNATION.fullmatch(regex):
        values = regex.split("|")
        params.extend(values)
        return f"{col} IN ({', '.join('?' * len(values))})"
    params.append(regex)
    return f"regexp_full_match({col}, ?, 's')"


def _pattern_prefilter(values: tuple[str, ...], params: list[object]) -> str:
    """A necessary condition for `|>`: every literal of one alternative occurs in the line.

    Loki's pattern test (first occurrence of each literal, non-empty captures between them) is not a regex,
    so the exact test stays in the Python pipeline; this only spares it the lines that cannot match.
    """
    alternatives = []
    for v in values:
        literals = [p for p in _CAPTURE.split(v) if p]
        if not literals:
            return "TRUE"
        alternatives.append(" AND ".join(["contains(line, ?)"] * len(literals)))
        params.extend(literals)
    return " OR ".join(f"({a})" for a in alternatives)


def _line_filter_sql(op: ast.LineFilterOp, values: tuple[str, ...], params: list[object]) -> str:
    alternatives = []
    for v in values:
        params.append(v)
        if op in (ast.LineFilterOp.CONTAINS, ast.LineFilterOp.NOT_CONTAINS):
            alternatives.append("contains(line, ?)")
        else:
            alternatives.append("regexp_matches(line, ?)")
    any_ = " OR ".join(alternatives)
    return f"NOT ({any_})" if op in (ast.LineFilterOp.NOT_CONTAINS, ast.LineFilterOp.NOT_MATCH) else any_


def compile_scan(scan: Scan) -> Pushdown:
    where = Where()
    where.add("tenant = ?", scan.tenant)
    where.add("ts >= ?", scan.start_ns)
    where.add("ts < ?", scan.end_ns)
    for m in scan.selector:
        where.add(matcher_sql(m, where.params, metadata=False))
    needles: list[str] = []
    trace_ids: set[str] | None = None
    for f in scan.filters:
        if isinstance(f, ast.Matcher):
            where.add(matcher_sql(f, where.params))
            if f.name == "trace_id" and f.op is ast.MatchOp.EQ:
                trace_ids = {f.value} if trace_ids is None else trace_ids & {f.value}
            continue
        texts = tuple(v for v in f.values if isinstance(v, str))
        if f.op is ast.LineFilterOp.PATTERN:
            where.add(_pattern_prefilter(texts, where.params))
            continue
        where.add(_line_filter_sql(f.op, texts, where.params))
        if len(texts) == 1 and f.op is ast.LineFilterOp.CONTAINS and texts[0]:
            needles.append(texts[0])
        elif len(texts) == 1 and f.op is ast.LineFilterOp.MATCH:
            needles.extend(regex_needles(texts[0]))
    hints = ScanHints(
        tenant=scan.tenant,
        start_ns=scan.start_ns,
        end_ns=scan.end_ns,
        services=_services(scan.selector),
        trace_ids=frozenset(trace_ids) if trace_ids is not None else None,
        needles=tuple(needles),
    )
    return Pushdown(where, hints)


def compile_pushdown(log: ast.LogExpr, tenant: str, start_ns: int, end_ns: int) -> Pushdown:
    """For store-side readers of a selector (volume, detected labels): plan and compile in one call."""
    return compile_scan(plan_scan(log, tenant, start_ns, end_ns))


def _services(selector: tuple[ast.Matcher, ...]) -> frozenset[str] | None:
    """Services a selector can match, when its `service` matchers pin them (for segment pruning)."""
    allowed: set[str] | None = None
    for m in selector:
        if m.name != "service":
            continue
        if m.op is ast.MatchOp.EQ:
            values = {m.value}
        elif m.op is ast.MatchOp.RE and _LITERAL_ALTERNATION.fullmatch(m.value):
            values = set(m.value.split("|"))
        else:
            continue
        allowed = values if allowed is None else allowed & values
    return frozenset(allowed) if allowed is not None else None
