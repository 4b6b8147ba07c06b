"""Settings of the Prometheus client; the defaults suit one Prometheus on the same laptop."""

from __future__ import annotations

import re

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from observ.correlate.breaker import BreakerConfig

MIB = 1024 * 1024
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class RetryConfig(BaseModel):
    """Attempts per call; waits between them are drawn from [0, min(backoff_max_s, backoff_initial_s * 2^n)]
    ("full jitter"), so clients that failed together do not retry together."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(3, ge=1, le=10, description="Tries per call, the first included; 1 turns retries off.")
    backoff_initial_s: float = Field(0.1, gt=0, description="Cap of the first wait.")
    backoff_max_s: float = Field(1.0, gt=0, description="Cap of every wait.")

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryConfig:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(f"backoff_max_s ({self.backoff_max_s}) is below backoff_initial_s")
        return self


class PrometheusConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field("http://127.0.0.1:9090", description="Prometheus' base URL (a path prefix is kept).")
    connect_timeout_s: float = Field(1.0, gt=0, description="Time to open a connection.")
    read_timeout_s: float = Field(
        5.0, gt=0, description="Time to wait for the answer; also sent as the query's `timeout` parameter."
    )
    deadline_s: float = Field(10.0, gt=0, description="Time one call may take in all, retries and waits included.")
    max_response_bytes: int = Field(32 * MIB, ge=1024, description="Larger answers are refused, not buffered.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Sent with every request, e.g. Authorization or X-Scope-OrgID (Mimir)."
    )
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        try:
            url = httpx.URL(v)
        except httpx.InvalidURL as e:
            raise ValueError(f"not a URL: {e}") from e
        if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
            raise ValueError(f"expected http(s)://host[:port][/prefix], got {v!r}")
        return v.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _sendable_headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"header name {name!r} is not an HTTP token")
            if any(c in value for c in "\r\n\0"):
                raise ValueError(f"header {name} has a line break or NUL in its value")
        return v
