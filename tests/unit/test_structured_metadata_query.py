"""Structured metadata out: pushed pairs come back from the Loki API (plain: in the stream labels; categorize-labels:
under `structuredMetadata`), label filters and `by()` see them, and a parsed key that collides is `<key>_extracted`."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from observ.api.app import create_app
from observ.api.config import ApiConfig, PushConfig
from observ.store.config import StoreConfig
from observ.store.logstore import LogStore

T0 = 1_700_000_000_000_000_000
WINDOW = {"start": str(T0 - 10**9), "end": str(T0 + 60 * 10**9)}
CATEGORIZE = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}
WITHOUT_LOKI_DEFAULTS = ApiConfig(push=PushConfig(discover_service_name=[], discover_log_levels=False))
"""The pairs pushed alone: Loki 3's service_name and detected_level are tests/unit/test_ingest_defaults.py's."""


@pytest.fixture(params=["hot", "segments"])
def c(tmp_path: Path, request: pytest.FixtureRequest) -> TestClient:
    """The same rows hot and compacted into Parquet segments."""
    store = LogStore(tmp_path / "observ.duckdb", StoreConfig(segment_min_rows=1))
    client = TestClient(create_app(store, CollectorRegistry(), lambda: True, config=WITHOUT_LOKI_DEFAULTS))
    values = [
        [str(T0), '{"msg": "one", "user_agent": "parsed"}', {"user_agent": "curl", "trace_id": "abc"}],
        [str(T0 + 1), '{"msg": "two"}', {"user_agent": "wget"}],
        [str(T0 + 2), '{"msg": "three"}'],
    ]
    body = {"streams": [{"stream": {"service": "api"}, "values": values}]}
    assert client.post("/loki/api/v1/push", content=orjson.dumps(body),
                       headers={"Content-Type": "application/json"}).status_code == 204  # fmt: skip
    if request.param == "segments":
        store.compact()
        assert store.segments
    return client


def query(c: TestClient, q: str, headers: dict[str, str] | None = None) -> list[dict[str, object]]:
    r = c.get("/loki/api/v1/query_range", params={"query": q, **WINDOW, "direction": "forward"}, headers=headers)
    assert r.status_code == 200, r.text
    return sorted(r.json()["data"]["result"], key=lambda s: sorted(s.get("stream", s.get("metric")).items()))


def test_plain_encoding_puts_metadata_in_the_stream_labels(c: TestClient) -> None:
    assert [(s["stream"], [v[0] for v in s["values"]]) for s in query(c, '{service="api"}')] == [
        ({"service": "api"}, [str(T0 + 2)]),
        ({"service": "api", "trace_id": "abc", "user_agent": "curl"}, [str(T0)]),
        ({"service": "api", "user_agent": "wget"}, [str(T0 + 1)]),
    ]


def test_categorized_encoding_lists_metadata_per_entry(c: TestClient) -> None:
    [s] = query(c, '{service="api"}', CATEGORIZE)
    assert s["stream"] == {"service": "api"}
    assert [v[2] for v in s["values"]] == [
        {"structuredMetadata": {"trace_id": "abc", "user_agent": "curl"}},
        {"structuredMetadata": {"user_agent": "wget"}},
        {},
    ]


@pytest.mark.parametrize(
    ("q", "lines"),
    [
        ('{service="api"} | user_agent="curl"', [T0]),
        ('{service="api"} | user_agent=~"w.*"', [T0 + 1]),
        ('{service="api"} | user_agent!="curl"', [T0 + 1, T0 + 2]),
        ('{service="api"} | user_agent=""', [T0 + 2]),
        ('{service="api"} |= "o" | user_agent="wget"', [T0 + 1]),
    ],
)
def test_label_filters_see_metadata(c: TestClient, q: str, lines: list[int]) -> None:
    assert sorted(int(v[0]) for s in query(c, q) for v in s["values"]) == lines


def test_a_stream_selector_does_not_see_metadata(c: TestClient) -> None:
    assert query(c, '{service="api", user_agent="curl"}') == []


def test_sum_by_a_metadata_key(c: TestClient) -> None:
    series = query(c, 'sum by (user_agent) (count_over_time({service="api"}[1m]))')
    assert [(s["metric"], sum(float(v[1]) for v in s["values"][:1])) for s in series] == [
        ({}, 1.0), ({"user_agent": "curl"}, 1.0), ({"user_agent": "wget"}, 1.0),
    ]  # fmt: skip


def test_sum_by_a_metadata_key_after_a_parser(c: TestClient) -> None:
    series = query(c, 'sum by (user_agent) (count_over_time({service="api"} | json [1m]))')
    assert [s["metric"] for s in series] == [{}, {"user_agent": "curl"}, {"user_agent": "wget"}]


def test_a_parsed_key_colliding_with_metadata_is_renamed_extracted(c: TestClient) -> None:
    [first] = query(c, '{service="api"} | json | msg="one"', CATEGORIZE)
    [entry] = first["values"]
    assert entry[2] == {
        "structuredMetadata": {"trace_id": "abc", "user_agent": "curl"},
        "parsed": {"msg": "one", "user_agent_extracted": "parsed"},
    }
    assert [s["values"][0][0] for s in query(c, '{service="api"} | json | user_agent_extracted="parsed"')] == [str(T0)]


def test_otlp_http_log_attributes_are_queryable_as_structured_metadata(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "observ.duckdb")
    client = TestClient(create_app(store, CollectorRegistry(), lambda: True))
    attr = [{"key": "user.agent", "value": {"stringValue": "curl"}}, {"key": "retries", "value": {"intValue": "3"}}]
    doc = {
        "resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
            "scopeLogs": [{"logRecords": [
                {"timeUnixNano": str(T0), "body": {"stringValue": "paid"}, "attributes": attr},
                {"timeUnixNano": str(T0 + 1), "body": {"stringValue": "bare"}},
            ]}],
        }]
    }  # fmt: skip
    assert (
        client.post("/v1/logs", content=orjson.dumps(doc), headers={"Content-Type": "application/json"}).status_code
        == 200
    )
    [s] = query(client, '{service="checkout"} | user_agent="curl"', CATEGORIZE)
    [[ts, line, extra]] = s["values"]
    assert (ts, line) == (str(T0), "paid")
    unknown = {"detected_level": "unknown"}  # Loki 3's default, as its OTLP endpoint adds it
    assert extra["structuredMetadata"] == {"retries": "3", "user_agent": "curl", **unknown}
    plain = query(client, '{service="checkout"} | retries="3"')
    stream = {"retries": "3", "service": "checkout", "service_name": "checkout", "user_agent": "curl", **unknown}
    assert [(p["stream"], [v[1] for v in p["values"]]) for p in plain] == [(stream, ["paid"])]


@pytest.mark.parametrize(
    ("q", "shown"),
    [
        ('{service="api"} | user_agent="curl" | drop user_agent', {"structuredMetadata": {"trace_id": "abc"}}),
        ('{service="api"} | user_agent="curl" | keep service', {}),
        ('{service="api"} | user_agent="curl" | keep user_agent', {"structuredMetadata": {"user_agent": "curl"}}),
    ],
)
def test_keep_and_drop_apply_to_metadata(c: TestClient, q: str, shown: dict[str, object]) -> None:
    [s] = query(c, q, CATEGORIZE)
    assert [v[2] for v in s["values"]] == [shown]
    [plain] = query(c, q)
    md = shown.get("structuredMetadata", {})
    assert {k: v for k, v in plain["stream"].items() if k != "service"} == md
