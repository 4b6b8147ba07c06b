"""The relation a log query reads: the hot table plus the segments that may hold a match.

Pruning happens here, on the in-memory catalog; the SQL stays consistent on its own. Segments
are read through the `logs_cold` view, which the compaction transaction redefines together
with emptying the hot table, so a query sees rows either hot or in a segment, never both or
neither. The filter keeps the kept segments and every file newer than the catalog the pruning
looked at (ids only grow), so a compaction that commits between `relation()` and the query
loses nothing: its files are simply not pruned.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from re import _parser as sre
from typing import Protocol, TypeVar, cast

from observ.store.filters import TraceFilter
from observ.store.segments import COLD_VIEW, Segment


@dataclass(frozen=True, slots=True)
class ScanHints:
    tenant: str
    start_ns: int
    """Inclusive."""
    end_ns: int
    """Exclusive."""
    services: frozenset[str] | None = None
    """Only these services can match (None = any)."""
    trace_ids: frozenset[str] | None = None
    """Only rows with one of these trace_id can match."""
    needles: tuple[str, ...] = ()
    """Case-sensitive substrings every matching line contains."""


@dataclass(frozen=True, slots=True)
class Relation:
    sql: str
    """FROM-able SQL: a parenthesised subquery with exactly the columns of table `logs`."""
    params: list[object]
    segments_scanned: int
    segments_skipped: int


class Bounded(Protocol):
    """What pruning reads of a segment, log or span segment alike."""

    @property
    def path(self) -> str: ...
    @property
    def tenant(self) -> str: ...
    @property
    def services(self) -> frozenset[str]: ...
    @property
    def ts_min(self) -> int: ...
    @property
    def ts_max(self) -> int: ...
    @property
    def traces(self) -> TraceFilter: ...


class Catalogued(Bounded, Protocol):
    """A registered segment as retention and merging see it (`Segment` and `SpanSegment` alike)."""

    @property
    def id(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def bytes(self) -> int: ...


S = TypeVar("S", bound=Bounded)


def in_bounds(seg: Bounded, hints: ScanHints) -> bool:
    """False only if no row of `seg` can have the hints' tenant, time, service and trace IDs."""
    if seg.tenant != hints.tenant or seg.ts_max < hints.start_ns or seg.ts_min >= hints.end_ns:
        return False
    if hints.services is not None and not (seg.services & hints.services):
        return False
    return hints.trace_ids is None or seg.traces.may_contain_any(hints.trace_ids)


def may_match(seg: Segment, hints: ScanHints) -> bool:
    """False only if no row of `seg` can satisfy the hints."""
    return in_bounds(seg, hints) and all(seg.grams.may_contain(n) for n in hints.needles)


def build(
    segments: Sequence[S],
    hints: ScanHints,
    columns: str,
    *,
    may: Callable[[S, ScanHints], bool] = may_match,  # type: ignore[assignment]  # a default fit for S = Segment only
    hot: str = "logs_hot",
    cold: str = COLD_VIEW,
) -> Relation:
    """`may`, `hot` and `cold` default to the log store's; the spans store passes its own."""
    kept = [s.path for s in segments if may(s, hints)]
    hot_rows = f"SELECT {columns} FROM {hot}"
    if len(kept) == len(segments):
        return Relation(f"({hot_rows} UNION ALL SELECT {columns} FROM {cold})", [], len(kept), 0)
    newest = segments[-1].path
    cold_rows = f"SELECT {columns} FROM {cold} WHERE list_contains(?::VARCHAR[], filename) OR filename > ?"
    return Relation(f"({hot_rows} UNION ALL {cold_rows})", [kept, newest], len(kept), len(segments) - len(kept))


_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


def regex_needles(pattern: str) -> tuple[str, ...]:
    """Literal runs that every match of `pattern` contains, case-sensitively: ScanHints.needles for `|~`.

    Conservative: a pattern Python's parser rejects (RE2-only syntax), that ignores case, or that has
    a POSIX class (`[[:alpha:]]`, which Python reads as a set followed by a literal `]`) gives ().
    Alternatives, classes, optional parts and anchors end a run; mandatory groups and repeats of at
    least one contribute their own runs.
    """
    if "[:" in pattern:
        return ()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = sre.parse(pattern)
    except (re.error, OverflowError, RecursionError):
        return ()
    if parsed.state.flags & re.IGNORECASE:
        return ()
    runs: list[str] = []
    _collect(parsed, runs)
    return tuple(r for r in runs if r)


_Items = Iterable[tuple[object, object]]


def _collect(items: _Items, runs: list[str]) -> None:
    """The argument's shape depends on the opcode, which the stdlib's types do not express: cast per opcode."""
    run: list[str] = []
    for op, av in items:
        if op is sre.LITERAL:
            run.append(chr(cast(int, av)))
            continue
        runs.append("".join(run))
        run = []
        if op is sre.SUBPATTERN:
            _, add_flags, _, sub = cast(tuple[object, int, object, _Items], av)
            if not add_flags & re.IGNORECASE:
                _collect(sub, runs)
        elif op in _REPEATS:
            low, _, sub = cast(tuple[int, object, _Items], av)
            if low >= 1:
                _collect(sub, runs)
    runs.append("".join(run))
