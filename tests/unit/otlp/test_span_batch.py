"""The span batch as a Kafka record: columnar JSON, resources written once, every value checked on decode."""

from __future__ import annotations

import orjson
import pydantic
import pytest

from observ.otlp.decode import decode_traces
from observ.traces.model import SCHEMA_VERSION, SpanColumns, record_headers
from tests.unit.otlp.sdk import make_spans


def _columns() -> SpanColumns:
    _, req = make_spans()
    spans = decode_traces(req.SerializeToString(), "application/x-protobuf", "team-a").spans
    return SpanColumns.from_spans(spans)


def test_encode_decode_gives_the_same_spans_and_one_resource() -> None:
    cols = _columns()
    payload = cols.encode()
    doc = orjson.loads(payload)
    assert doc["v"] == 1 and doc["tenant"] == "team-a"
    assert len(doc["resources"]) == 1 and doc["resource"] == [0, 0], "both spans share their resource"
    back = SpanColumns.decode(payload)
    assert back.spans() == cols.spans()
    assert len(back) == 2
    assert record_headers("team-a") == [("tenant", b"team-a"), ("schema", SCHEMA_VERSION)]


def _tampered(**changes: object) -> bytes:
    doc = orjson.loads(_columns().encode())
    doc.update(changes)
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"v": 2}, "v\n  Input should be 1"),
        ({"tenant": ""}, "tenant\n  String should have at least 1 character"),
        ({"trace_id": ["ABCDEF" * 5 + "AB", "0" * 32]}, "trace_id.0\n  String should match pattern"),
        ({"span_id": ["abc", "0" * 16]}, "span_id.0\n  String should match pattern"),
        ({"parent_span_id": ["", "1234"]}, "parent_span_id.1\n  String should match pattern"),
        ({"name": ["only one"]}, "column 'name' has 1 values, expected 2"),
        ({"resource": [0, 3]}, "span 1: resource index 3 out of 1"),
        ({"end_ns": [0, 0]}, "span 0: end_ns 0 before start_ns"),
        ({"start_ns": [-1, 0]}, "start_ns.0\n  Input should be greater than or equal to 0"),
        ({"kind": ["server", 1]}, "kind.0\n  Input should be a valid integer"),
        ({"events": [[{"name": "e", "time_ns": 1}], []]}, "events.0.0.attributes\n  Field required"),
        ({"extra": 1}, "extra\n  Extra inputs are not permitted"),
        ({"start_ns": [1.0, 0]}, "start_ns.0\n  Input should be a valid integer"),
        (
            {"events": [[{"name": "e", "time_ns": True, "attributes": {}, "dropped_attributes_count": 0}], []]},
            "events.0.0.time_ns\n  Input should be a valid integer",
        ),
    ],
)
def test_decode_names_what_is_wrong(changes: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as e:
        SpanColumns.decode(_tampered(**changes))
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


def test_a_batch_holds_one_tenant() -> None:
    spans = _columns().spans()
    spans[1].tenant = "other"
    with pytest.raises(ValueError, match="a span batch holds one tenant: 'team-a' and 'other'"):
        SpanColumns.from_spans(spans)
    with pytest.raises(ValueError, match="at least one span"):
        SpanColumns.from_spans([])
