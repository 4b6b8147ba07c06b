"""Retention planning: which segments of which tenant are entirely out of their tenant's retention period.

As Loki's compactor marks a chunk for deletion once its newest entry is older than the tenant's period, a
segment goes only when its newest row (`ts_max`) is older than the cutoff. A segment straddling the cutoff is
kept whole until its newest row expires (segments are immutable; rewriting one to drop part of its rows would
cost as much as compacting it again): queries may return rows up to one segment's time span older than the period.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from observ.store.relation import Catalogued

S = TypeVar("S", bound=Catalogued)

Cutoff = Callable[[str], int | None]
"""Tenant -> the ts below which its rows are out of retention (None: kept forever)."""


@dataclass(frozen=True, slots=True)
class Deleted:
    """What one retention run removed (or, dry, would remove) of one tenant."""

    tenant: str
    segments: int
    rows: int
    """Segment rows and hot rows."""
    bytes: int
    """Segment files only: hot rows free space inside the DuckDB file."""


def expired(segments: Sequence[S], cutoff: Cutoff) -> list[S]:
    """Segments whose every row is older than its tenant's cutoff."""
    cutoffs: dict[str, int | None] = {}
    out = []
    for seg in segments:
        if seg.tenant not in cutoffs:
            cutoffs[seg.tenant] = cutoff(seg.tenant)
        limit = cutoffs[seg.tenant]
        if limit is not None and seg.ts_max < limit:
            out.append(seg)
    return out


def tally(segments: Iterable[Catalogued], hot_rows: dict[str, int]) -> list[Deleted]:
    """Per tenant: the expired segments with their rows and bytes, plus the tenant's expired hot rows."""
    per: dict[str, list[int]] = {t: [0, n, 0] for t, n in hot_rows.items() if n}
    for seg in segments:
        t = per.setdefault(seg.tenant, [0, 0, 0])
        t[0] += 1
        t[1] += seg.rows
        t[2] += seg.bytes
    return [Deleted(tenant, *per[tenant]) for tenant in sorted(per)]


@dataclass(frozen=True, slots=True)
class Expiry:
    """A store's retention run: what went per tenant, and the files now unregistered (the caller deletes them once
    no reader can hold them)."""

    deleted: list[Deleted]
    paths: list[str]
