"""LogQL syntax tree: what the parser produces and the engine, the formatter and the SQL compiler consume.

Frozen dataclasses (hashable, cheap) rather than pydantic: the tree never crosses a process
boundary, and the parser is the only place that builds it from untrusted text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class MatchOp(StrEnum):
    EQ = "="
    NEQ = "!="
    RE = "=~"
    NRE = "!~"


class CmpOp(StrEnum):
    EQ = "=="
    NEQ = "!="
    GT = ">"
    GTE = ">="
    LT = "<"
    LTE = "<="


class LineFilterOp(StrEnum):
    CONTAINS = "|="
    NOT_CONTAINS = "!="
    MATCH = "|~"
    NOT_MATCH = "!~"
    PATTERN = "|>"
    NOT_PATTERN = "!>"


@dataclass(frozen=True, slots=True)
class Matcher:
    """`name op "value"`; regexes are RE2, fully anchored, as in Prometheus and Loki."""

    name: str
    op: MatchOp
    value: str


@dataclass(frozen=True, slots=True)
class Selector:
    matchers: tuple[Matcher, ...]


# --- pipeline stages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IpPattern:
    """`ip("192.168.0.0/16")` in a line filter: a line holding an address of the pattern matches (logql/ip.py)."""

    pattern: str


@dataclass(frozen=True, slots=True)
class LineFilter:
    """`|= "a" or ip("b")`: the line passes when any of `values` matches (for negated ops: none does).

    ip() only works with `|=` and `!=`; other ops parse, and the query fails when its pipeline is built, as in Loki.
    """

    op: LineFilterOp
    values: tuple[str | IpPattern, ...]


@dataclass(frozen=True, slots=True)
class JsonParser:
    """`json` or `json a="x.y", b` — `params` maps label to JSON path ("" = whole document)."""

    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LogfmtParser:
    strict: bool = False
    keep_empty: bool = False
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RegexpParser:
    pattern: str


@dataclass(frozen=True, slots=True)
class PatternParser:
    pattern: str


@dataclass(frozen=True, slots=True)
class UnpackParser:
    pass


@dataclass(frozen=True, slots=True)
class Decolorize:
    pass


@dataclass(frozen=True, slots=True)
class LineFormat:
    template: str


@dataclass(frozen=True, slots=True)
class LabelFormatItem:
    """`dst=src` renames (`template` False) or `dst="{{...}}"` renders a template (`template` True)."""

    dst: str
    value: str
    template: bool


@dataclass(frozen=True, slots=True)
class LabelFormat:
    items: tuple[LabelFormatItem, ...]


@dataclass(frozen=True, slots=True)
class LabelRef:
    """An entry of `drop`/`keep`: a bare name, or a matcher that must also match the value."""

    name: str
    matcher: Matcher | None = None


@dataclass(frozen=True, slots=True)
class DropLabels:
    labels: tuple[LabelRef, ...]


@dataclass(frozen=True, slots=True)
class KeepLabels:
    labels: tuple[LabelRef, ...]


@dataclass(frozen=True, slots=True)
class StringLabelFilter:
    matcher: Matcher


@dataclass(frozen=True, slots=True)
class NumberLabelFilter:
    name: str
    op: CmpOp
    value: float


@dataclass(frozen=True, slots=True)
class DurationLabelFilter:
    """The label is parsed as a Go duration; `seconds` is the right-hand side."""

    name: str
    op: CmpOp
    seconds: float


@dataclass(frozen=True, slots=True)
class BytesLabelFilter:
    """The label is parsed as a humanized byte size; `value` is bytes."""

    name: str
    op: CmpOp
    value: float


@dataclass(frozen=True, slots=True)
class IpLabelFilter:
    """`name = ip("…")` / `name != ip("…")`: whether the label value holds an address of the pattern."""

    name: str
    op: MatchOp
    """EQ or NEQ."""
    pattern: str


@dataclass(frozen=True, slots=True)
class LabelFilterAnd:
    left: LabelFilterExpr
    right: LabelFilterExpr


@dataclass(frozen=True, slots=True)
class LabelFilterOr:
    left: LabelFilterExpr
    right: LabelFilterExpr


LabelFilterExpr = (
    StringLabelFilter
    | NumberLabelFilter
    | DurationLabelFilter
    | BytesLabelFilter
    | IpLabelFilter
    | LabelFilterAnd
    | LabelFilterOr
)


@dataclass(frozen=True, slots=True)
class LabelFilter:
    """A `| <label filter expression>` stage."""

    expr: LabelFilterExpr


Stage = (
    LineFilter
    | JsonParser
    | LogfmtParser
    | RegexpParser
    | PatternParser
    | UnpackParser
    | Decolorize
    | LineFormat
    | LabelFormat
    | DropLabels
    | KeepLabels
    | LabelFilter
)


@dataclass(frozen=True, slots=True)
class LogExpr:
    """A log query: selector and pipeline. Its result type is `streams`."""

    selector: Selector
    pipeline: tuple[Stage, ...] = ()


# --- metric queries --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unwrap:
    """`| unwrap [duration|duration_seconds|bytes](label)` and the label filters that follow it."""

    label: str
    conversion: str = ""
    """"" (float), "duration" / "duration_seconds" (Go duration → seconds) or "bytes"."""
    post_filters: tuple[LabelFilterExpr, ...] = ()


@dataclass(frozen=True, slots=True)
class LogRange:
    """`<log expr> [| unwrap ...] [range] [offset d]`."""

    log: LogExpr
    range_ns: int
    offset_ns: int = 0
    unwrap: Unwrap | None = None


@dataclass(frozen=True, slots=True)
class Grouping:
    """`by (a, b)` or `without (a, b)`; `by ()` is an explicit empty grouping."""

    labels: tuple[str, ...]
    without: bool = False


RANGE_OPS = frozenset(
    {
        "count_over_time", "rate", "bytes_over_time", "bytes_rate", "absent_over_time",
        "rate_counter", "sum_over_time", "avg_over_time", "min_over_time", "max_over_time",
        "first_over_time", "last_over_time", "stddev_over_time", "stdvar_over_time", "quantile_over_time",
    }
)  # fmt: skip
UNWRAPPED_RANGE_OPS = RANGE_OPS - {"count_over_time", "bytes_over_time", "bytes_rate"}
"""Ops that take an unwrapped range (`rate` and `absent_over_time` take either)."""
LOG_RANGE_OPS = frozenset({"count_over_time", "rate", "bytes_over_time", "bytes_rate", "absent_over_time"})

VECTOR_OPS = frozenset(
    {"sum", "avg", "min", "max", "stddev", "stdvar", "count", "topk", "bottomk", "sort", "sort_desc"}
)


@dataclass(frozen=True, slots=True)
class RangeAggregation:
    """`op([param,] log_range) [by|without (...)]`; grouping is only valid on unwrapped ranges."""

    op: str
    range: LogRange
    param: float | None = None
    grouping: Grouping | None = None


@dataclass(frozen=True, slots=True)
class VectorAggregation:
    """`op [by|without (...)] ([param,] expr)`; `param` is k for topk/bottomk."""

    op: str
    expr: SampleExpr
    grouping: Grouping | None = None
    param: float | None = None


@dataclass(frozen=True, slots=True)
class VectorMatching:
    """`on(...)`/`ignoring(...)` and `group_left(...)`/`group_right(...)` of a binary operation."""

    on: bool = False
    labels: tuple[str, ...] = ()
    card: str = ""
    """"" (one-to-one), "group_left" or "group_right"."""
    include: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BinaryOp:
    """`+ - * / % ^`, `== != > >= < <=` (filter, or 0/1 with `bool`), `and or unless`."""

    op: str
    left: SampleExpr
    right: SampleExpr
    return_bool: bool = False
    matching: VectorMatching = field(default_factory=VectorMatching)


@dataclass(frozen=True, slots=True)
class NumberLiteral:
    value: float


@dataclass(frozen=True, slots=True)
class VectorLiteral:
    """`vector(1)`: one sample without labels at every step."""

    value: float


@dataclass(frozen=True, slots=True)
class LabelReplace:
    """`label_replace(expr, "dst", "replacement", "src", "regex")` (regex anchored, `$1` references)."""

    expr: SampleExpr
    dst: str
    replacement: str
    src: str
    regex: str


SampleExpr = RangeAggregation | VectorAggregation | BinaryOp | NumberLiteral | VectorLiteral | LabelReplace
Expr = LogExpr | SampleExpr
