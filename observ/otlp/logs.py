"""ExportLogsServiceRequest -> observ log rows, mapped as Loki's OTLP endpoint maps them.

- time: `time_unix_nano`, else `observed_time_unix_nano`, else the receive time (`now_ns`);
- line: the body as text (`anyvalue.as_string`: strings as they are, maps and arrays as JSON);
- level: from `severity_number` (OTel log data model ranges), else from `severity_text`;
- trace_id / span_id: lowercase hex columns (all-zero means none);
- stream labels from resource attributes: service.name -> service (else `unknown_service`, as for
  spans), k8s.namespace.name -> namespace, k8s.pod.name -> pod, k8s.container.name -> container;
  `service_name` as Loki's OTLP endpoint derives it (`observ.ingest_defaults.otlp_service_name`);
- structured metadata (a flat str -> str dict, names normalised and maps flattened with `_` as Loki
  does): the other resource attributes, then scope attributes and `scope_name`/`scope_version`, then the
  record's attributes and `observed_timestamp`, `severity_number`, `severity_text`, `flags`,
  `dropped_attributes_count`, `event_name` when set. On a name clash the later one wins. Then Loki's
  `detected_level` (from the metadata's level fields, `severity_number`, else the body).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord

from collectors.log_adapter.transforms.parse import normalize_level
from observ import ingest_defaults
from observ.ingest_defaults import LOKI_DEFAULTS, OTLP_INDEX_ATTRIBUTES, IngestDefaults
from observ.model import DecodedBatch, Stream
from observ.otlp import ids
from observ.otlp.anyvalue import ValueLimitError, as_string, flatten
from observ.otlp.limits import OtlpLimits
from observ.otlp.rejections import Rejections
from observ.traces.model import UNKNOWN_SERVICE

STREAM_ATTRIBUTES = {
    "service.name": "service",
    "k8s.namespace.name": "namespace",
    "k8s.pod.name": "pod",
    "k8s.container.name": "container",
}
"""Resource attributes that become observ's stream label columns."""

_SEVERITY = ((4, "trace"), (8, "debug"), (12, "info"), (16, "warn"), (20, "error"), (24, "fatal"))


@dataclass(slots=True)
class OtlpLogRecord:
    stream: Stream
    ts: int
    line: str
    level: str = ""
    trace_id: str = ""
    span_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    """Structured metadata: the store's `metadata` column."""
    dropped: int = 0
    """Attributes cut at `max_attributes`: the only metadata not stored (named in `dropped_attributes_count`)."""


def level(severity_number: int, severity_text: str) -> str:
    """trace/debug/info/warn/error/fatal: SeverityNumber 1-4 TRACE ... 21-24 FATAL, else the text's level."""
    if 1 <= severity_number <= 24:
        return next(name for top, name in _SEVERITY if severity_number <= top)
    return normalize_level(severity_text)


def _attributes(kvs: Sequence[KeyValue], limits: OtlpLimits, out: dict[str, str]) -> None:
    if len(kvs) > limits.max_attributes:
        raise ValueLimitError(f"{len(kvs)} attributes, limit {limits.max_attributes}")
    for kv in kvs:
        flatten(kv.key, kv.value, limits, out)


def _stream(
    kvs: Sequence[KeyValue], tenant: str, limits: OtlpLimits, defaults: IngestDefaults
) -> tuple[Stream, dict[str, str]]:
    """The stream labels and the metadata left from the resource attributes."""
    if len(kvs) > limits.max_attributes:
        raise ValueLimitError(f"{len(kvs)} attributes, limit {limits.max_attributes}")
    labels: dict[str, str] = {}
    rest: dict[str, str] = {}
    indexed: dict[str, str] = {}
    for kv in kvs:
        if kv.key in OTLP_INDEX_ATTRIBUTES:
            indexed[kv.key] = as_string(kv.value, limits)
        column = STREAM_ATTRIBUTES.get(kv.key)
        if column is None:
            flatten(kv.key, kv.value, limits, rest)
        else:
            labels[column] = indexed[kv.key]
    labels["service"] = labels.get("service") or UNKNOWN_SERVICE
    name = ingest_defaults.otlp_service_name(indexed, defaults.discover_service_name)
    extra = ((ingest_defaults.SERVICE_NAME, name),) if name is not None else ()
    return Stream(tenant=tenant, stream="", labels=extra, **labels), rest


def _record(
    lr: PbLogRecord, stream: Stream, shared: dict[str, str], now_ns: int, limits: OtlpLimits, defaults: IngestDefaults
) -> OtlpLogRecord:
    ts = ids.nanos(lr.time_unix_nano, "timeUnixNano")
    observed = ids.nanos(lr.observed_time_unix_nano, "observedTimeUnixNano")
    metadata = dict(shared)
    kept = lr.attributes[: limits.max_attributes]
    for kv in kept:
        flatten(kv.key, kv.value, limits, metadata)
    dropped = lr.dropped_attributes_count + len(lr.attributes) - len(kept)
    if ts and observed:
        metadata["observed_timestamp"] = str(observed)
    if lr.severity_number:
        metadata["severity_number"] = str(lr.severity_number)
    if lr.severity_text:
        metadata["severity_text"] = lr.severity_text
    if dropped:
        metadata["dropped_attributes_count"] = str(dropped)
    if lr.flags:
        metadata["flags"] = str(lr.flags)
    if lr.event_name:
        metadata["event_name"] = lr.event_name
    line = as_string(lr.body, limits)
    found = ingest_defaults.detected_level({}, metadata, line, defaults)  # Loki's OTLP streams carry no level label
    if found is not None:
        metadata[ingest_defaults.DETECTED_LEVEL] = found
    return OtlpLogRecord(
        stream=stream,
        ts=ts or observed or now_ns,
        line=line,
        level=level(lr.severity_number, lr.severity_text),
        trace_id=ids.trace_id(lr.trace_id, "traceId", optional=True),
        span_id=ids.span_id(lr.span_id, "spanId", optional=True),
        metadata=metadata,
        dropped=len(lr.attributes) - len(kept),
    )


def logs_from_request(
    req: ExportLogsServiceRequest,
    tenant: str,
    now_ns: int,
    limits: OtlpLimits,
    rejections: Rejections,
    defaults: IngestDefaults = LOKI_DEFAULTS,
) -> list[OtlpLogRecord]:
    """The records worth keeping; each one that is not is counted in `rejections` with its reason."""
    out: list[OtlpLogRecord] = []
    skip = rejections.placeholders
    for i, rl in enumerate(req.resource_logs):
        where = f"resourceLogs[{i}]"
        if where in skip:
            continue
        try:
            stream, resource_rest = _stream(rl.resource.attributes, tenant, limits, defaults)
        except ValueLimitError as e:
            below = sum(rejections.live(f"{where}.scopeLogs[{j}]", "logRecords", len(sl.log_records))
                        for j, sl in enumerate(rl.scope_logs))  # fmt: skip
            rejections.add(f"{where}.resource", str(e), below)
            continue
        for j, sl in enumerate(rl.scope_logs):
            swhere = f"{where}.scopeLogs[{j}]"
            if swhere in skip:
                continue
            shared = dict(resource_rest)
            try:
                _attributes(sl.scope.attributes, limits, shared)
            except ValueLimitError as e:
                rejections.add(f"{swhere}.scope", str(e), rejections.live(swhere, "logRecords", len(sl.log_records)))
                continue
            scope = {"scope_name": sl.scope.name, "scope_version": sl.scope.version}
            shared.update((k, v) for k, v in scope.items() if v)
            if sl.scope.dropped_attributes_count:
                shared["scope_dropped_attributes_count"] = str(sl.scope.dropped_attributes_count)
            for k, lr in enumerate(sl.log_records):
                at = f"{swhere}.logRecords[{k}]"
                if at in skip:
                    continue
                try:
                    out.append(_record(lr, stream, shared, now_ns, limits, defaults))
                except (ids.RecordError, ValueLimitError) as e:
                    rejections.add(at, str(e))
    return out


def to_batches(records: Sequence[OtlpLogRecord], observed_ts: int) -> list[DecodedBatch]:
    """Store batches, one per stream, entries in time order (as a Loki push becomes batches)."""
    groups: dict[Stream, list[OtlpLogRecord]] = {}
    for r in records:
        groups.setdefault(r.stream, []).append(r)
    out = []
    for stream, rs in groups.items():
        rs.sort(key=lambda r: r.ts)
        n = len(rs)
        out.append(
            DecodedBatch(
                stream=stream,
                source="",
                observed_ts=observed_ts,
                ts=[r.ts for r in rs],
                level=[r.level for r in rs],
                trace_id=[r.trace_id for r in rs],
                span_id=[r.span_id for r in rs],
                end=[0] * n,
                line=[r.line for r in rs],
                metadata=[r.metadata for r in rs] if any(r.metadata for r in rs) else None,
            )
        )
    return out
