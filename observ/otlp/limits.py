"""Limits on what one OTLP span or log record may carry once the body has been decoded.

The body itself is bounded before decoding (OTLP recommends 20 MiB, HTTP 413 above); these bound what
a record costs the store and how deep the decoder recurses. Counted limits drop the excess into the
record's own `dropped_*_count` fields, as OTel SDKs do; a value past the nesting or item limits
cannot be kept faithfully, so its span or log record is rejected and counted in `partial_success`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OtlpLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attributes: int = Field(1024, ge=1)
    """Attributes kept per span, event, link, resource or log record; the rest are dropped and counted."""
    max_events: int = Field(1024, ge=0)
    """Events kept per span; the rest are dropped and added to dropped_events_count."""
    max_links: int = Field(1024, ge=0)
    """Links kept per span; the rest are dropped and added to dropped_links_count."""
    max_value_depth: int = Field(16, ge=1, le=32)
    """Arrays and maps nested inside one attribute value or log body. Deeper: the record is rejected.
    Binary protobuf stops at 100 nested messages anyway (about 47 value levels): the whole body is refused."""
    max_value_items: int = Field(10_000, ge=1)
    """Items in one array or map value. More: the record is rejected."""
