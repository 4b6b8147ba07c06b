"""Service definitions (`alerts/services.yaml`): the one input SLO rules, alerts, tests and dashboards come from.

Pydantic models are the boundary: `extra="forbid"` so a typo is an error, not a silently ignored key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WINDOW_PLACEHOLDER = "{{window}}"
"""Events and log queries carry this where the rate window goes: `rate(x[{{window}}])`."""
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
PERIODS = {"7d": 7, "28d": 28, "30d": 30}
"""Rolling SLO periods, in days. A calendar month is `calendar: month` on top of 30d rules."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventsSLI(_Model):
    """Ratio of bad events to all events, each a PromQL query with the `{{window}}` placeholder."""

    kind: Literal["events"] = "events"
    error_query: str
    total_query: str

    @field_validator("error_query", "total_query")
    @classmethod
    def _has_window(cls, q: str) -> str:
        if WINDOW_PLACEHOLDER not in q:
            raise ValueError(f"query must contain the {WINDOW_PLACEHOLDER} placeholder: {q!r}")
        return q


class LatencySLI(_Model):
    """Good events are requests at or under `threshold` seconds, read from a histogram's buckets.

    `threshold` must equal one of `buckets` (the `le` values the histogram really has): a threshold
    between buckets cannot be computed exactly from a histogram and is refused.
    """

    kind: Literal["latency"] = "latency"
    metric: str = Field(description="Histogram base name, e.g. http_request_duration_seconds.")
    threshold: float = Field(gt=0, description="Seconds; must be one of `buckets`.")
    buckets: list[float] = Field(min_length=1, description="The histogram's `le` bucket bounds.")
    selector: str = Field("", description='Label matchers without braces, e.g. job="api", code!~"5..".')

    @model_validator(mode="after")
    def _threshold_is_bucket(self) -> LatencySLI:
        if not any(abs(b - self.threshold) < 1e-12 for b in self.buckets):
            raise ValueError(
                f"threshold {self.threshold:g}s is not a bucket of {self.metric} "
                f"(buckets: {', '.join(f'{b:g}' for b in self.buckets)})"
            )
        return self


class AvailabilitySLI(_Model):
    """A boolean gauge (1 = up): the error ratio is the share of samples at 0."""

    kind: Literal["availability"] = "availability"
    metric: str
    selector: str = ""


class LogSLI(_Model):
    """Log-based: error and total lines from observ's own `observ_ingested_lines_total` counters.

    The default selectors count lines of level error/fatal as errors; both are PromQL label matchers
    (without braces) added to `observ_ingested_lines_total{service="<service>", ...}`.
    """

    kind: Literal["logs"] = "logs"
    error_selector: str = 'level=~"error|fatal|critical"'
    total_selector: str = ""
    metric: str = "observ_ingested_lines_total"


SLI = Annotated[EventsSLI | LatencySLI | AvailabilitySLI | LogSLI, Field(discriminator="kind")]


class Alerting(_Model):
    name: str = Field("", description="Alert name prefix; default <Service><Slo> in CamelCase.")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    page: bool = Field(True, description="Generate the page burn-rate alert (false: Sloth's page_alert.disable).")
    ticket: bool = Field(True, description="Generate the ticket burn-rate alert (false: ticket_alert.disable).")
    page_labels: dict[str, str] = Field(default_factory=lambda: {"severity": "page"})
    ticket_labels: dict[str, str] = Field(default_factory=lambda: {"severity": "ticket"})
    runbook_url: str = ""
    dashboard_url: str = ""
    absent_for: str = Field("10m", description="How long the SLI's series may be absent before alerting.")

    @property
    def severities(self) -> tuple[str, ...]:
        """The burn-rate alerts generated; the absent-data alert comes with any of them."""
        return tuple(s for s, on in (("page", self.page), ("ticket", self.ticket)) if on)


class SLO(_Model):
    name: str
    description: str = ""
    objective: float = Field(description="Percent of good events, 0 < objective < 100 (e.g. 99.9).")
    window: Literal["7d", "28d", "30d"] = "30d"
    calendar: Literal["", "month"] = ""
    sli: SLI
    group_by: list[str] = Field(default_factory=list, description="One SLO per value of these labels.")
    labels: dict[str, str] = Field(default_factory=dict)
    alerting: Alerting = Field(default_factory=Alerting)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"name {v!r} must match {_NAME.pattern}")
        return v

    @field_validator("objective")
    @classmethod
    def _objective(cls, v: float) -> float:
        if not 0 < v < 100:
            raise ValueError(f"objective must be strictly between 0 and 100 percent, got {v:g}")
        return v

    @field_validator("group_by")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _LABEL.match(name):
                raise ValueError(f"group_by label {name!r} is not a valid Prometheus label name")
        return v

    @property
    def budget(self) -> float:
        """Error budget as a ratio: 99.9 → 0.001."""
        return round(1 - self.objective / 100, 12)

    @property
    def period_days(self) -> int:
        return PERIODS[self.window]


class Service(_Model):
    name: str
    owner: str = ""
    team: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    slos: list[SLO] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"service name {v!r} must match {_NAME.pattern}")
        return v

    @model_validator(mode="after")
    def _unique_slos(self) -> Service:
        seen: set[str] = set()
        for slo in self.slos:
            if slo.name in seen:
                raise ValueError(f"duplicate SLO name {slo.name!r} in service {self.name!r}")
            seen.add(slo.name)
        return self


class ServiceDefinitions(_Model):
    """The whole `alerts/services.yaml`."""

    version: Literal[1] = 1
    services: list[Service] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_services(self) -> ServiceDefinitions:
        seen: set[str] = set()
        for s in self.services:
            if s.name in seen:
                raise ValueError(f"duplicate service name {s.name!r}")
            seen.add(s.name)
        return self
