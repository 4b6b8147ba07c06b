"""`/loki/api/v1/index/volume` and `/index/volume_range`: bytes of log lines per stream, per label set or per label.

Loki's semantics, file by file:
- parameters: `pkg/loghttp/query.go` (`ParseVolumeInstantQuery`, `ParseVolumeRangeQuery`, `volumeLimit`,
  `volumeAggregateBy`, `targetLabels`);
- which labels a volume is named by: `pkg/util/series_volume.go` (`PrepareLabelsAndMatchers`) and the ingester's
  `getVolume` (`pkg/ingester/instance.go`);
- order and limit: `pkg/storage/stores/index/seriesvolume/volume.go` (`MapToVolumeResponse`);
- steps and the answer's shape: `pkg/querier/queryrange/volume.go` (`NewVolumeMiddleware`, `ToPrometheusResponse`)
  with `util.ForInterval` (`pkg/util/time.go`) cutting the window, each step's sample stamped with its end.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from observ.api.loki import params as p
from observ.api.loki.push import LABEL_NAME
from observ.api.loki.responses import go_float, sample_time, stats_json
from observ.gocompat.strconv import go_quote
from observ.logql.errors import LimitError, LogQLError
from observ.logql.results import QueryStats
from observ.logql.syntax import ast
from observ.logql.syntax.parser import parse
from observ.store.streams import StreamBytes

MS = 1_000_000
DEFAULT_LIMIT = 100
MAX_SERIES = 1000
"""Loki's `volume_max_series` default: distinct names one step may aggregate into before the query is refused."""
MATCH_ANY = "{}"
"""The one query that is not a valid selector yet is accepted: every stream (`seriesvolume.MatchAny`)."""
SERIES, LABELS = "series", "labels"
_ZERO = re.compile(r"[+-]?0+")
_MAX_UINT32 = 2**32 - 1


@dataclass(frozen=True, slots=True)
class VolumeQuery:
    query: str
    start_ns: int
    end_ns: int
    step_ns: int
    """0 for the instant endpoint: one sample over the whole window."""
    limit: int
    target_labels: tuple[str, ...]
    aggregate_by: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What to select and how to name what is found: `PrepareLabelsAndMatchers`."""

    selector: ast.Selector
    names: frozenset[str]
    """The labels a volume is named by (matchers' names, or the target labels)."""
    include_all: bool
    """`{}` without target labels: every label names the volume."""
    targeted: bool
    """Target labels were given: with aggregateBy=labels only they are counted, otherwise every label is."""


def _volume_form(form: p.Form) -> p.Form:
    """`volumeLimit`: a zero `limit` means the default (Loki rewrites the form value before parsing it again)."""
    text = p.get(form, "limit")
    if _ZERO.fullmatch(text):
        return {**form, "limit": [str(DEFAULT_LIMIT)]}
    return form


def _limit(form: p.Form) -> int:
    n = p.parse_limit(form)
    if n > _MAX_UINT32:
        raise p.ParamError(f"limit value {n} is out of range [0, {_MAX_UINT32}]")
    return n


def _aggregate_by(form: p.Form) -> str:
    value = p.get(form, "aggregateBy")
    if value == "":
        return SERIES
    if value not in (SERIES, LABELS):
        raise p.ParamError("invalid aggregation option")
    return value


def _target_labels(form: p.Form) -> tuple[str, ...]:
    """`targetLabels=a,b`: split on commas as is (no trimming); absent or empty means none."""
    text = p.get(form, "targetLabels")
    return tuple(text.split(",")) if text else ()


def volume_instant_query(form: p.Form, now_ns: int) -> VolumeQuery:
    """ParseVolumeInstantQuery: the instant query's checks (`limit`, `time`, `direction`), then the window."""
    form = _volume_form(form)
    limit = _limit(form)
    p.instant_query(form, now_ns)
    aggregate_by = _aggregate_by(form)
    start, end = p.parse_bounds(form, now_ns)
    if end < start:
        raise p.ParamError("end timestamp must not be before or equal to start time")
    return VolumeQuery(p.get(form, "query"), start, end, 0, limit, _target_labels(form), aggregate_by)


def volume_range_query(form: p.Form, now_ns: int) -> VolumeQuery:
    """ParseVolumeRangeQuery: a range query's parameters (`step` included), then `aggregateBy`."""
    form = _volume_form(form)
    q = p.range_query(form, now_ns)
    limit = _limit(form)
    aggregate_by = _aggregate_by(form)
    return VolumeQuery(q.query, q.start_ns, q.end_ns, q.step_ns, limit, _target_labels(form), aggregate_by)


def parse_matchers(query: str) -> ast.Selector:
    """syntax.ParseMatchers(query, validate=true): a stream selector and nothing else."""
    expr = parse(query)
    if not isinstance(expr, ast.LogExpr) or expr.pipeline:
        raise LogQLError("only label matchers are supported")
    return expr.selector


def plan(query: str, target_labels: tuple[str, ...]) -> Plan | None:
    """Target labels name the volumes and must be present (`=~".+"` added for each not matched already).

    None when a target is no label name (`a,` or `a.b`): no stream carries it, so nothing is counted.
    """
    matchers = () if query == MATCH_ANY else parse_matchers(query).matchers
    if not target_labels:
        return Plan(ast.Selector(matchers), frozenset(m.name for m in matchers), not matchers, False)
    if not all(LABEL_NAME.fullmatch(t) for t in target_labels):
        return None
    named = {m.name for m in matchers}
    added = tuple(ast.Matcher(t, ast.MatchOp.RE, ".+") for t in dict.fromkeys(target_labels) if t not in named)
    return Plan(ast.Selector(matchers + added), frozenset(target_labels), False, True)


@dataclass(frozen=True, slots=True)
class Steps:
    """The window cut as `util.ForInterval(step, from, through, endTimeInclusive=true)` cuts it, in ms."""

    origin_ns: int
    step_ns: int
    stamps_ms: list[int]
    """Each step's sample time: its end, 1 ms before the next step starts; the last one is the window's end."""


def steps(start_ns: int, end_ns: int, step_ns: int) -> Steps:
    """Bounds are rounded to ms (`RoundToMilliseconds`: start down, end up), the step to whole ms; no step: one."""
    from_ms, through_ms = start_ns // MS, -(-end_ns // MS)
    step_ms = step_ns // MS
    if step_ms <= 0:
        return Steps(start_ns, max(end_ns - start_ns, 1), [through_ms])
    aligned = from_ms - from_ms % step_ms
    stamps = []
    for lo in range(aligned, through_ms, step_ms):
        hi = lo + step_ms
        stamps.append(through_ms if hi >= through_ms else hi - 1)
    return Steps(aligned * MS, step_ms * MS, stamps)


Name = tuple[tuple[str, str], ...] | str
"""A series' sorted label pairs (aggregateBy=series) or a label name (aggregateBy=labels)."""
Volumes = dict[int, list[tuple[Name, int]]]
"""Per step index: (name, bytes), largest first."""


def _sort_key(name: Name) -> str:
    """The name as Loki compares it: Prometheus' `labels.String()` (`{a="1", b="2"}`) or the label name."""
    if isinstance(name, str):
        return name
    return "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in name) + "}"


def aggregate(rows: Iterable[StreamBytes], plan: Plan, aggregate_by: str, limit: int) -> Volumes:
    """Per step: volumes named as Loki names them, largest first (ties by name), cut to `limit`."""
    per_step: dict[int, dict[Name, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        volumes = per_step[r.bucket]
        if aggregate_by == SERIES:
            key = tuple((k, v) for k, v in sorted(r.labels.items()) if plan.include_all or k in plan.names)
            volumes[key] += r.bytes
        else:
            for k in r.labels:
                if not plan.targeted or k in plan.names:
                    volumes[k] += r.bytes
        if len(volumes) > MAX_SERIES:
            raise LimitError(f"the query hit the max number of series limit (limit: {MAX_SERIES} series)")
    return {
        step: sorted(volumes.items(), key=lambda nv: (-nv[1], _sort_key(nv[0])))[:limit]
        for step, volumes in per_step.items()
    }


def encode(per_step: Volumes, stamps_ms: list[int]) -> bytes:
    """`ToPrometheusResponse`: a vector while every name has one sample, else a matrix; names by first sample."""
    samples: dict[Name, list[tuple[int, int]]] = defaultdict(list)
    for step in sorted(per_step):
        for name, volume in per_step[step]:
            samples[name].append((stamps_ms[step], volume))
    ordered = sorted(samples.items(), key=lambda ns: (-ns[1][0][1], _sort_key(ns[0])))
    matrix = any(len(points) > 1 for _, points in ordered)
    result: list[dict[str, object]] = []
    for name, points in ordered:
        metric = {name: ""} if isinstance(name, str) else dict(name)
        pairs = [[sample_time(ms * MS), go_float(v)] for ms, v in points]
        result.append({"metric": metric, "values": pairs} if matrix else {"metric": metric, "value": pairs[0]})
    data = {"resultType": "matrix" if matrix else "vector", "result": result, "stats": stats_json(QueryStats(), 0)}
    return orjson.dumps({"status": "success", "data": data})
