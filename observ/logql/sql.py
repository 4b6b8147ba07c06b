"""The SQL half of a log query: selector and leading filters as a parameterised WHERE clause.

Everything that only looks at stored columns and the raw line (matchers, line filters without ip()
before any `line_format`, string label filters before any parser) runs inside DuckDB; the rest of the
pipeline runs per line in Python. Values and regexes are always parameters; identifiers come from a fixed set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from observ.logql import ast, ip
from observ.store.relation import ScanHints, regex_needles

COLUMN_LABELS = ("service", "namespace", "pod", "container", "stream", "level")
"""Stream labels stored as columns; any other stream label lives in the `labels` JSON object."""
METADATA_COLUMNS = ("trace_id", "span_id")
"""Structured metadata (Loki 3) with a column of its own; the other pairs live in the `metadata` JSON object.
Filterable and groupable, but not stream labels."""
_CAPTURE = re.compile(r"<[A-Za-z_][A-Za-z0-9_]*>")
_LITERAL_ALTERNATION = re.compile(r"[\w\-]+(?:\|[\w\-]+)*")

# Stages that change neither the line nor the labels a later line filter / matcher sees.
_LINE_PRESERVING = (ast.LineFilter, ast.LabelFilter, ast.JsonParser, ast.LogfmtParser, ast.RegexpParser,
                    ast.PatternParser, ast.LabelFormat, ast.DropLabels, ast.KeepLabels)  # fmt: skip


@dataclass(slots=True)
class Where:
    clauses: list[str] = field(default_factory=list)
    params: list[object] = field(default_factory=list)

    def add(self, clause: str, *params: object) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return " AND ".join(f"({c})" for c in self.clauses) if self.clauses else "TRUE"


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


@dataclass(slots=True)
class Pushdown:
    """What DuckDB evaluates for a log query, and the Python stages left over."""

    where: Where
    hints: ScanHints
    rest: tuple[ast.Stage, ...]
    """Stages the Python pipeline must still run (pushed line filters are not repeated)."""


def compile_pushdown(log: ast.LogExpr, tenant: str, start_ns: int, end_ns: int) -> Pushdown:
    """Raises Loki's stage error for an ip() filter its pipeline could not build, before anything is read."""
    err = ip.stage_error(log.pipeline)
    if err is not None:
        raise err
    where = Where()
    where.add("tenant = ?", tenant)
    where.add("ts >= ?", start_ns)
    where.add("ts < ?", end_ns)
    for m in log.selector.matchers:
        where.add(matcher_sql(m, where.params, metadata=False))
    needles: list[str] = []
    trace_ids: set[str] | None = None
    rest: list[ast.Stage] = []
    labels_untouched = True
    line_untouched = True
    no_error_yet = True
    for stage in log.pipeline:
        texts = _texts(stage) if isinstance(stage, ast.LineFilter) and line_untouched else None
        if isinstance(stage, ast.LineFilter) and texts is not None:
            if stage.op is ast.LineFilterOp.PATTERN:
                where.add(_pattern_prefilter(texts, where.params))
            elif stage.op is not ast.LineFilterOp.NOT_PATTERN:
                where.add(_line_filter_sql(stage.op, texts, where.params))
                if len(texts) == 1 and stage.op is ast.LineFilterOp.CONTAINS and texts[0]:
                    needles.append(texts[0])
                elif len(texts) == 1 and stage.op is ast.LineFilterOp.MATCH:
                    needles.extend(regex_needles(texts[0]))
                continue
        if no_error_yet and _no_op_before_parsers(stage):
            continue
        if isinstance(stage, ast.LabelFilter) and labels_untouched and isinstance(stage.expr, ast.StringLabelFilter):
            m = stage.expr.matcher
            if not m.name.startswith("__"):
                where.add(matcher_sql(m, where.params))
                if m.name == "trace_id" and m.op is ast.MatchOp.EQ:
                    trace_ids = {m.value} if trace_ids is None else trace_ids & {m.value}
                continue
        rest.append(stage)
        if not isinstance(stage, ast.LineFilter | ast.LabelFilter):
            labels_untouched = False
        if not _cannot_err(stage):
            no_error_yet = False
        if not isinstance(stage, _LINE_PRESERVING):
            line_untouched = False
    hints = ScanHints(
        tenant=tenant,
        start_ns=start_ns,
        end_ns=end_ns,
        services=_services(log.selector),
        trace_ids=frozenset(trace_ids) if trace_ids is not None else None,
        needles=tuple(needles),
    )
    return Pushdown(where, hints, tuple(rest))


def _texts(f: ast.LineFilter) -> tuple[str, ...] | None:
    """The filter's strings; None when it holds an ip(), Loki's scan of the line for addresses
    (observ/logql/ip.py), which stays in the Python pipeline."""
    texts = tuple(v for v in f.values if isinstance(v, str))
    return texts if len(texts) == len(f.values) else None


def _cannot_err(stage: ast.Stage) -> bool:
    """Line filters, string and ip() label filters never set `__error__`; a typed label filter does (LabelFilterErr)."""
    return isinstance(stage, ast.LineFilter) or (
        isinstance(stage, ast.LabelFilter) and isinstance(stage.expr, ast.StringLabelFilter | ast.IpLabelFilter)
    )


def _no_op_before_parsers(stage: ast.Stage) -> bool:
    """`| __error__=""` and `| drop __error__` while no stage could have set an error: Grafana adds them."""
    if isinstance(stage, ast.LabelFilter) and isinstance(stage.expr, ast.StringLabelFilter):
        m = stage.expr.matcher
        return m.name == "__error__" and m.op is ast.MatchOp.EQ and m.value == ""
    if isinstance(stage, ast.DropLabels):
        return all(ref.name in ("__error__", "__error_details__") for ref in stage.labels)
    return False


def _services(selector: ast.Selector) -> frozenset[str] | None:
    """Services a selector can match, when its `service` matchers pin them (for segment pruning)."""
    allowed: set[str] | None = None
    for m in selector.matchers:
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
