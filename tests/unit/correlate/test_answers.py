"""The answers' OpenAPI examples are valid answers (they cannot drift from the models), and times are strings."""

from __future__ import annotations

import orjson
import pytest
from pydantic import BaseModel

from observ.correlate.models import SERVICE_EXAMPLE, TRACE_EXAMPLE, LogLine, ServiceCorrelation, TraceCorrelation


@pytest.mark.parametrize(
    ("model", "example"), [(TraceCorrelation, TRACE_EXAMPLE), (ServiceCorrelation, SERVICE_EXAMPLE)]
)
def test_examples_round_trip(model: type[BaseModel], example: dict[str, object]) -> None:
    assert orjson.loads(model.model_validate(example).model_dump_json()) == example
    assert model.model_json_schema(mode="serialization")["examples"] == [example]


def test_nanoseconds_are_exact_strings_in_json() -> None:
    line = LogLine(ts=2**63 - 1, service="s", level="", labels={}, trace_id="", span_id="", line="x", match="time")
    assert orjson.loads(line.model_dump_json())["ts"] == "9223372036854775807"
    assert line.model_dump()["ts"] == 2**63 - 1
    assert LogLine.model_json_schema(mode="serialization")["properties"]["ts"]["type"] == "string"
