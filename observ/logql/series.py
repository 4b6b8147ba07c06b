"""Series sets as the metric evaluator passes them around: label key → {step index: value}."""

from __future__ import annotations

import math
from dataclasses import dataclass

from observ.logql.syntax import ast

LabelKey = tuple[tuple[str, str], ...]
SeriesSet = dict[LabelKey, dict[int, float]]


@dataclass(slots=True)
class Scalars:
    """A scalar expression: one value per step (number literals and scalar arithmetic)."""

    values: list[float]


Value = SeriesSet | Scalars


def key_of(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted((k, v) for k, v in labels.items() if v != ""))


def reduce_labels(labels: dict[str, str], grouping: ast.Grouping) -> dict[str, str]:
    """The labels a `by (...)` keeps, or those a `without (...)` leaves."""
    if grouping.without:
        drop = set(grouping.labels)
        return {k: v for k, v in labels.items() if k not in drop}
    return {k: labels[k] for k in grouping.labels if labels.get(k)}


def reduce_key(key: LabelKey, grouping: ast.Grouping | None) -> LabelKey:
    if grouping is None:
        return ()
    if grouping.without:
        drop = set(grouping.labels)
        return tuple(kv for kv in key if kv[0] not in drop)
    keep = set(grouping.labels)
    return tuple(kv for kv in key if kv[0] in keep)


def stdvar(values: list[float]) -> float:
    """Population variance, as PromQL's stdvar and stdvar_over_time define it."""
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values) / len(values)
