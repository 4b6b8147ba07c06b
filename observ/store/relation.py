"""The relation a log query reads: the hot table plus the segments that may hold a match.

Pruning happens here, on the in-memory catalog (`Catalog`): tenant and time bounds as numpy arrays, then the
per-segment filters on the survivors only. The query binds only the kept files, by path (binding the view over
every file cost ~15 us a file per query). The SQL stays consistent on its own, though the catalog may move on
between `relation()` and the query's statement:

- Kept files are read only while registered in the statement's snapshot (`filename IN segments`): a merge or a
  retention that commits in between drops them (the merged file comes back through the tail), and a reader
  transaction older than a compaction never reads its new files beside the hot rows they came from.
- Files newer than the catalog (a compaction or merge that commits in between) are read from the tail view,
  which the writer redefines in the transaction that registers them, together with emptying the hot table. It
  holds the files of the last `TAIL_CHANGES` compactions and merges (ids above `since`, ids only grow); a query
  whose catalog is older than that fails (the guard on the hot rows) instead of missing rows.
- Unregistered files stay on disk `delete_delay_s` (lifecycle.Graveyard), so a kept path still opens.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from re import _parser as sre
from typing import Generic, Protocol, TypeVar, cast

import numpy as np

from observ.store.filters import TraceFilter, trace_fingerprint
from observ.store.segments import Segment

TAIL_CHANGES = 4
"""Compactions and merges whose files the tail view holds: how far a relation's catalog may lag its query."""
CATALOG_MOVED = "the segment catalog moved on while the query was planned: retry"
"""The guard's error: the relation's catalog lags more than the tail holds; plan again (the LogQL querier does)."""
TAIL_VIEW = "logs_cold_tail"
"""The files of the last TAIL_CHANGES compactions and merges (ids above `since`); redefined with the catalog."""
TAIL_SINCE = "logs_cold_tail_since"
"""A one-row view: `since`, the id above which every registered file is in the tail view."""


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
    return in_bounds(seg, hints) and holds_needles(seg, hints)


def holds_needles(seg: Segment, hints: ScanHints) -> bool:
    return all(seg.grams.may_contain(n) for n in hints.needles)


@dataclass(frozen=True, slots=True, eq=False)
class Catalog(Generic[S]):
    """The registered segments (by id) with their tenant and time bounds as arrays, so pruning by them costs a few
    numpy operations whatever the number of segments; rebuilt whenever the catalog changes."""

    segments: tuple[S, ...]
    newest_id: int = 0
    """The highest segment id ever assigned as of this catalog: files above it are newer than the catalog."""
    _tenants: np.ndarray = field(init=False)
    _ts_min: np.ndarray = field(init=False)
    _ts_max: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        segs = self.segments
        object.__setattr__(self, "_tenants", np.array([s.tenant for s in segs], dtype=object))
        object.__setattr__(self, "_ts_min", np.fromiter((s.ts_min for s in segs), np.int64, len(segs)))
        object.__setattr__(self, "_ts_max", np.fromiter((s.ts_max for s in segs), np.int64, len(segs)))

    def prune(self, hints: ScanHints, admit: Callable[[S, ScanHints], bool] = lambda s, h: True) -> list[S]:
        """The segments `in_bounds` keeps that `admit` (further filters) keeps too, in id order: tenant and time
        over the arrays, services, trace IDs and `admit` on those left."""
        if not self.segments:
            return []
        mask = (self._tenants == hints.tenant) & (self._ts_max >= hints.start_ns) & (self._ts_min < hints.end_ns)
        services = hints.services
        want = None if hints.trace_ids is None else sorted({trace_fingerprint(t) for t in hints.trace_ids})
        out = []
        for i in np.flatnonzero(mask).tolist():
            seg = self.segments[i]
            if services is not None and not (seg.services & services):
                continue
            if want is not None and not seg.traces.holds_any(want):
                continue
            if admit(seg, hints):
                out.append(seg)
        return out


def build(
    catalog: Catalog[Segment],
    hints: ScanHints,
    columns: str,
    files: Callable[[Sequence[Segment]], list[str]],
    registered: str,
    newest_path: str,
    hot: str = "logs_hot",
) -> Relation:
    """The log store's relation (see the module docstring). `files` gives SELECTs of `columns` and `filename` reading
    the given segments' files; `registered` is the prefix that makes a `segments.path` a file's path;
    `newest_path` is the path segment `catalog.newest_id` has or would have."""
    kept = catalog.prune(hints, holds_needles)
    guard = f"(SELECT CASE WHEN since > ? THEN error('{CATALOG_MOVED}') ELSE true END FROM {TAIL_SINCE})"
    parts = [f"SELECT {columns} FROM {hot} WHERE {guard}"]
    params: list[object] = [catalog.newest_id]
    for source in files(kept):
        parts.append(f"SELECT {columns} FROM ({source}) WHERE filename IN (SELECT ? || path FROM segments)")
        params.append(registered)
    parts.append(f"SELECT {columns} FROM {TAIL_VIEW} WHERE filename > ?")
    params.append(newest_path)
    return Relation(f"({' UNION ALL '.join(parts)})", params, len(kept), len(catalog.segments) - len(kept))


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
