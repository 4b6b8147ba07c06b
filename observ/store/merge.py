"""Merge planning: a tenant's small segments, neighbours in time, packed into groups that become one segment each.

Every query binds each segment file in its range (~40 us apiece), and a store fed slowly, or by many tenants,
gathers many small files. Only segments below `small_bytes` are candidates; within a tenant they are taken in
time order (so a merged segment covers a contiguous stretch and still prunes by time) and packed while the group
stays below `target_bytes` and `max_rows` rows; a group needs at least two segments. At most `max_groups` groups
per run, oldest first, bound the work one maintenance round does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from observ.store.relation import Catalogued

S = TypeVar("S", bound=Catalogued)


def plan(segments: Sequence[S], small_bytes: int, target_bytes: int, max_rows: int, max_groups: int) -> list[list[S]]:
    """Groups of segments to merge, each of one tenant, in time order within a group."""
    by_tenant: dict[str, list[S]] = {}
    for seg in segments:
        if seg.bytes < small_bytes:
            by_tenant.setdefault(seg.tenant, []).append(seg)
    groups: list[list[S]] = []
    for tenant in sorted(by_tenant):
        group: list[S] = []
        size = rows = 0
        for seg in sorted(by_tenant[tenant], key=lambda s: (s.ts_min, s.id)):
            if group and (size + seg.bytes > target_bytes or rows + seg.rows > max_rows):
                if len(group) > 1:
                    groups.append(group)
                group, size, rows = [], 0, 0
            group.append(seg)
            size += seg.bytes
            rows += seg.rows
        if len(group) > 1:
            groups.append(group)
    groups.sort(key=lambda g: (g[0].ts_min, g[0].id))
    return groups[:max_groups]


@dataclass(frozen=True, slots=True)
class Merged:
    """One merge: the segments it replaced, the new segment's id (None in a dry run) and the replaced files, for
    the caller to delete once no reader can hold them."""

    tenant: str
    sources: list[int]
    segment: int | None
    rows: int
    bytes: int
    """Of the replaced segments."""
    paths: list[str]


def merged(group: Sequence[Catalogued], seg_id: int | None) -> Merged:
    """The report of merging `group` into segment `seg_id` (None: planned only, nothing to delete)."""
    return Merged(
        group[0].tenant, [s.id for s in group], seg_id, sum(s.rows for s in group), sum(s.bytes for s in group),
        [] if seg_id is None else [s.path for s in group],
    )  # fmt: skip
