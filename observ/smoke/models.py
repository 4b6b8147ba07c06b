"""The parts of the target's answers a smoke run reads; anything else in them is ignored, so a newer server
with more fields still passes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Ready(BaseModel):
    status: str


class LokiStream(BaseModel):
    stream: dict[str, str]
    values: list[tuple[str, str] | tuple[str, str, dict[str, Any]]]


class LokiData(BaseModel):
    result_type: str = Field(alias="resultType")
    result: list[LokiStream]


class LokiAnswer(BaseModel):
    status: str
    data: LokiData

    def lines(self) -> list[str]:
        return [v[1] for s in self.data.result for v in s.values]


class PartialSuccess(BaseModel):
    rejected_spans: int = Field(0, alias="rejectedSpans")
    error_message: str = Field("", alias="errorMessage")


class OtlpAnswer(BaseModel):
    partial_success: PartialSuccess | None = Field(None, alias="partialSuccess")


class TempoSpan(BaseModel):
    span_id: str = Field(alias="spanId")


class TempoScopeSpans(BaseModel):
    spans: list[TempoSpan] = Field(default_factory=list)


class TempoBatch(BaseModel):
    scope_spans: list[TempoScopeSpans] = Field(default_factory=list, alias="scopeSpans")


class TempoTrace(BaseModel):
    """`GET /api/traces/<id>`: tempopb.Trace as JSON."""

    batches: list[TempoBatch] = Field(default_factory=list)

    def span_ids(self) -> set[str]:
        return {s.span_id.lower() for b in self.batches for ss in b.scope_spans for s in ss.spans}


class CorrelatedLine(BaseModel):
    line: str
    trace_id: str
    match: str


class TraceCorrelation(BaseModel):
    """`GET /api/v1/correlate/traces/<id>`: only its log lines matter here."""

    trace_id: str
    logs: list[CorrelatedLine]


class ErrorBody(BaseModel):
    """A JSON error: FastAPI's and the correlation API's `{"detail": ...}`, or OTLP's google.rpc.Status."""

    detail: str | None = None
    message: str | None = None

    @property
    def text(self) -> str | None:
        return self.detail if self.detail is not None else self.message
