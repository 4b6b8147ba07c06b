"""Settings of the sidecar's OTLP ambassador (`otlp:` in the adapter's YAML; unknown keys refused)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from observ.otlp.limits import OtlpLimits

MiB = 1024 * 1024


class OtlpSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    """Off unless asked for (`--otlp`): a sidecar that only tails files must not take ports 4317/4318, which
    `observ up` (gRPC) or a local OpenTelemetry Collector may hold on the same laptop."""
    host: str = "127.0.0.1"
    """The app sends to localhost (same pod); 0.0.0.0 would take spans from anyone who can reach the pod."""
    http_port: int = Field(4318, ge=0, le=65535)
    """OTLP/HTTP (`POST /v1/traces`, `/v1/logs`); 0 = no HTTP receiver."""
    grpc_port: int = Field(4317, ge=0, le=65535)
    """OTLP/gRPC (TraceService and LogsService `Export`); 0 = no gRPC receiver."""
    spans_topic: str = "observ.spans"
    """Kafka topic of span batches (log records go to `kafka.topic`, beside the tailed files' batches)."""
    max_body_bytes: int = Field(20 * MiB, ge=1024)
    """Largest request once decompressed (the Collector's default): HTTP 413, gRPC RESOURCE_EXHAUSTED above."""
    max_inflight_bytes: int = Field(16 * MiB, ge=64 * 1024)
    """Encoded records handed to Kafka and not acknowledged yet; a request that would pass it is answered
    503 at once. With `max_body_bytes` x `workers` this bounds the ambassador's memory."""
    ack_timeout_ms: int = Field(5000, ge=10)
    """How long a request waits for Kafka's acknowledgement before it is answered 503 (its records stay
    queued and may still arrive: the client's retry is then a duplicate, which the stores drop). Below the
    OTel exporters' 10 s timeout, so they have time to retry."""
    retry_after_s: int = Field(2, ge=1)
    """Retry-After (HTTP 503) and RetryInfo (gRPC UNAVAILABLE)."""
    workers: int = Field(4, ge=1, le=64)
    """Requests decoded at once, per transport; more wait (HTTP up to `ack_timeout_ms`, then 503)."""
    limits: OtlpLimits = OtlpLimits()
