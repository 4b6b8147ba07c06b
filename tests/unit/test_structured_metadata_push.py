"""Structured metadata in: Loki push (JSON third element, protobuf `structuredMetadata`), its limits and hostile
bodies, and the sidecar's OTLP ambassador records through the Kafka wire format."""

from __future__ import annotations

from pathlib import Path

import cramjam
import orjson
import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from prometheus_client import CollectorRegistry

from collectors.log_adapter.sources.otlp.records import log_records
from observ.api.app import create_app
from observ.api.config import ApiConfig, PushConfig
from observ.api.loki import push
from observ.api.loki.logproto import PushRequest
from observ.model import Batch
from observ.otlp.limits import OtlpLimits
from observ.otlp.logs import logs_from_request
from observ.otlp.rejections import Rejections
from observ.store.logstore import LogStore

T0 = 1_700_000_000_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    return LogStore(tmp_path / "observ.duckdb")


def client(store: LogStore) -> TestClient:
    """Without Loki 3's service_name and detected_level (tests/unit/test_ingest_defaults.py): the pairs pushed alone."""
    config = ApiConfig(push=PushConfig(discover_service_name=[], discover_log_levels=False))
    return TestClient(create_app(store, CollectorRegistry(), lambda: True, config=config))


def stored(store: LogStore) -> list[tuple[str, str, str, str]]:
    return store.cursor().execute("SELECT line, trace_id, span_id, metadata FROM logs ORDER BY ts").fetchall()


def json_push(c: TestClient, *values: list[object]) -> tuple[int, str]:
    body = {"streams": [{"stream": {"service": "api"}, "values": list(values)}]}
    r = c.post("/loki/api/v1/push", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    return r.status_code, r.text


def proto_push(c: TestClient, entries: list[tuple[int, str, list[tuple[str, str]]]]) -> int:
    req = PushRequest()
    s = req.streams.add(labels='{service="api"}')
    for ts, line, md in entries:
        e = s.entries.add(line=line)
        e.timestamp.seconds, e.timestamp.nanos = divmod(ts, 10**9)
        for k, v in md:
            e.structuredMetadata.add(name=k, value=v)
    body = bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
    return c.post("/loki/api/v1/push", content=body, headers={"Content-Type": "application/x-protobuf"}).status_code


def test_json_push_keeps_every_pair_trace_and_span_ids_as_columns(store: LogStore) -> None:
    c = client(store)
    md = {"user_agent": "curl", "trace_id": "abc", "span_id": "def", "pod_ip": "10.0.0.1"}
    assert json_push(c, [str(T0), "hello", md], [str(T0 + 1), "plain"]) == (204, "")
    assert stored(store) == [
        ("hello", "abc", "def", '{"pod_ip":"10.0.0.1","user_agent":"curl"}'),
        ("plain", "", "", "{}"),
    ]
    assert "observ_push_dropped_metadata_total 0.0" in c.get("/metrics").text


def test_protobuf_push_keeps_structured_metadata(store: LogStore) -> None:
    c = client(store)
    assert proto_push(c, [(T0, "hello", [("user_agent", "curl"), ("trace_id", "abc")]), (T0 + 1, "plain", [])]) == 204
    assert stored(store) == [("hello", "abc", "", '{"user_agent":"curl"}'), ("plain", "", "", "{}")]


def test_ten_thousand_pairs_refuse_that_entry_with_lokis_message(store: LogStore) -> None:
    c = client(store)
    many = {f"k{i}": "v" for i in range(10_000)}
    status, text = json_push(c, [str(T0), "too many", many], [str(T0 + 1), "fine", {"a": "b"}])
    assert status == 400
    assert "stream '{service=\"api\"}' has too many structured metadata labels: '10000', limit: '128'" in text
    assert [r[0] for r in stored(store)] == ["fine"]
    assert 'observ_push_discarded_lines_total{reason="structured_metadata_too_many"} 1.0' in c.get("/metrics").text


def test_a_huge_value_refuses_that_entry_naming_its_size(store: LogStore) -> None:
    c = client(store)
    status, text = json_push(c, [str(T0), "huge", {"blob": "x" * 100_000}])
    assert status == 400
    assert "has structured metadata too large: '100004' bytes, limit: '65536' bytes" in text
    assert stored(store) == []


def test_protobuf_limits_are_the_same_as_json(store: LogStore) -> None:
    c = client(store)
    assert proto_push(c, [(T0, "x", [(f"k{i}", "v") for i in range(129)])]) == 400
    assert stored(store) == []


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"n": 1}, "streams[0].values[0]: structured metadata 'n' must be a string, got 1"),
        ({"n": None}, "streams[0].values[0]: structured metadata 'n' must be a string, got null"),
        ({"n": {"deep": "x"}}, 'streams[0].values[0]: structured metadata \'n\' must be a string, got {"deep":"x"}'),
        (["a", "b"], "streams[0].values[0]: structured metadata must be an object of strings"),
        ("a=b", "streams[0].values[0]: structured metadata must be an object of strings"),
    ],
)
def test_non_string_metadata_is_a_400_naming_the_entry(store: LogStore, metadata: object, message: str) -> None:
    status, text = json_push(client(store), [str(T0), "x", metadata])
    assert (status, text.strip()) == (400, message)
    assert stored(store) == []


def test_limits_hold_for_pairs_the_store_keeps_as_columns_too() -> None:
    s = push.PushStream('{a="1"}', [("a", "1")], [])
    md = [("trace_id", "t" * push.MAX_METADATA_BYTES)]
    assert push._validate_metadata(s, md) is not None
    assert push._validate_metadata(s, [("k", "v")] * push.MAX_METADATA_ENTRIES) is None


# --- OTLP through the sidecar: decoded records -> Kafka values -> the ingester's batches ------------------------


def test_ambassador_records_carry_otlp_attributes_through_the_wire_format() -> None:
    doc = {
        "resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
            "scopeLogs": [{"logRecords": [
                {"timeUnixNano": str(T0), "body": {"stringValue": "with attrs"},
                 "attributes": [{"key": "user.agent", "value": {"stringValue": "curl"}},
                                {"key": "retries", "value": {"intValue": "3"}}]},
                {"timeUnixNano": str(T0 + 1), "body": {"stringValue": "bare"}},
            ]}],
        }]
    }  # fmt: skip
    req = json_format.ParseDict(doc, ExportLogsServiceRequest())
    records = logs_from_request(req, "t1", T0, OtlpLimits(), Rejections())
    [out] = log_records(records, "observ.logs", 5, 1000, 1_000_000)
    decoded = Batch.decode(out.value)
    assert decoded.line == ["with attrs", "bare"]
    unknown = {"detected_level": "unknown"}  # Loki 3's default: no level field, no level word
    assert decoded.metadata == [{"user_agent": "curl", "retries": "3", **unknown}, unknown]
