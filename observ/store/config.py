"""Store configuration: when the hot table is compacted into Parquet segments and how, how long rows are kept
(retention per tenant) and when small segments are merged."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from observ.gocompat.durations import parse_duration_ns

__all__ = ["SPANS_CONFIG", "StoreConfig", "StoreSettings"]

NS = 1_000_000_000


def duration_seconds(value: object) -> object:
    """Loki's spelling of a period (`744h`, `30d`, `1w`, `0`) or plain seconds; anything else is left to pydantic."""
    if isinstance(value, str):
        try:
            ns = parse_duration_ns(value)
        except ValueError:
            raise ValueError(f"not a duration: {value!r} (write e.g. 744h, 30d, 1w, or 0 for forever)") from None
        return ns / NS
    return value


class RetentionConfig(BaseModel):
    """Loki's `limits_config.retention_period` with per-tenant overrides: whole segments whose newest row is older
    than now - period are deleted, and hot rows older than that; 0 keeps rows forever. Periods are seconds or
    Loki's durations (`744h`, `30d`, `1w`)."""

    model_config = ConfigDict(extra="forbid")

    period: float = Field(0, ge=0, description="Seconds (or a duration) every tenant keeps its rows; 0: forever.")
    tenants: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="Tenant -> its own period, overriding `period` (0: kept forever)."
    )

    @field_validator("period", mode="before")
    @classmethod
    def _period(cls, v: object) -> object:
        return duration_seconds(v)

    @field_validator("tenants", mode="before")
    @classmethod
    def _tenant_periods(cls, v: object) -> object:
        return {k: duration_seconds(p) for k, p in v.items()} if isinstance(v, dict) else v

    def cutoff(self, tenant: str, now_ns: int) -> int | None:
        """Rows of `tenant` with ts below this are out of retention; None: kept forever."""
        period = round(self.tenants.get(tenant, self.period) * NS)
        return now_ns - period if period else None


class MergeConfig(BaseModel):
    """Merging a tenant's small segments: every query binds each file in range, so many small ones cost planning."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    small_bytes: int = Field(
        8 * 1024 * 1024, ge=0, description="Segments smaller than this are merged (0: never merge)."
    )
    target_bytes: int = Field(64 * 1024 * 1024, ge=1, description="A merged segment stays below this size.")
    max_merges_per_run: int = Field(
        4, ge=1, description="Merged segments written per run at most: bounded work each maintenance round."
    )


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    compact_rows: int = Field(250_000, ge=1)
    """Compact once the hot table holds this many rows (~40 MB of lines). DuckDB's table stores lines ~6x larger
    than a segment and its file never shrinks below its peak, and every query scans the hot rows: keep it small."""
    segment_min_rows: int = Field(50_000, ge=1)
    """A service with fewer rows in one compaction shares a segment with the tenant's other small services."""
    segment_max_rows: int = Field(1_000_000, ge=1)
    """Larger groups are split by time, so a segment stays a unit worth skipping; merges stay below it too."""
    zstd_level: int = Field(9, ge=1, le=22)
    row_group_rows: int = Field(32_768, ge=1024)
    """Parquet row groups: the unit DuckDB skips by ts/service statistics, decompresses whole, scans in parallel.
    Smaller than DuckDB's default so a trace lookup or one service of a shared segment decompresses less (+~10%)."""
    gram_k: int = Field(8, ge=3, le=8)
    """Bytes per gram of the substring filter; longer grams stay selective on numbers and hex."""
    gram_window: int = Field(4, ge=1, le=64)
    """Winnowing window: the filter keeps ~2/(window+1) of the grams; needles need gram_k + gram_window - 1 bytes."""
    retention: RetentionConfig = RetentionConfig()
    merge: MergeConfig = MergeConfig()


SPANS_CONFIG = StoreConfig(zstd_level=3)
"""The spans store's defaults: zstd level 3, not the logs' 9. Spans' JSON columns and IDs compress within 3% at
level 3 and the compactions that appends wait for take a third less CPU (50,000 spans of bench/traces.py:
1.94 MB and 0.46 s at level 3, 1.90 MB and 0.70 s at level 9)."""


class StoreSettings(BaseModel):
    """The `store:` section of the services' config file: both stores of the data folder and their maintenance."""

    model_config = ConfigDict(extra="forbid")

    logs: StoreConfig = StoreConfig()
    spans: StoreConfig = Field(
        default_factory=dict,
        validate_default=True,
        description="The spans store: its own defaults (zstd level 3) under what is set here.",
    )
    maintenance_interval_s: float = Field(
        600, gt=0, description="Seconds between retention and merge rounds (or a duration: `10m`)."
    )
    delete_delay_s: float = Field(
        600, ge=0, description="Seconds an unregistered segment file is kept for queries that may still read it; "
        "above the query timeout (Loki's retention_delete_delay).",
    )  # fmt: skip

    @field_validator("spans", mode="before")
    @classmethod
    def _spans_defaults(cls, v: object) -> object:
        return {**SPANS_CONFIG.model_dump(exclude_unset=True), **v} if isinstance(v, dict) else v

    @field_validator("maintenance_interval_s", "delete_delay_s", mode="before")
    @classmethod
    def _durations(cls, v: object) -> object:
        return duration_seconds(v)
