"""Loki 3's ingest defaults: the `service_name` stream label and the `detected_level` structured metadata.

Grafana's Logs Drilldown lists services by `service_name` and splits volumes by `detected_level`, which a
default Loki 3 install adds at its distributor. Every observ ingest path applies the same rules, ported from
Loki's `pkg/loghttp/push/push.go` (ParseLokiRequest), `pkg/loghttp/push/otlplabels/labels.go`
(ResourceAttrsToStreamLabels) and `pkg/distributor/field_detection.go` (extractLogLevel): pushes before
validation, OTLP records from their resource attributes, tailed files' batches where the ingester (or
`observ up`'s store sink) takes them. Applying them twice changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import replace
from functools import lru_cache

import orjson
from pydantic import BaseModel, ConfigDict, Field

from observ.logql.log.logfmt import logfmt_pairs
from observ.model import DecodedBatch

SERVICE_NAME = "service_name"
UNKNOWN_SERVICE = "unknown_service"
DETECTED_LEVEL = "detected_level"
UNKNOWN_LEVEL = "unknown"

DEFAULT_SERVICE_NAME_LABELS = (
    "service", "app", "application", "app_name", "name", "app_kubernetes_io_name", "container", "container_name",
    "k8s_container_name", "component", "workload", "job", "k8s_job_name",
)  # fmt: skip
"""Loki's `discover_service_name` default (pkg/validation/limits.go), in its order."""
DEFAULT_LEVEL_FIELDS = (
    "level", "LEVEL", "Level", "log.level", "severity", "SEVERITY", "Severity", "SeverityText", "lvl", "LVL", "Lvl",
    "severity_text", "Severity_Text", "SEVERITY_TEXT",
)  # fmt: skip
"""Loki's `log_level_fields` default (validation.DefaultAllowedLevelFields)."""
INTERNAL_STREAM_LABELS = ("__aggregated_metric__", "__pattern__")
"""Streams Loki writes for itself: they get no `service_name`."""
OTLP_INDEX_ATTRIBUTES = (
    "service.name", "service.namespace", "service.instance.id", "deployment.environment",
    "deployment.environment.name", "cloud.region", "cloud.availability_zone", "k8s.cluster.name",
    "k8s.namespace.name", "k8s.pod.name", "k8s.container.name", "container.name", "k8s.replicaset.name",
    "k8s.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name", "k8s.cronjob.name", "k8s.job.name",
)  # fmt: skip
"""Resource attributes Loki indexes by default (otlplabels/config.go): the labels `service_name` is found among."""
OTLP_SEVERITY_NUMBER = "severity_number"


class IngestDefaults(BaseModel):
    """Loki's `limits_config` keys for the labels and metadata a default Loki 3 adds on ingest."""

    model_config = ConfigDict(extra="forbid")

    discover_service_name: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SERVICE_NAME_LABELS),
        description="A stream without `service_name` gets the value of the first of these labels it has, else "
        "`unknown_service`; an empty list adds no `service_name`.",
    )
    discover_log_levels: bool = Field(
        True, description="Add `detected_level` structured metadata to every entry (Loki's discover_log_levels)."
    )
    log_level_fields: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LEVEL_FIELDS),
        description="Labels, metadata and JSON/logfmt keys a level is read from, before the line's words.",
    )
    log_level_from_json_max_depth: int = Field(
        2, description="JSON objects searched for a level field: 2 = the line's top level and one level below; "
        "0 or less: any depth."
    )  # fmt: skip


LOKI_DEFAULTS = IngestDefaults()


# --- service_name ---------------------------------------------------------------------------------------


def service_name(labels: Mapping[str, str], discover: Sequence[str]) -> str | None:
    """The `service_name` to add to a stream with these (non-empty) labels; None: add none (Loki's push.go)."""
    if SERVICE_NAME in labels or not discover or any(k in labels for k in INTERNAL_STREAM_LABELS):
        return None
    for name in discover:
        if labels.get(name):
            return labels[name]
    return UNKNOWN_SERVICE


def otlp_service_name(resource: Mapping[str, str], discover: Sequence[str]) -> str | None:
    """`service_name` of an OTLP resource (attribute name -> value as text), as Loki's OTLP endpoint labels it:
    `service.name`, else the first `discover` label among Loki's default index attributes, else
    `unknown_service`; without `service.name` and with discovery off, none."""
    if resource.get("service.name"):
        return resource["service.name"]
    if not discover:
        return None
    indexed = {k.replace(".", "_"): v for k, v in resource.items() if k in OTLP_INDEX_ATTRIBUTES}
    for name in discover:
        if indexed.get(name):
            return indexed[name]
    return UNKNOWN_SERVICE


# --- detected_level ---------------------------------------------------------------------------------------

_NORMAL = {
    "trace": "trace", "trc": "trace", "debug": "debug", "dbg": "debug", "info": "info", "inf": "info",
    "information": "info", "warn": "warn", "wrn": "warn", "warning": "warn", "error": "error", "err": "error",
    "critical": "critical", "fatal": "fatal",
}  # fmt: skip
"""normalizeLogLevel: these spellings, in any case; any other value is kept as it is."""
_LEVEL_WORD = re.compile(
    r"""(?:^|(?<=[ \t\n\[({"'=|]))"""  # isLeftWordBoundary (no ':': `misc:error` is no level)
    r"(trace|debug|fatal|critical|error|err|warning|warn|info)"
    r"""(?=[ \t\n\[\]{}():,!"'=|]|\Z)"""  # isRightWordBoundary
)
"""levelPatterns with isLeftWordBoundary / isRightWordBoundary: the earliest bounded level word. Words sharing a
position (`error`/`err`, `warning`/`warn`) cannot both be bounded there, so the first match is Loki's answer."""
_WORD_LEVEL = {"err": "error", "warning": "warn"}
_SEVERITY_BANDS = ((4, "trace"), (8, "debug"), (12, "info"), (16, "warn"), (20, "error"), (24, "fatal"))
_ATOI = re.compile(r"[+-]?[0-9]+")
_GO_SPACE = " \t\n\v\f\r\x85\xa0"


def normalize_level(value: str) -> str:
    return _NORMAL.get(value.lower(), value)


def level_from_words(line: str) -> str:
    """detectLevelFromLogLine: the level word that comes first in the line, `unknown` without one."""
    m = _LEVEL_WORD.search(line.lower())
    if m is None:
        return UNKNOWN_LEVEL
    return _WORD_LEVEL.get(m.group(1), m.group(1))


def _is_json(line: str) -> bool:
    body = line.strip(_GO_SPACE)
    return body[:1] == "{" and body[-1:] == "}"


def _json_level(doc: dict[str, object], fields: Set[str], max_depth: int, depth: int) -> str | None:
    if 0 < max_depth <= depth:
        return None
    for key, value in doc.items():
        if isinstance(value, str):
            if key in fields:
                return value
        elif isinstance(value, dict):
            found = _json_level(value, fields, max_depth, depth + 1)
            if found is not None:
                return found
    return None


def json_level(line: str, fields: Set[str], max_depth: int) -> str:
    """getLevelUsingJSONParser: the first string value under one of `fields`, depth first in document order, objects
    nested up to `max_depth` levels (0 or less: any); '' for none or a line that is no JSON object."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ""
    return (_json_level(doc, fields, max_depth, 0) or "") if isinstance(doc, dict) else ""


def logfmt_level(line: str, hints: Mapping[str, int]) -> str:
    """getValueUsingLogfmtParser: the value of the key whose lowercase is the hint with the smallest position
    (`hints`: lowercase hint -> its first position), read up to the first syntax error; '' for none."""
    pairs, _ = logfmt_pairs(line, strict=True)
    best, found = -1, ""
    for key, value in pairs:
        x = hints.get(key.lower())
        if x is not None and (best < 0 or x < best):
            if x == 0:
                return value
            best, found = x, value
    return found


@lru_cache(maxsize=8)
def _fields(names: tuple[str, ...]) -> tuple[frozenset[str], dict[str, int]]:
    """The exact names (JSON keys) and each lowercase name's first position (logfmt keys)."""
    positions: dict[str, int] = {}
    for i, n in enumerate(names):
        positions.setdefault(n.lower(), i)
    return frozenset(names), positions


def level_from_line(line: str, d: IngestDefaults) -> str:
    """extractLogLevelFromLogLine: a JSON or logfmt level field, else the line's words."""
    fields, positions = _fields(tuple(d.log_level_fields))
    if _is_json(line):
        value = json_level(line, fields, d.log_level_from_json_max_depth)
    elif "=" in line:
        value = logfmt_level(line, positions)
    else:
        return level_from_words(line)
    return _NORMAL.get(value.lower()) or level_from_words(line)


def _severity_level(number: str) -> str:
    """An OTLP severity_number's band (OTel log data model); Loki answers `info` for a value that is no integer."""
    if not _ATOI.fullmatch(number) or not -(2**63) <= int(number) < 2**63:
        return "info"
    n = int(number)
    if n == 0:
        return UNKNOWN_LEVEL
    return next((name for top, name in _SEVERITY_BANDS if n <= top), UNKNOWN_LEVEL)


def detected_level(labels: Mapping[str, str], metadata: Mapping[str, str], line: str, d: IngestDefaults) -> str | None:
    """The entry's `detected_level` (Loki's extractLogLevel), None when it gets none.

    An existing `detected_level` pair is normalised; otherwise the first level field among the stream labels,
    then among the structured metadata, then OTLP's `severity_number`, then the line.
    """
    if not d.discover_log_levels:
        return None
    if DETECTED_LEVEL in metadata:
        return normalize_level(metadata[DETECTED_LEVEL])
    for source in (labels, metadata):
        for name in d.log_level_fields:
            if name in source:
                return normalize_level(source[name]) or None
    number = metadata.get(OTLP_SEVERITY_NUMBER)
    if number:
        return _severity_level(number)
    return level_from_line(line, d)


# --- a store batch --------------------------------------------------------------------------------------


def stream_labels(batch: DecodedBatch) -> dict[str, str]:
    """The stream labels a query shows for the batch's rows, except the per-entry `level` column."""
    s = batch.stream
    columns = {"service": s.service, "namespace": s.namespace, "pod": s.pod, "container": s.container,
               "stream": s.stream}  # fmt: skip
    return {k: v for k, v in (*columns.items(), *s.labels) if v}


def apply(batch: DecodedBatch, d: IngestDefaults) -> DecodedBatch:
    """The batch with `service_name` among its stream labels and `detected_level` in each entry's metadata.

    The `level` column counts as the stream label `level`, as queries show it.
    """
    labels = stream_labels(batch)
    name = service_name(labels, d.discover_service_name)
    stream = batch.stream
    if name is not None:
        labels[SERVICE_NAME] = name
        stream = replace(stream, labels=tuple(sorted((*stream.labels, (SERVICE_NAME, name)))))
    if not d.discover_log_levels:
        return batch if name is None else replace(batch, stream=stream)
    with_level: dict[str, dict[str, str]] = {"": labels}
    out: list[dict[str, str]] = []
    metadata = batch.metadata or [{}] * len(batch)
    for level, md, line in zip(batch.level, metadata, batch.line, strict=True):
        entry_labels = with_level.get(level)
        if entry_labels is None:
            entry_labels = with_level[level] = {**labels, "level": level}
        found = detected_level(entry_labels, md, line, d)
        out.append(md if found is None else {**md, DETECTED_LEVEL: found})
    return replace(batch, stream=stream, metadata=out)
