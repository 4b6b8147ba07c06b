"""Prometheus HTTP API answers (docs/querying/api.md, web/api/v1/json_codec.go), parsed exactly.

Sample values travel as strings because JSON has no NaN or infinities: Go's strconv formatting ("1234567.8",
"1.2345678e-67", "NaN", "+Inf", "-Inf"). Timestamps are JSON numbers in float seconds. A value sent as a bare
number, or a timestamp sent as a string, is refused: it means the server is not Prometheus' API.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, Literal, NamedTuple, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from observ.correlate.prometheus.errors import BadAnswer

# Go's strconv.ParseFloat syntax for what Prometheus writes; Python's float() alone would also take "1_0" or " 1".
_GO_FLOAT = re.compile(r"[+-]?(?:Inf|NaN|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def _sample_value(v: Any) -> float:
    if not isinstance(v, str):
        raise ValueError(f'a sample value is a string such as "1.5" or "NaN", not {type(v).__name__} {v!r:.40}')
    if not _GO_FLOAT.fullmatch(v):
        raise ValueError(f"not a number: {v!r:.40}")
    return float(v)


SampleValue = Annotated[float, BeforeValidator(_sample_value)]
Timestamp = StrictFloat
"""Unix seconds with millisecond decimals, e.g. 1435781451.781."""
Labels = dict[str, str]


class _Model(BaseModel):
    # Unknown keys are ignored: Prometheus adds fields to its answers over time.
    model_config = ConfigDict(frozen=True, populate_by_name=True)


class Point(NamedTuple):
    timestamp: Timestamp
    value: SampleValue


class StringPoint(NamedTuple):
    timestamp: Timestamp
    value: str


class HistogramBucket(NamedTuple):
    """`boundaries`: 0 left-open, 1 right-open, 2 both open, 3 both closed (the zero bucket)."""

    boundaries: Annotated[int, Field(ge=0, le=3, strict=True)]
    lower: SampleValue
    upper: SampleValue
    count: SampleValue  # type: ignore[assignment]  # Prometheus's name; it shadows tuple.count(), unused here


class Histogram(_Model):
    """A native histogram sample; empty buckets are left out by Prometheus."""

    count: SampleValue
    sum: SampleValue
    buckets: list[HistogramBucket] = []


class HistogramPoint(NamedTuple):
    timestamp: Timestamp
    histogram: Histogram


class VectorSample(_Model):
    """One series at one instant: a float `value`, or a native `histogram`."""

    metric: Labels
    value: Point | None = None
    histogram: HistogramPoint | None = None

    @model_validator(mode="after")
    def _one_of_value_or_histogram(self) -> VectorSample:
        if (self.value is None) == (self.histogram is None):
            raise ValueError("a vector sample has either a value or a histogram")
        return self


class MatrixSeries(_Model):
    metric: Labels
    values: list[Point] = []
    histograms: list[HistogramPoint] = []


class VectorResult(_Model):
    result_type: Literal["vector"] = Field(alias="resultType")
    result: list[VectorSample]


class MatrixResult(_Model):
    result_type: Literal["matrix"] = Field(alias="resultType")
    result: list[MatrixSeries]


class ScalarResult(_Model):
    result_type: Literal["scalar"] = Field(alias="resultType")
    result: Point


class StringResult(_Model):
    result_type: Literal["string"] = Field(alias="resultType")
    result: StringPoint


QueryResult = Annotated[VectorResult | MatrixResult | ScalarResult | StringResult, Field(discriminator="result_type")]


class Exemplar(_Model):
    labels: Labels
    value: SampleValue
    timestamp: Timestamp

    def trace_id(self, label: str = "trace_id") -> str | None:
        """The trace this exemplar points at; Grafana's exemplarTraceIdDestinations name the same label."""
        return self.labels.get(label)


class ExemplarSeries(_Model):
    series_labels: Labels = Field(alias="seriesLabels")
    exemplars: list[Exemplar]


T = TypeVar("T")


class Answer(_Model, Generic[T]):
    """A successful answer's data, with the warnings and infos Prometheus attached to it."""

    data: T
    warnings: list[str] = []
    infos: list[str] = []


class _Envelope(_Model):
    status: Literal["success", "error"]
    data: Any = None
    error_type: str = Field("", alias="errorType")
    error: str = ""
    warnings: list[str] = []
    infos: list[str] = []


class ErrorAnswer(NamedTuple):
    """Prometheus' own words about a failed call: errorType and error."""

    error_type: str
    error: str


def error_of(body: bytes) -> ErrorAnswer | None:
    """The errorType/error of a `status: error` body; None when the body is not Prometheus' error JSON (a proxy's
    page, an empty 503 while Prometheus starts)."""
    try:
        envelope = _Envelope.model_validate_json(body)
    except ValidationError:
        return None
    if envelope.status != "error":
        return None
    return ErrorAnswer(envelope.error_type or "unknown", envelope.error)


class Decoder(Generic[T]):
    """Turns a 2xx body into Answer[T]: the envelope first, then `data` as T; anything else is BadAnswer naming
    where it went wrong. A 2xx `status: error` body is returned as its ErrorAnswer for the caller to raise."""

    def __init__(self, data_type: Any) -> None:
        self._data: TypeAdapter[T] = TypeAdapter(data_type)

    def __call__(self, body: bytes) -> Answer[T] | ErrorAnswer:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise BadAnswer(f"prometheus answered something that is not JSON ({e}): {excerpt(body)}") from e
        try:
            envelope = _Envelope.model_validate(doc)
        except ValidationError as e:
            raise BadAnswer(f"prometheus answered JSON that is not its API's envelope: {_first_error(e)}") from e
        if envelope.status == "error":
            return ErrorAnswer(envelope.error_type or "unknown", envelope.error)
        try:
            data = self._data.validate_python(envelope.data)
        except ValidationError as e:
            raise BadAnswer(f"prometheus answered data of an unexpected shape: {_first_error(e, 'data')}") from e
        return Answer(data=data, warnings=envelope.warnings, infos=envelope.infos)


def _first_error(e: ValidationError, root: str = "") -> str:
    err = e.errors(include_url=False)[0]
    where = ".".join(str(p) for p in (root, *err["loc"]) if p != "")
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"{where or 'the body'}: {err['msg']}{more}"


def excerpt(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", errors="replace").strip()
    return repr(text + ("…" if len(body) > limit else "")) if text else "an empty body"
