"""The Tempo trace API over a real spans store: trace by ID (JSON and protobuf, v1 and v2), tags, tag values,
bad input and tenants."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.protobuf.wrappers_pb2 import BytesValue
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from prometheus_client import CollectorRegistry

from observ.api.app import create_app
from observ.api.auth import Tenancy
from observ.api.config import AuthConfig
from observ.api.tempo.routes import tempo_router
from observ.otlp.decode import decode_traces
from observ.store.config import StoreConfig
from observ.store.logstore import LogStore
from observ.traces.model import SpanColumns
from observ.traces.store import SpanStore
from tests.unit.traces.helpers import cols, sid, span, tid

EXAMPLE = Path(__file__).parent / "data" / "otlp_trace_example.json"
"""opentelemetry-proto's examples/trace.json: the OTLP/JSON a trace read back must match."""
CART = {"service.name": "cart", "k8s.namespace.name": "shop"}
DB = {"service.name": "db"}
SEC = 1_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> SpanStore:
    """Trace 1 (t1, at second 100): cart GET /cart -> db SELECT, with an event, a link and odd attribute values;
    trace 2 (t1, at second 200) compacted into a segment; trace 3 only in tenant t2."""
    s = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=10**9))
    s.append([cols(span(2, 1, 200 * SEC, name="POST /pay", service="cart", resource=CART, kind=2))])
    s.compact()
    root = span(
        1, 1, 100 * SEC, end_ns=101 * SEC, name="GET /cart", kind=2, service="cart", resource=CART,
        status_code=2, status_message="upstream failed", scope_name="shop.http", scope_version="2.0",
        attributes={"http.method": "GET", "http.status_code": 500, "big": 2**62, "nan": {"doubleValue": "NaN"},
                    "raw": {"bytesValue": "AAE="}},
        events=[{"name": "retry", "time_ns": 100 * SEC + 5, "attributes": {"n": 1}, "dropped_attributes_count": 0}],
        links=[{"trace_id": tid(2), "span_id": sid(1), "trace_state": "k=v", "attributes": {},
                "dropped_attributes_count": 0, "flags": 1}],
    )  # fmt: skip
    child = span(1, 2, 100 * SEC + 10, name="SELECT", kind=3, service="db", resource=DB, scope_name="sql")
    s.append([cols(root, child), cols(span(3, 1, 300 * SEC, tenant="t2", name="GET /", service="web"))])
    return s


def client(store: SpanStore, auth: AuthConfig | None = None) -> TestClient:
    app = FastAPI()
    app.include_router(tempo_router(store, Tenancy(auth or AuthConfig())))
    return TestClient(app, headers={"X-Scope-OrgID": "t1"})


def test_v1_trace_is_batches_of_otlp_json_with_hex_ids_int_enums_and_string_int64(store: SpanStore) -> None:
    r = client(store).get(f"/api/traces/{tid(1)}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    batches = r.json()["batches"]
    assert [b["resource"]["attributes"] for b in batches] == [
        [
            {"key": "service.name", "value": {"stringValue": "cart"}},
            {"key": "k8s.namespace.name", "value": {"stringValue": "shop"}},
        ],
        [{"key": "service.name", "value": {"stringValue": "db"}}],
    ]
    (root_scope,) = batches[0]["scopeSpans"]
    assert root_scope["scope"] == {"name": "shop.http", "version": "2.0"}
    (root,) = root_scope["spans"]
    assert root["traceId"] == tid(1)
    assert root["spanId"] == sid(1)
    assert "parentSpanId" not in root
    assert root["kind"] == 2
    assert root["status"] == {"code": 2, "message": "upstream failed"}
    assert root["startTimeUnixNano"] == str(100 * SEC)
    attrs = {a["key"]: a["value"] for a in root["attributes"]}
    assert attrs["http.status_code"] == {"intValue": "500"}
    assert attrs["big"] == {"intValue": str(2**62)}
    assert attrs["nan"] == {"doubleValue": "NaN"}
    assert attrs["raw"] == {"bytesValue": "AAE="}
    assert root["events"] == [
        {"name": "retry", "timeUnixNano": str(100 * SEC + 5), "attributes": [{"key": "n", "value": {"intValue": "1"}}]}
    ]
    assert root["links"] == [{"traceId": tid(2), "spanId": sid(1), "traceState": "k=v", "flags": 1}]
    child = batches[1]["scopeSpans"][0]["spans"][0]
    assert child["parentSpanId"] == sid(1)
    assert child["kind"] == 3


def test_the_otlp_example_reads_back_as_it_was_sent(tmp_path: Path) -> None:
    """What went in as OTLP/JSON comes out as OTLP/JSON: IDs lowercased, 64-bit times as strings (both are the
    spec's encoding), scope attributes dropped (span records do not keep them)."""
    sent = orjson.loads(EXAMPLE.read_bytes())
    spans = decode_traces(EXAMPLE.read_bytes(), "application/json", "t1").spans
    store = SpanStore(tmp_path / "spans.duckdb")
    store.append([SpanColumns.from_spans(spans)])
    expected = sent["resourceSpans"]
    del expected[0]["scopeSpans"][0]["scope"]["attributes"]
    sp = expected[0]["scopeSpans"][0]["spans"][0]
    for key in ("traceId", "spanId", "parentSpanId"):
        sp[key] = sp[key].lower()
    for key in ("startTimeUnixNano", "endTimeUnixNano"):
        sp[key] = str(sp[key])
    sp["status"] = {}
    c = client(store)
    assert c.get("/api/traces/5b8efff798038103d269b633813fc60c").json() == {"batches": expected}
    assert c.get("/api/v2/traces/5B8EFFF798038103D269B633813FC60C").json() == {"trace": {"resourceSpans": expected}}


def test_protobuf_v1_is_a_tempopb_trace_and_v2_a_trace_by_id_response(store: SpanStore) -> None:
    """No Python tempopb exists: tempopb.Trace (`repeated ResourceSpans batches = 1`) has TracesData's wire form,
    and TraceByIDResponse holds that Trace in field 1."""
    c = client(store)
    accept = {"Accept": "application/protobuf"}
    v1 = c.get(f"/api/traces/{tid(1)}", headers=accept)
    assert v1.headers["content-type"] == "application/protobuf"
    data = TracesData.FromString(v1.content)
    spans = [sp for rs in data.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    assert [(sp.span_id.hex(), sp.name, sp.kind) for sp in spans] == [(sid(1), "GET /cart", 2), (sid(2), "SELECT", 3)]
    attrs = {kv.key: kv.value for kv in spans[0].attributes}
    assert attrs["big"].int_value == 2**62
    assert math.isnan(attrs["nan"].double_value)
    assert attrs["raw"].bytes_value == b"\x00\x01"
    assert spans[0].links[0].trace_id.hex() == tid(2)
    v2 = c.get(f"/api/v2/traces/{tid(1)}", headers=accept)
    assert v2.content[0] == 0x0A  # field 1, length-delimited
    assert TracesData.FromString(BytesValue.FromString(v2.content).value) == data


def test_short_and_uppercase_ids_read_as_tempo_pads_them(store: SpanStore) -> None:
    c = client(store)
    assert c.get("/api/traces/1").json() == c.get(f"/api/traces/{tid(1)}").json()
    assert c.get("/api/v2/traces/0000000000000000000000000000000A").status_code == 404


@pytest.mark.parametrize(
    ("trace_id", "message"),
    [
        ("xyz", "trace IDs can only contain hex characters: invalid character 'x' at position 1"),
        ("12g4", "trace IDs can only contain hex characters: invalid character 'g' at position 3"),
        ("1" * 33, "trace ids can't be larger than 128 bits"),
        (
            "'; DROP TABLE spans_hot; --",
            "trace IDs can only contain hex characters: invalid character ''' at position 1",
        ),
    ],
)
def test_a_non_hex_or_too_long_id_is_400_with_tempos_message(store: SpanStore, trace_id: str, message: str) -> None:
    for path in ("/api/traces/", "/api/v2/traces/"):
        r = client(store).get(path + trace_id)
        assert (r.status_code, r.text) == (400, message)


def test_an_absent_trace_is_404_trace_not_found(store: SpanStore) -> None:
    for path in (f"/api/traces/{tid(9)}", f"/api/v2/traces/{tid(9)}"):
        r = client(store).get(path, headers={"Accept": "application/protobuf"})
        assert (r.status_code, r.text) == (404, "trace not found")


def test_start_and_end_narrow_the_lookup(store: SpanStore) -> None:
    c = client(store)
    assert c.get(f"/api/traces/{tid(1)}", params={"start": 100, "end": 101}).status_code == 200
    assert c.get(f"/api/traces/{tid(1)}", params={"start": 102}).status_code == 404
    assert c.get(f"/api/traces/{tid(2)}", params={"end": 199}).status_code == 404
    assert c.get(f"/api/traces/{tid(2)}", params={"start": "", "end": ""}).status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "yesterday"}, "invalid start: 'yesterday' is not a Unix time in seconds"),
        ({"end": "-5"}, "invalid end: -5 is outside 0 to 9223372036"),
        ({"start": str(10**30)}, "invalid start: 1000000000000000000000000000000 is outside 0 to 9223372036"),
        ({"start": "200", "end": "100"}, "invalid start: 200 is not before end 100"),
    ],
)
def test_a_bad_window_is_400(store: SpanStore, params: dict[str, str], message: str) -> None:
    for path in (f"/api/v2/traces/{tid(1)}", "/api/v2/search/tags", "/api/search/tag/name/values"):
        r = client(store).get(path, params=params)
        assert (r.status_code, r.text) == (400, message)


def test_tenants_see_only_their_traces_and_tags(store: SpanStore) -> None:
    c = client(store)
    assert c.get(f"/api/traces/{tid(3)}").status_code == 404
    assert c.get(f"/api/traces/{tid(3)}", headers={"X-Scope-OrgID": "t2"}).status_code == 200
    assert c.get(f"/api/traces/{tid(1)}", headers={"X-Scope-OrgID": "t2"}).status_code == 404
    values = c.get("/api/v2/search/tag/resource.service.name/values", headers={"X-Scope-OrgID": "t2"}).json()
    assert values == {"tagValues": [{"type": "string", "value": "web"}]}


def test_tenancy_errors_are_the_loki_apis(store: SpanStore) -> None:
    r = client(store).get(f"/api/traces/{tid(1)}", headers={"X-Scope-OrgID": "a|b"})
    assert r.status_code == 400
    assert "multi-tenant" in r.text
    guarded = client(store, AuthConfig(tokens={"tok": ["t2"]}))
    assert guarded.get(f"/api/traces/{tid(3)}").status_code == 401
    ok = guarded.get(f"/api/traces/{tid(3)}", headers={"Authorization": "Bearer tok", "X-Scope-OrgID": ""})
    assert ok.status_code == 200
    r = guarded.get("/api/v2/search/tags", headers={"Authorization": "Bearer tok"})
    assert (r.status_code, r.text) == (403, "tenant 't1' is not allowed for this token")


def test_echo(store: SpanStore) -> None:
    r = client(store).get("/api/echo")
    assert (r.status_code, r.text) == (200, "echo")


def test_v2_tags_by_scope_in_tempos_shape(store: SpanStore) -> None:
    c = client(store)
    assert c.get("/api/v2/search/tags").json() == {
        "scopes": [
            {"name": "resource", "tags": ["k8s.namespace.name", "service.name"]},
            {"name": "span", "tags": ["big", "http.method", "http.status_code", "nan", "raw"]},
            {"name": "intrinsic", "tags": ["duration", "kind", "name", "status", "statusMessage"]},
        ]
    }
    assert c.get("/api/v2/search/tags", params={"scope": "all"}).json() == c.get("/api/v2/search/tags").json()
    assert c.get("/api/v2/search/tags", params={"scope": "resource", "start": 150}).json() == {
        "scopes": [{"name": "resource", "tags": ["k8s.namespace.name", "service.name"]}]
    }
    assert c.get("/api/v2/search/tags", params={"scope": "span", "start": 150}).json() == {
        "scopes": [{"name": "span", "tags": []}]
    }


def test_an_unknown_scope_is_400(store: SpanStore) -> None:
    r = client(store).get("/api/v2/search/tags", params={"scope": "event"})
    assert (r.status_code, r.text) == (400, "invalid scope: 'event' is not one of resource, span, intrinsic, all")


def test_v1_tags_are_attribute_names_of_every_scope(store: SpanStore) -> None:
    assert client(store).get("/api/search/tags").json() == {
        "tagNames": ["big", "http.method", "http.status_code", "k8s.namespace.name", "nan", "raw", "service.name"]
    }


@pytest.mark.parametrize(
    ("tag", "values"),
    [
        ("resource.service.name", [{"type": "string", "value": "cart"}, {"type": "string", "value": "db"}]),
        ("span.http.method", [{"type": "string", "value": "GET"}]),
        ("span.http.status_code", [{"type": "int", "value": "500"}]),
        ("name", [{"type": "string", "value": "GET /cart"}, {"type": "string", "value": "POST /pay"},
                  {"type": "string", "value": "SELECT"}]),
        ("status", [{"type": "keyword", "value": "error"}, {"type": "keyword", "value": "unset"}]),
        ("span.missing", []),
    ],
)  # fmt: skip
def test_v2_tag_values_are_typed(store: SpanStore, tag: str, values: list[dict[str, str]]) -> None:
    assert client(store).get(f"/api/v2/search/tag/{tag}/values").json() == {"tagValues": values}


def test_v1_tag_values_are_strings_and_limit_caps_them(store: SpanStore) -> None:
    c = client(store)
    assert c.get("/api/search/tag/service.name/values").json() == {"tagValues": ["cart", "db"]}
    assert c.get("/api/search/tag/name/values", params={"limit": 1}).json() == {"tagValues": ["GET /cart"]}


@pytest.mark.parametrize("limit", ["0", "-1", "ten", "100001", "9" * 40])
def test_a_bad_limit_is_400(store: SpanStore, limit: str) -> None:
    r = client(store).get("/api/v2/search/tag/name/values", params={"limit": limit})
    assert r.status_code == 400
    assert r.text.startswith("invalid limit: ")


def test_a_tag_naming_no_attribute_is_400_with_the_stores_message(store: SpanStore) -> None:
    r = client(store).get("/api/v2/search/tag/span./values")
    assert (r.status_code, r.text) == (400, "tag 'span.' names no attribute after 'span.'")


def test_create_app_serves_the_tempo_api_only_with_a_spans_store(store: SpanStore, tmp_path: Path) -> None:
    logs = LogStore(tmp_path / "logs.duckdb")
    with_spans = TestClient(create_app(logs, CollectorRegistry(), lambda: True, spans=store))
    assert with_spans.get(f"/api/v2/traces/{tid(3)}", headers={"X-Scope-OrgID": "t2"}).status_code == 200
    assert with_spans.get("/api/echo").text == "echo"
    without = TestClient(create_app(logs, CollectorRegistry(), lambda: True))
    assert without.get("/api/echo").status_code == 404
