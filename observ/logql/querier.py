"""The seam between the language and the storage: what the engine asks of a log store, and nothing of how.

As Loki's engine sees storage through `Querier{SelectLogs, SelectSamples}`, `Engine` sees it through `Querier`
below. The language side decides which leading stages of a pipeline only look at stored labels and the raw
line (`plan_scan`); the store decides how to evaluate them (its columns, its SQL, its segment pruning) and
hands back rows with their labels. Nothing here knows which labels are columns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import NamedTuple, Protocol

from observ.logql.errors import QueryTimeout
from observ.logql.log import ip
from observ.logql.results import QueryStats
from observ.logql.syntax import ast

__all__ = [
    "BucketCount",
    "Deadline",
    "IndexStats",
    "LogRow",
    "Querier",
    "QueryContext",
    "Scan",
    "ScanFilter",
    "plan_scan",
    "split_scan",
]

# Stages that change neither the line nor the labels a later line filter / matcher sees.
_LINE_PRESERVING = (ast.LineFilter, ast.LabelFilter, ast.JsonParser, ast.LogfmtParser, ast.RegexpParser,
                    ast.PatternParser, ast.LabelFormat, ast.DropLabels, ast.KeepLabels)  # fmt: skip


@dataclass(slots=True)
class Deadline:
    """The query's time budget. The store interrupts its own work from a timer; Python loops call `check`."""

    seconds: float
    started: float = field(default_factory=time.monotonic)
    expires: float = field(init=False)

    def __post_init__(self) -> None:
        self.expires = self.started + self.seconds

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def check(self) -> None:
        """Cheap enough to call per line and per stage."""
        if time.monotonic() >= self.expires:
            raise QueryTimeout(f"query timed out after {self.seconds:g}s")


@dataclass(slots=True)
class QueryContext:
    """What one query lends the store: its deadline, and the stats the store adds what it read to."""

    deadline: Deadline
    stats: QueryStats = field(default_factory=QueryStats)


ScanFilter = ast.LineFilter | ast.Matcher
"""A pushed-down condition: a line filter whose values are all strings, or a label matcher (stream labels and
structured metadata, as a label filter before any parser sees them). A `|>` line filter pushed down is only a
necessary condition: its stage stays in `rest` too."""


@dataclass(frozen=True, slots=True)
class Scan:
    """The part of a log query the store evaluates: rows of `tenant` in [start, end) that pass every filter."""

    tenant: str
    start_ns: int
    end_ns: int
    selector: tuple[ast.Matcher, ...]
    """The stream selector: stream labels only, never structured metadata."""
    filters: tuple[ScanFilter, ...]
    """In pipeline order."""
    rest: tuple[ast.Stage, ...]
    """Stages the Python pipeline must still run (pushed line filters are not repeated)."""
    split: tuple[ast.LabelFilterExpr, ...] | None = None
    """Set by `split_scan` for a count: `rest` is `| json` then these label filters. `count_buckets` then
    evaluates them itself for the rows whose answer it can prove equal to the pipeline's and counts only
    those; `select_samples` returns exactly the other rows, for the pipeline. A store may prove none."""


LogRow = tuple[int, str, dict[str, str], dict[str, str]]
"""(ts, line, stream labels, structured metadata): a plain tuple, as it is made per row. Rows of one stream may
share the stream labels' dict: never change it. Metadata holds non-empty values only."""


class BucketCount(NamedTuple):
    labels: dict[str, str]
    step: int
    """Index of the step whose window holds the rows."""
    rows: float
    bytes: float


class IndexStats(NamedTuple):
    streams: int
    chunks: int
    entries: int
    bytes: int


class Querier(Protocol):
    """A log store as the engine reads it. Every call checks `ctx.deadline` and adds what it read to `ctx.stats`."""

    def select_logs(
        self, ctx: QueryContext, scan: Scan, *, backward: bool, limit: int | None
    ) -> Iterator[list[LogRow]]:
        """Rows newest first (`backward`) or oldest first, in time slices: a consumer that stops early never reads
        the older slices. `limit`: every row counts towards it (no Python stages), the store may stop there."""
        ...

    def select_samples(self, ctx: QueryContext, scan: Scan) -> Iterator[list[LogRow]]:
        """Every row in ascending time order, in one pass: what range aggregations run their stages over."""
        ...

    def count_buckets(
        self, ctx: QueryContext, scan: Scan, *, base_ns: int, step_ns: int, range_ns: int, steps: int,
        group_by: tuple[str, ...] | None,
    ) -> Iterator[BucketCount]:  # fmt: skip
        """Rows and line bytes per series and step i, for rows in (base + i*step - range, base + i*step].

        `group_by`: the labels to count by (empty values dropped); None counts per stream and metadata.
        Only (series, step) pairs with rows; every row is counted once in `ctx.stats` whatever its windows.
        """
        ...

    def label_values(self, ctx: QueryContext, scan: Scan, name: str) -> set[str]:
        """Non-empty values of stream label `name` over the rows of `scan`."""
        ...

    def streams(self, ctx: QueryContext, scan: Scan) -> list[dict[str, str]]:
        """The stream labels of every stream with a row in `scan`."""
        ...

    def index_stats(self, ctx: QueryContext, scan: Scan) -> IndexStats:
        """Loki's /index/stats over the rows of `scan`."""
        ...


def plan_scan(log: ast.LogExpr, tenant: str, start_ns: int, end_ns: int) -> Scan:
    """Which leading stages the store may evaluate: those that only see stored labels and the raw line.

    Raises Loki's stage error for an ip() filter its pipeline could not build, before anything is read.
    """
    err = ip.stage_error(log.pipeline)
    if err is not None:
        raise err
    filters: list[ScanFilter] = []
    rest: list[ast.Stage] = []
    labels_untouched = True
    line_untouched = True
    no_error_yet = True
    for stage in log.pipeline:
        if isinstance(stage, ast.LineFilter) and line_untouched and _strings_only(stage):
            if stage.op is ast.LineFilterOp.PATTERN:
                filters.append(stage)
            elif stage.op is not ast.LineFilterOp.NOT_PATTERN:
                filters.append(stage)
                continue
        if no_error_yet and _no_op_before_parsers(stage):
            continue
        if isinstance(stage, ast.LabelFilter) and labels_untouched and isinstance(stage.expr, ast.StringLabelFilter):
            m = stage.expr.matcher
            if not m.name.startswith("__"):
                filters.append(m)
                continue
        rest.append(stage)
        if not isinstance(stage, ast.LineFilter | ast.LabelFilter):
            labels_untouched = False
        if not _cannot_err(stage):
            no_error_yet = False
        if not isinstance(stage, _LINE_PRESERVING):
            line_untouched = False
    return Scan(tenant, start_ns, end_ns, log.selector.matchers, tuple(filters), tuple(rest))


def split_scan(scan: Scan, group_by: tuple[str, ...]) -> Scan | None:
    """`scan` marked for a split count by `group_by` (see `Scan.split`), or None when its stages do not allow one.

    Allowed: `| json` without parameters, then label filters of string `=`/`!=` and number comparisons whose
    names, like `group_by`'s, are plain label names (not `__...`, not `..._extracted`: those depend on which
    names the line and the stream labels share); `__error__` = or != a string is allowed too.
    """
    if not scan.rest or scan.rest[0] != ast.JsonParser():
        return None
    filters: list[ast.LabelFilterExpr] = []
    for stage in scan.rest[1:]:
        if not isinstance(stage, ast.LabelFilter) or not _splittable(stage.expr):
            return None
        filters.append(stage.expr)
    if not all(_plain_name(name) for name in group_by):
        return None
    return replace(scan, split=tuple(filters))


def _plain_name(name: str) -> bool:
    return not name.startswith("__") and not name.endswith("_extracted")


def _splittable(expr: ast.LabelFilterExpr) -> bool:
    if isinstance(expr, ast.LabelFilterAnd | ast.LabelFilterOr):
        return _splittable(expr.left) and _splittable(expr.right)
    if isinstance(expr, ast.NumberLabelFilter):
        return _plain_name(expr.name)
    if isinstance(expr, ast.StringLabelFilter):
        m = expr.matcher
        return m.op in (ast.MatchOp.EQ, ast.MatchOp.NEQ) and (m.name == "__error__" or _plain_name(m.name))
    return False


def _strings_only(f: ast.LineFilter) -> bool:
    """An ip() value is Loki's scan of the line for addresses (observ/logql/log/ip.py): it stays in the pipeline."""
    return all(isinstance(v, str) for v in f.values)


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
