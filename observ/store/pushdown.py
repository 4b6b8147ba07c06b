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
    "SplitSql",
    "Where",
    "compile_pushdown",
    "compile_scan",
    "label_sql",
    "matcher_sql",
    "split_sql",
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


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPLIT_UNSAFE = (
    r'\\u|\\.[^"\\]*"\s*:|,\s*[\]}]|[:,\[]\s*-?(?i:nan|inf)'
    r'|"(?:[A-Za-z_][A-Za-z0-9_]*[^A-Za-z0-9_"]|[^A-Za-z_"])[^"]*"\s*:|""\s*:'
)
"""Lines whose `| json` label names are not simply their keys joined by `_`, or that DuckDB's reader would take
but the JSON parser would not: a `\\u` escape (surrogates, U+FFFD), a key holding an escape (its last escape is
followed by the key's end), a trailing comma or a bare NaN / Inf / Infinity in any case (DuckDB extensions), a key
that is not already a valid label name (sanitised, trimmed, blank or with a leading digit). Text inside strings can
match too: that only sends more rows to Python. Other escapes in values decode alike in both."""
_NESTED = r"|:\s*\{"
"""Added when a name read holds `_`: a nested object's flattened names (`a` then `b` is `a_b`) could make it.
Without `_` in it, no join of two non-empty keys is the name."""
_NUMBER_TYPES = "('UBIGINT', 'BIGINT', 'DOUBLE')"
_EXACT_INT = 2**53
"""Below this an integer compares the same as Go's float64 and as the pipeline's Python int."""


@dataclass(slots=True)
class SplitSql:
    """A `Scan.split` in SQL. `j` is a column (`j_sql`, over the scanned rows): the fields the filters and the
    grouping read, as JSON fragments, for the lines that pass the cheap line test; NULL for the others.

    `safe` says a row's answer is proven: its line is a JSON object DuckDB and the pipeline read alike, and every
    field read is either a stream label / metadata value (the parsed one then gets `_extracted` and is unseen),
    or present once at top level with a value whose text or number both read alike. `keep` (only meaningful
    where `safe`) is the label filters; `groups` the grouping labels' values. Each holds its own parameters.
    """

    j_sql: str
    j_params: list[object]
    safe: str
    safe_params: list[object]
    keep: str
    keep_params: list[object]
    groups: list[tuple[str, list[object]]]


class _Fields:
    """Numbers the fields read: field i is `j[i]`."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def index(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name) + 1


def _text_sql(name: str, i: int, params: list[object]) -> str:
    """The label's value as the pipeline sees it: the stream label / metadata, else the field's string."""
    base = label_sql(name, params)
    again = label_sql(name, params)
    return (
        f"CASE WHEN {base} <> '' THEN {again} ELSE CASE json_type(j[{i}])"
        f" WHEN 'VARCHAR' THEN replace(json_extract_string(j[{i}], '$'), '\ufffd', ' ')"
        f" WHEN 'BOOLEAN' THEN json_extract_string(j[{i}], '$') ELSE '' END END"
    )


def _once_sql(name: str, params: list[object]) -> str:
    """`"name"` occurs at most once in the line: no duplicate key (nor a key read from inside a string)."""
    params.extend((f'"{name}"', f'"{name}"'))
    return "strlen(line) - strlen(replace(line, ?, '')) <= strlen(?)"


def _text_safe_sql(name: str, i: int, params: list[object]) -> str:
    """A string compare or a group value reads alike: a stream label, or a string / bool / absent field."""
    base = label_sql(name, params)
    once = _once_sql(name, params)
    return f"{base} <> '' OR ({once} AND coalesce(json_type(j[{i}]) NOT IN {_NUMBER_TYPES}, TRUE))"


def _number_safe_sql(name: str, i: int, params: list[object]) -> str:
    """A number filter reads alike: no stream label of that name, the field absent / null / an array (the filter
    is false) or a number both read as the same float64 (exact integers, finite non-zero floats: no range errors)."""
    base = label_sql(name, params)
    once = _once_sql(name, params)
    params.extend((_EXACT_INT, -_EXACT_INT))
    return (
        f"{base} = '' AND {once} AND CASE json_type(j[{i}])"
        f" WHEN 'UBIGINT' THEN j[{i}]::DOUBLE < ? WHEN 'BIGINT' THEN j[{i}]::DOUBLE > ?"
        f" WHEN 'DOUBLE' THEN isfinite(j[{i}]::DOUBLE) AND j[{i}]::DOUBLE <> 0"
        f" WHEN 'NULL' THEN TRUE WHEN 'ARRAY' THEN TRUE ELSE j[{i}] IS NULL END"
    )


_CMP_SQL = {ast.CmpOp.EQ: "=", ast.CmpOp.NEQ: "<>", ast.CmpOp.GT: ">", ast.CmpOp.GTE: ">=", ast.CmpOp.LT: "<",
            ast.CmpOp.LTE: "<="}  # fmt: skip


def _keep_sql(
    expr: ast.LabelFilterExpr, fields: _Fields, params: list[object], safe: list[tuple[str, list[object]]]
) -> str | None:
    """The filter on a safe row (no `__error__` there); appends what makes a row safe for it. None: not in SQL."""
    if isinstance(expr, ast.LabelFilterAnd | ast.LabelFilterOr):
        left = _keep_sql(expr.left, fields, params, safe)
        right = _keep_sql(expr.right, fields, params, safe) if left is not None else None
        if left is None or right is None:
            return None
        return f"({left}) {'AND' if isinstance(expr, ast.LabelFilterAnd) else 'OR'} ({right})"
    if isinstance(expr, ast.StringLabelFilter) and expr.matcher.op in (ast.MatchOp.EQ, ast.MatchOp.NEQ):
        m = expr.matcher
        op = "=" if m.op is ast.MatchOp.EQ else "<>"
        if m.name == "__error__":
            params.append(m.value)
            return f"'' {op} ?"
        if not _NAME.fullmatch(m.name):
            return None
        i = fields.index(m.name)
        sparams: list[object] = []
        safe.append((_text_safe_sql(m.name, i, sparams), sparams))
        text = _text_sql(m.name, i, params)
        params.append(m.value)
        return f"({text}) {op} ?"
    if isinstance(expr, ast.NumberLabelFilter) and _NAME.fullmatch(expr.name):
        i = fields.index(expr.name)
        sparams = []
        safe.append((_number_safe_sql(expr.name, i, sparams), sparams))
        params.append(float(expr.value))
        return (
            f"CASE WHEN json_type(j[{i}]) IN {_NUMBER_TYPES} THEN j[{i}]::DOUBLE {_CMP_SQL[expr.op]} ? ELSE FALSE END"
        )
    return None


def split_sql(filters: tuple[ast.LabelFilterExpr, ...], group_by: tuple[str, ...]) -> SplitSql:
    """`Scan.split` as SQL; what it cannot express in SQL proves no row (`safe` FALSE): all go to the pipeline."""
    fields = _Fields()
    keep_params: list[object] = []
    safe: list[tuple[str, list[object]]] = []
    keeps: list[str] = []
    for f in filters:
        k = _keep_sql(f, fields, keep_params, safe)
        if k is None:
            return SplitSql("NULL::JSON[]", [], "FALSE", [], "FALSE", [], [("''", []) for _ in group_by])
        keeps.append(f"({k})")
    groups: list[tuple[str, list[object]]] = []
    for name in group_by:
        if not _NAME.fullmatch(name):
            return SplitSql("NULL::JSON[]", [], "FALSE", [], "FALSE", [], [("''", []) for _ in group_by])
        i = fields.index(name)
        sparams: list[object] = []
        safe.append((_text_safe_sql(name, i, sparams), sparams))
        gparams: list[object] = []
        groups.append((_text_sql(name, i, gparams), gparams))
    j_params: list[object] = [_SPLIT_UNSAFE + _NESTED if any("_" in n for n in fields.names) else _SPLIT_UNSAFE]
    if fields.names:
        j_params.append([f"$.{n}" for n in fields.names])
        extract = "json_extract(line, ?::VARCHAR[])"
    else:
        extract = "[]::JSON[]"
    j_sql = f"CASE WHEN ascii(line) = 123 AND NOT regexp_matches(line, ?) AND json_valid(line) THEN {extract} END"
    safe_params = [p for _, ps in safe for p in ps]
    safe_sql = " AND ".join(["j IS NOT NULL", *(f"({c})" for c, _ in safe)])
    return SplitSql(j_sql, j_params, safe_sql, safe_params, " AND ".join(keeps) or "TRUE", keep_params, groups)
