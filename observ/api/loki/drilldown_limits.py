"""`GET /loki/api/v1/drilldown-limits`: the limits Grafana's Logs Drilldown reads when it starts.

Loki answers with the tenant's limits filtered by `tenant_limits_allow_publish` (pkg/loki/config_handler.go
`tenantLimitsHandler(true)`, pkg/loki/drilldown_config.go, the allowlist's default in pkg/loki/loki.go), whether
its pattern ingester runs, and its version. Drilldown caps its line limit at `max_entries_limit_per_query`, hides
time ranges past `retention_period` and shows the Patterns tab unless `pattern_ingester_enabled` is false
(grafana/logs-drilldown `src/services/datasourceTypes.ts` `LokiConfig`). Here every value is observ's own setting
or behaviour, spelled as Loki's JSON spells the limit: durations as Prometheus' `model.Duration` (`30d1h`),
byte sizes as `datasize.ByteSize` (`0B`), keys sorted (a Go map).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import orjson
from pydantic import BaseModel, ConfigDict

from observ.api.config import ApiConfig
from observ.api.loki.volume import MAX_SERIES
from observ.gocompat.durations import format_duration
from observ.ingest_defaults import OTLP_INDEX_ATTRIBUTES

NS = 10**9


class AttributesConfig(BaseModel):
    """otlplabels.AttributesConfig as JSON: `regex` is relabel.Regexp's text, "" when none is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str
    attributes: list[str]
    regex: str = ""


class ResourceAttributes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attributes_config: list[AttributesConfig]


class OtlpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    resource_attributes: ResourceAttributes


class PublishedLimits(BaseModel):
    """The fields of Loki's default `tenant_limits_allow_publish`, in the order Go writes a map's keys.

    `retention_stream` is on that list too but `omitempty`: observ has no per-stream retention, so it is absent.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    discover_log_levels: bool
    discover_service_name: list[str]
    log_level_fields: list[str]
    max_entries_limit_per_query: int
    max_line_size_truncate: bool
    max_query_bytes_read: str
    max_query_length: str
    max_query_lookback: str
    max_query_range: str
    max_query_series: int
    metric_aggregation_enabled: bool
    otlp_config: OtlpConfig
    pattern_persistence_enabled: bool
    query_timeout: str
    retention_period: str
    volume_enabled: bool
    volume_max_series: int


class DrilldownLimits(BaseModel):
    """Loki's `DrilldownConfigResponse`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: PublishedLimits
    pattern_ingester_enabled: bool
    version: str


def observ_version() -> str:
    """The installed package's version; `unknown` as Loki says when its build has none."""
    try:
        return version("observ")
    except PackageNotFoundError:
        return "unknown"


def drilldown_limits(config: ApiConfig, build_version: str) -> DrilldownLimits:
    """observ's settings as Loki's limits: one set for every tenant (observ has no per-tenant overrides).

    What observ does not have reads as Loki's "off" value: no bytes-read cap (`0B`), no lookback limit and no
    retention (`0s`: everything stored stays queryable), lines longer than `max_line_bytes` refused rather than
    truncated, no metric aggregation or pattern persistence streams. Patterns are mined when asked, so the
    Patterns tab is always served; the volume endpoints are always on with their fixed 1000-series cap.
    """
    lim, push = config.limits, config.push
    otlp = OtlpConfig(
        resource_attributes=ResourceAttributes(
            attributes_config=[AttributesConfig(action="index_label", attributes=list(OTLP_INDEX_ATTRIBUTES))]
        )
    )
    return DrilldownLimits(
        limits=PublishedLimits(
            discover_log_levels=push.discover_log_levels,
            discover_service_name=push.discover_service_name,
            log_level_fields=push.log_level_fields,
            max_entries_limit_per_query=lim.max_entries,
            max_line_size_truncate=False,
            max_query_bytes_read="0B",
            max_query_length=format_duration(lim.max_query_length_ns),
            max_query_lookback="0s",
            max_query_range=format_duration(lim.max_query_range_ns),
            max_query_series=lim.max_series,
            metric_aggregation_enabled=False,
            otlp_config=otlp,
            pattern_persistence_enabled=False,
            query_timeout=format_duration(round(lim.query_timeout_s * NS)),
            retention_period="0s",
            volume_enabled=True,
            volume_max_series=MAX_SERIES,
        ),
        pattern_ingester_enabled=True,
        version=build_version,
    )


def encode(limits: DrilldownLimits) -> bytes:
    """As Go's json.Encoder writes it: compact, newline-terminated."""
    return orjson.dumps(limits.model_dump()) + b"\n"


def response_body(config: ApiConfig) -> bytes:
    """The answer for `config`, computed once: the settings do not change while the service runs."""
    return encode(drilldown_limits(config, observ_version()))
