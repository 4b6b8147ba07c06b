"""Settings of the query service (`observ serve`, and the API inside `observ up`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from observ.bus import BusConfig
from observ.correlate.config import CorrelateConfig
from observ.correlate.prometheus.config import PrometheusConfig
from observ.ingest_defaults import IngestDefaults
from observ.logql.limits import QueryLimits
from observ.otlp.limits import OtlpLimits
from observ.store.config import StoreSettings

KIB = 1024
MIB = 1024 * KIB


class AuthConfig(BaseModel):
    """Tenancy: `X-Scope-OrgID` picks the tenant; bearer tokens, when any are configured, gate every API call."""

    model_config = ConfigDict(extra="forbid")

    tokens: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Bearer token -> tenants it may read and write; the first is used when no X-Scope-OrgID is sent.",
    )
    require_tenant: bool = Field(
        False, description="Loki's auth_enabled: refuse requests without X-Scope-OrgID (401 'no org id')."
    )
    default_tenant: str = Field("default", min_length=1, description="Tenant of requests without X-Scope-OrgID.")

    @field_validator("tokens")
    @classmethod
    def _tenants_given(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for token, tenants in v.items():
            if not token or not tenants:
                raise ValueError("every token needs a non-empty value and at least one tenant")
        return v

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)


class PushConfig(IngestDefaults):
    """Loki's ingestion limits (its defaults, except the line size: the sidecar's 256 KiB), with its ingest defaults
    (`discover_service_name`, `discover_log_levels`, ...) flat beside them as in Loki's `limits_config`."""

    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(64 * MIB, ge=1, description="Largest push body after decompression (413 above).")
    max_line_bytes: int = Field(256 * KIB, ge=1, description="max_line_size: longer entries are refused.")
    max_label_names_per_series: int = Field(15, ge=1)
    max_label_name_length: int = Field(1024, ge=1)
    max_label_value_length: int = Field(2048, ge=1)
    creation_grace_period_s: float = Field(
        600, ge=0, description="creation_grace_period: entries newer than now + this are refused (too_far_in_future)."
    )
    reject_old_samples: bool = Field(
        False, description="Refuse entries older than now - reject_old_samples_max_age_s (Loki's default is on)."
    )
    reject_old_samples_max_age_s: float = Field(7 * 86400, gt=0, description="reject_old_samples_max_age: 1 week.")


class LiveTailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    poll_interval_s: float = Field(1.0, gt=0, description="How often a tail connection asks the store for new lines.")


OTLP_GRPC_PORT = 4317
"""OTLP/gRPC's default port (the spec's)."""


class OtlpConfig(BaseModel):
    """The OTLP receivers: `POST /v1/logs` on the API's port, and OTLP/gRPC on a port of its own."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Serve /v1/logs, /v1/traces and the gRPC LogsService and TraceService.")
    max_body_bytes: int = Field(
        64 * MIB, ge=1, description="Largest request after decompression (OTLP's recommended 64 MiB): HTTP 413, "
        "gRPC RESOURCE_EXHAUSTED above."
    )  # fmt: skip
    grpc_host: str | None = Field(None, description="gRPC listen address; none: the service's `host`.")
    grpc_port: int | None = Field(
        None, ge=0, le=65535,
        description=f"None: {OTLP_GRPC_PORT} when it is free, else gRPC stays off with a warning; "
        "0: no gRPC receiver; a port: that one, or the service refuses to start.",
    )  # fmt: skip
    grpc_workers: int = Field(4, ge=1, le=64, description="Threads answering gRPC Export calls.")
    decoder_processes: int = Field(
        2, ge=0, le=64, description="Processes decoding OTLP trace bodies, so concurrent exports use every core "
        "while the service only commits; 0: decode on the request's thread."
    )  # fmt: skip
    retry_after_s: int = Field(
        10, ge=1, description="Retry-After (HTTP 503) / RetryInfo (gRPC UNAVAILABLE) while the store cannot write."
    )
    limits: OtlpLimits = OtlpLimits()


class PatternsConfig(BaseModel):
    """How much a `/patterns` query mines."""

    model_config = ConfigDict(extra="forbid")

    max_lines: int = Field(
        50_000, ge=1, description="Newest lines of the query mined at most (about 2 s of mining at 30k lines/s)."
    )


class ApiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auth: AuthConfig = AuthConfig()
    limits: QueryLimits = QueryLimits()
    push: PushConfig = PushConfig()
    tail: LiveTailConfig = LiveTailConfig()
    otlp: OtlpConfig = OtlpConfig()
    patterns: PatternsConfig = PatternsConfig()
    prometheus: PrometheusConfig | None = Field(
        None, description="The Prometheus correlation reads metrics and exemplars from; none: correlation answers "
        "from logs and spans only and says metrics are missing."
    )  # fmt: skip
    correlate: CorrelateConfig = CorrelateConfig()
    max_label_values: int = Field(
        10_000, ge=1, description="Label names or values one answer lists at most (sorted; the rest are cut off)."
    )

    def correlate_within_limits(self) -> CorrelateConfig:
        """Correlation reads lines through the engine, which refuses a larger `limit` than `max_entries`: its line
        limits are held to it rather than refusing a settings file that lowers `max_entries` alone."""
        lim = self.correlate.limits
        held = {
            n: min(getattr(lim, n), self.limits.max_entries)
            for n in ("max_lines", "max_time_lines", "error_lines_scanned")
        }
        return self.correlate.model_copy(update={"limits": lim.model_copy(update=held)})


class KafkaIngestConfig(BaseModel):
    """Run the Kafka ingester inside the server: DuckDB allows one writing process per database file."""

    model_config = ConfigDict(extra="forbid")

    bus: BusConfig = BusConfig()
    topic: str = "observ.logs"
    spans_topic: str | None = "observ.spans"
    group_id: str = "observ-ingester"


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(3100, ge=0, le=65535)
    data: Path = Path("./observ-data")
    api: ApiConfig = ApiConfig()
    kafka: KafkaIngestConfig | None = None
    store: StoreSettings = StoreSettings()
    log_level: Literal["debug", "info", "warning", "error"] = "warning"

    def with_prometheus(self, url: str) -> ServeConfig:
        """This config reading metrics from the Prometheus at `url` (its other settings kept); ValueError
        when `url` is not an http(s) URL. For `--prometheus-url` flags, and `observ up` running its own."""
        kept = self.api.prometheus.model_dump() if self.api.prometheus else {}
        try:
            prometheus = PrometheusConfig.model_validate({**kept, "url": url})
        except ValidationError as e:
            raise ValueError(e.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")) from None
        return self.model_copy(update={"api": self.api.model_copy(update={"prometheus": prometheus})})

    @property
    def db_path(self) -> Path:
        return self.data / "observ.duckdb"

    @classmethod
    def from_yaml(cls, path: Path) -> ServeConfig:
        return cls.model_validate(yaml.safe_load(path.read_text()) or {})
