"""Store configuration: when the hot table is compacted into Parquet segments, and how."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    compact_rows: int = Field(250_000, ge=1)
    """Compact once the hot table holds this many rows (~40 MB of lines). DuckDB's table stores lines ~6x larger
    than a segment and its file never shrinks below its peak, and every query scans the hot rows: keep it small."""
    segment_min_rows: int = Field(50_000, ge=1)
    """A service with fewer rows in one compaction shares a segment with the tenant's other small services."""
    segment_max_rows: int = Field(1_000_000, ge=1)
    """Larger groups are split by time, so a segment stays a unit worth skipping."""
    zstd_level: int = Field(9, ge=1, le=22)
    row_group_rows: int = Field(32_768, ge=1024)
    """Parquet row groups: the unit DuckDB skips by ts/service statistics, decompresses whole, scans in parallel.
    Smaller than DuckDB's default so a trace lookup or one service of a shared segment decompresses less (+~10%)."""
    gram_k: int = Field(8, ge=3, le=8)
    """Bytes per gram of the substring filter; longer grams stay selective on numbers and hex."""
    gram_window: int = Field(4, ge=1, le=64)
    """Winnowing window: the filter keeps ~2/(window+1) of the grams; needles need gram_k + gram_window - 1 bytes."""
