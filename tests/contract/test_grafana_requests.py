"""The requests Grafana 11/12 sends to a Loki data source, replayed against a live server and checked.

Each request is recorded as Grafana builds it (path and parameters; `$__auto` and template variables
already resolved, as Grafana resolves them before sending), with the Grafana source it comes from:
the Loki data source (grafana/grafana `public/app/plugins/datasource/loki/`, its Go backend
`pkg/tsdb/loki/api.go`) for Explore, and grafana/logs-drilldown (`src/services/datasource.ts`) for
Logs Drilldown. Expected values are computed from the corpus pushed here.

Logs Drilldown's tests follow the order the app sends its requests: `drilldown-limits` when it starts
(IndexScene), the service list by volume and each service's panel, then a service page: labels, detected
labels and fields (its `detected_fields` call, shared with Explore's autocomplete, is tested with it above),
a JSON field's breakdown, patterns, the logs panel.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from websockets.sync.client import connect

from tests.contract.conftest import NS, Server

LINES = 30
TENANT = {"X-Scope-OrgID": f"grafana-{uuid.uuid4().hex[:8]}"}


def api_line(i: int) -> str:
    level = "error" if i % 5 == 0 else "info"
    return orjson.dumps({"level": level, "msg": "request", "status": 500 if level == "error" else 200,
                         "took": f"{i}ms", "size": f"{i}KB", "req": {"id": f"r{i % 3}"}}).decode()  # fmt: skip


def db_line(i: int) -> str:
    return f'level=info query="select {i}" rows={i * 10} duration={i}ms'


def worker_line(i: int) -> str:
    return f"job {i} done in {i}s"


def corpus(t0: int) -> dict[str, object]:
    """api: JSON lines (one key nested); db: logfmt lines whose `level` key is also a stream label; worker: plain
    text."""

    def at(i: int, line: str) -> list[str]:
        return [str(t0 + i * NS), line]

    return {
        "streams": [
            {"stream": {"service_name": "api", "env": "prod"}, "values": [at(i, api_line(i)) for i in range(LINES)]},
            {"stream": {"service_name": "db", "env": "prod", "level": "warn"},
             "values": [at(i, db_line(i)) for i in range(LINES)]},
            {"stream": {"service_name": "worker", "env": "batch"},
             "values": [at(i, worker_line(i)) for i in range(LINES)]},
        ]
    }  # fmt: skip


def line_bytes(t0: int, service: str) -> int:
    s = next(s for s in corpus(t0)["streams"] if s["stream"]["service_name"] == service)  # type: ignore[attr-defined]
    return sum(len(v[1].encode()) for v in s["values"])


@dataclass(frozen=True)
class Window:
    t0: int

    @property
    def start_ns(self) -> str:
        return str(self.t0)

    @property
    def end_ns(self) -> str:
        return str(self.t0 + LINES * NS)

    def iso(self, ns: int) -> str:
        """Drilldown's `request.range.from.utc().toISOString()`: milliseconds and a Z."""
        return datetime.fromtimestamp(ns / NS, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @property
    def ns(self) -> dict[str, str]:
        """The Loki data source's `getTimeRangeParams`: nanoseconds."""
        return {"start": self.start_ns, "end": self.end_ns}

    @property
    def iso_range(self) -> dict[str, str]:
        return {"start": self.iso(self.t0), "end": self.iso(self.t0 + LINES * NS)}


@pytest.fixture(scope="module")
def grafana(server: Server) -> Iterator[tuple[httpx.Client, Window]]:
    t0 = (time.time_ns() // (10 * NS) - 60) * 10 * NS  # on a 10 s boundary, as patterns count lines per 10 s
    with server.client(**TENANT) as c:
        r = c.post("/loki/api/v1/push", json=corpus(t0))
        assert r.status_code == 204, r.text
        yield c, Window(t0)


def ok(r: httpx.Response) -> dict[str, object]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return r.json()


def query_range(c: httpx.Client, w: Window, query: str, **extra: str) -> dict[str, object]:
    """pkg/tsdb/loki/api.go `makeDataRequest`: query, direction, limit, start/end in ns, step as `<n>ms`."""
    params = {"query": query, "direction": "backward", "limit": "1000", **w.ns, "step": "1000ms", **extra}
    body = ok(c.get("/loki/api/v1/query_range", params=params))
    assert body["status"] == "success"
    return body["data"]  # type: ignore[return-value]


# --- Explore: label browser and query builder (LanguageProvider.ts) --------------------------------------


def test_label_browser(grafana: tuple[httpx.Client, Window]) -> None:
    """`fetchLabels` -> `labels?start&end[&query]`, `fetchLabelValues` -> `label/{name}/values?start&end[&query]`."""
    c, w = grafana
    assert ok(c.get("/loki/api/v1/labels", params=w.ns))["data"] == ["env", "level", "service_name"]
    by_db = ok(c.get("/loki/api/v1/labels", params={**w.ns, "query": '{service_name="db"}'}))
    assert by_db["data"] == ["env", "level", "service_name"]
    by_api = ok(c.get("/loki/api/v1/labels", params={**w.ns, "query": '{service_name="api"}'}))
    assert by_api["data"] == ["env", "service_name"]
    values = ok(c.get("/loki/api/v1/label/service_name/values", params=w.ns))
    assert values == {"status": "success", "data": ["api", "db", "worker"]}
    prod = ok(c.get("/loki/api/v1/label/service_name/values", params={**w.ns, "query": '{env="prod"}'}))
    assert prod["data"] == ["api", "db"]


def test_series_for_the_query_builder(grafana: tuple[httpx.Client, Window]) -> None:
    """`fetchSeries` -> `series?match[]=...&start&end`."""
    c, w = grafana
    body = ok(c.get("/loki/api/v1/series", params={"match[]": '{env="prod"}', **w.ns}))
    assert sorted(body["data"], key=lambda s: s["service_name"]) == [  # type: ignore[arg-type, index]
        {"env": "prod", "service_name": "api"},
        {"env": "prod", "level": "warn", "service_name": "db"},
    ]


def test_query_inspector_stats(grafana: tuple[httpx.Client, Window]) -> None:
    """datasource.ts `getQueryStats` -> `index/stats?start&end&query` (the selector of each matcher group)."""
    c, w = grafana
    stats = ok(c.get("/loki/api/v1/index/stats", params={**w.ns, "query": '{service_name="api"}'}))
    assert set(stats) == {"streams", "chunks", "bytes", "entries"}
    assert (stats["streams"], stats["entries"], stats["bytes"]) == (1, LINES, line_bytes(w.t0, "api"))
    assert isinstance(stats["chunks"], int)


# --- Explore: the logs query, its volume histogram, log context and live tail ----------------------------


def test_logs_query(grafana: tuple[httpx.Client, Window]) -> None:
    c, w = grafana
    data = query_range(c, w, '{service_name="api"}')
    assert data["resultType"] == "streams"
    # without categorize-labels, structured metadata (detected_level) is part of each stream's labels, as in Loki
    streams = {s["stream"]["detected_level"]: s for s in data["result"]}  # type: ignore[attr-defined]
    assert set(streams) == {"error", "info"}
    assert all(s["stream"]["service_name"] == "api" for s in streams.values())
    assert sum(len(s["values"]) for s in streams.values()) == LINES


def test_logs_volume_histogram(grafana: tuple[httpx.Client, Window]) -> None:
    """datasource.ts `getSupplementaryQuery(LogsVolume)` (datasource.test.ts 'returns logs volume for query ...')."""
    c, w = grafana
    q = 'sum by (level, detected_level) (count_over_time({service_name="api"} | drop __error__[1s]))'
    data = query_range(c, w, q, step="1000ms")
    assert data["resultType"] == "matrix"
    counts: Counter[str] = Counter()
    for series in data["result"]:  # type: ignore[attr-defined]
        assert set(series["metric"]) <= {"level", "detected_level"}
        for stamp, value in series["values"]:
            assert isinstance(stamp, (int, float)) and isinstance(value, str)
            counts[series["metric"].get("detected_level", "")] += int(value)
    errors = sum(1 for i in range(LINES) if i % 5 == 0)
    assert counts == {"error": errors, "info": LINES - errors}
    # a stream's `level` label is its detected_level too (Loki's discover_log_levels); every line counted once
    db = query_range(c, w, q.replace('"api"', '"db"'), step="1000ms")
    assert [s["metric"] for s in db["result"]] == [{"detected_level": "warn", "level": "warn"}]  # type: ignore[attr-defined]
    assert sum(int(v) for s in db["result"] for _, v in s["values"]) == LINES  # type: ignore[attr-defined]


@pytest.mark.parametrize("direction", ["BACKWARD", "backward"])
def test_log_context_before(grafana: tuple[httpx.Client, Window], direction: str) -> None:
    """LogContextProvider.ts: the row's labels, `limit=10`, BACKWARD up to the row's time (end exclusive)."""
    c, w = grafana
    row = w.t0 + 20 * NS
    params = {"start": str(row - 2 * 3600 * NS), "end": str(row), "limit": "10", "direction": direction}
    result = query_range(c, w, '{env="prod", service_name="db"}', **params)["result"]
    [stream] = result  # type: ignore[misc]
    assert [int(v[0]) for v in stream["values"]] == [w.t0 + i * NS for i in range(19, 9, -1)]


@pytest.mark.parametrize("direction", ["FORWARD", "forward"])
def test_log_context_after(grafana: tuple[httpx.Client, Window], direction: str) -> None:
    """LogContextProvider.ts: FORWARD from the row's time (start inclusive: Grafana drops the row itself)."""
    c, w = grafana
    row = w.t0 + 20 * NS
    params = {"start": str(row), "end": str(row + 2 * 3600 * NS), "limit": "10", "direction": direction}
    result = query_range(c, w, '{env="prod", service_name="db"}', **params)["result"]
    [stream] = result  # type: ignore[misc]
    assert [int(v[0]) for v in stream["values"]] == [w.t0 + i * NS for i in range(20, 30)]


@pytest.mark.usefixtures("grafana")
def test_live_tail(server: Server) -> None:
    """pkg/tsdb/loki/streaming.go: a websocket to `tail?query=` (Loki's default start: an hour ago)."""
    url = server.url.replace("http://", "ws://") + "/loki/api/v1/tail?" + urlencode({"query": '{service_name="db"}'})
    with connect(url, additional_headers=TENANT) as ws:
        frame = orjson.loads(ws.recv(timeout=30))
    [stream] = frame["streams"]
    assert stream["stream"]["service_name"] == "db"
    assert [v[1] for v in stream["values"]] == [db_line(i) for i in range(LINES)]


# --- Explore autocomplete and Logs Drilldown: detected fields --------------------------------------------


def test_detected_fields_for_the_fields_tab(grafana: tuple[httpx.Client, Window]) -> None:
    """logs-drilldown src/services/datasource.ts `getDetectedFields`: `detected_fields?start&end&query` (ISO times)."""
    c, w = grafana
    q = '{service_name=~"api|db"} | json | logfmt | drop __error__, __error_details__'
    body = ok(c.get("/loki/api/v1/detected_fields", params={**w.iso_range, "query": q}))
    fields = {f["label"]: f for f in body["fields"]}  # type: ignore[attr-defined]
    assert body["limit"] == 1000
    assert {k: (f["type"], f["parsers"], f.get("jsonPath")) for k, f in fields.items()} == {
        "detected_level": ("string", None, None),
        "duration": ("duration", ["logfmt"], None),
        "level": ("string", ["json"], ["level"]),
        "level_extracted": ("string", ["logfmt"], None),  # db's `level` key is also its stream label
        "msg": ("string", ["json"], ["msg"]),
        "query": ("string", ["logfmt"], None),
        "req_id": ("string", ["json"], ["req", "id"]),  # Drilldown builds `| json req_id="..."` from the path
        "rows": ("int", ["logfmt"], None),
        "size": ("bytes", ["json"], ["size"]),
        "status": ("int", ["json"], ["status"]),
        "took": ("duration", ["json"], ["took"]),
    }
    # the newest 100 lines are sampled (Loki's default `line_limit`): all 30 of api, 30 of db
    assert (fields["status"]["cardinality"], fields["rows"]["cardinality"]) == (2, LINES)


def test_detected_field_values(grafana: tuple[httpx.Client, Window]) -> None:
    """LanguageProvider.ts `fetchDetectedFieldValues`: `detected_field/{name}/values?start&end&limit=1000&query`."""
    c, w = grafana
    params = {**w.ns, "limit": "1000", "query": '{service_name="api"} | json'}
    body = ok(c.get("/loki/api/v1/detected_field/status/values", params=params))
    assert body == {"values": ["200", "500"], "limit": 1000}
    sizes = ok(c.get("/loki/api/v1/detected_field/size/values", params=params))["values"]
    assert "1.0kB" in sizes and "29kB" in sizes  # bytes rewritten for a query, as Loki's handler does
    none = c.get("/loki/api/v1/detected_field/nothing/values", params=params)
    assert none.status_code == 200 and none.json() == {}


# --- Logs Drilldown: start-up, service list, service page (src/services/datasource.ts) -------------------

LOKI_PUBLISHED_LIMITS = [
    "discover_log_levels", "discover_service_name", "log_level_fields", "max_entries_limit_per_query",
    "max_line_size_truncate", "max_query_bytes_read", "max_query_length", "max_query_lookback", "max_query_range",
    "max_query_series", "metric_aggregation_enabled", "otlp_config", "pattern_persistence_enabled", "query_timeout",
    "retention_period", "volume_enabled", "volume_max_series",
]  # fmt: skip
"""Loki's default `tenant_limits_allow_publish` (pkg/loki/loki.go) less `retention_stream`, left out when empty."""


def test_drilldown_limits(grafana: tuple[httpx.Client, Window]) -> None:
    """`getConfig` -> `drilldown-limits` (no parameters), the app's first request (Loki: `tenantLimitsHandler`)."""
    c, _ = grafana
    body = ok(c.get("/loki/api/v1/drilldown-limits", headers={"X-Query-Tags": "Source=grafana-lokiexplore-app"}))
    assert list(body) == ["limits", "pattern_ingester_enabled", "version"]
    limits = body["limits"]
    assert list(limits) == LOKI_PUBLISHED_LIMITS  # type: ignore[call-overload]
    # what the app reads: LineLimitScene caps its line limit, timePicker hides ranges past retention ("0s": none),
    # ServiceScene shows the Patterns tab unless pattern_ingester_enabled is false
    assert (limits["max_entries_limit_per_query"], limits["retention_period"]) == (5000, "0s")  # type: ignore[index]
    assert body["pattern_ingester_enabled"] is True
    assert (limits["max_query_length"], limits["query_timeout"], limits["max_query_series"]) == ("30d1h", "1m", 500)  # type: ignore[index]


def test_service_list_by_volume(grafana: tuple[httpx.Client, Window]) -> None:
    """`getVolume`: `index/volume?end&limit=5000&query={service_name=~".+"}&start`, metric read by primaryLabel."""
    c, w = grafana
    params = {**w.iso_range, "limit": "5000", "query": '{service_name=~".+"}'}
    body = ok(c.get("/loki/api/v1/index/volume", params=params))
    assert body["data"]["resultType"] == "vector"  # type: ignore[index]
    got = [(r["metric"], r["value"][1]) for r in body["data"]["result"]]  # type: ignore[index]
    want = sorted(((s, line_bytes(w.t0, s)) for s in ("api", "db", "worker")), key=lambda sv: -sv[1])
    assert got == [({"service_name": s}, str(n)) for s, n in want]


def test_service_volume_by_level(grafana: tuple[httpx.Client, Window]) -> None:
    """ServiceSelectionScene.tsx `getMetricExpression`: each service's panel, by detected_level."""
    c, w = grafana
    data = query_range(c, w, 'sum by (detected_level) (count_over_time({ service_name="worker" } [1s]))')
    [series] = data["result"]  # type: ignore[misc]
    assert series["metric"] == {"detected_level": "unknown"}
    assert sum(int(v) for _, v in series["values"]) == LINES


def test_labels_tab(grafana: tuple[httpx.Client, Window]) -> None:
    """`getLabels` (`labels?start&end`, ISO) and `getDetectedLabels` (`detected_labels?query&start&end`)."""
    c, w = grafana
    assert ok(c.get("/loki/api/v1/labels", params=w.iso_range))["data"] == ["env", "level", "service_name"]
    params = {**w.iso_range, "query": '{service_name=~".+"}'}
    detected = ok(c.get("/loki/api/v1/detected_labels", params=params))
    cardinality = {d["label"]: d["cardinality"] for d in detected["detectedLabels"]}  # type: ignore[attr-defined]
    assert cardinality["env"] == 2 and cardinality["service_name"] == 3


def test_json_field_breakdown(grafana: tuple[httpx.Client, Window]) -> None:
    """fields.ts `buildFieldsQueryString`: a JSON field's panel names its path (`getJsonPathArraySyntax`) in json."""
    c, w = grafana
    q = '{service_name="api"} | json | logfmt | drop __error__, __error_details__'
    fields = ok(c.get("/loki/api/v1/detected_fields", params={**w.iso_range, "query": q}))["fields"]
    [path] = [f["jsonPath"] for f in fields if f["label"] == "req_id"]  # type: ignore[attr-defined]
    arg = "".join(f'[\\"{key}\\"]' for key in path)
    expr = f'{{service_name="api"}} | json req_id="{arg}" | drop __error__, __error_details__ | req_id!=""'
    assert arg == '[\\"req\\"][\\"id\\"]'
    data = query_range(c, w, f"sum by (req_id) (count_over_time({expr} [1s]))")
    counts = {s["metric"]["req_id"]: sum(int(v) for _, v in s["values"]) for s in data["result"]}  # type: ignore[attr-defined]
    assert counts == Counter(f"r{i % 3}" for i in range(LINES))


@pytest.mark.parametrize(
    ("service", "want"),
    [
        ("worker", [("job <_> done in <_>", "unknown")]),
        ("db", [("level=info query=<_> rows=<_> duration=<_>", "warn")]),  # level: the stream's `level` label
        ("api", []),  # JSON lines are mined by their `msg`, one token here: Drain needs at least 4
    ],
)
def test_patterns_tab(grafana: tuple[httpx.Client, Window], service: str, want: list[tuple[str, str]]) -> None:
    """`getPatterns` -> `patterns?end&query&start&step` (ISO times; `step` the panel's interval, under 10 s here)."""
    c, w = grafana
    params = {**w.iso_range, "query": f'{{service_name="{service}"}}', "step": "20ms"}
    body = ok(c.get("/loki/api/v1/patterns", params=params))
    assert body["status"] == "success"
    got = body["data"]
    assert [(p["pattern"], p["level"]) for p in got] == want  # type: ignore[attr-defined]
    start_s = w.t0 // NS  # counts per 10 s (a smaller step is raised to it), stamped with the bucket's start
    for p in got:  # type: ignore[attr-defined]
        assert p["samples"] == [[start_s, 10], [start_s + 10, 10], [start_s + 20, 10]]


def test_logs_panel_query(grafana: tuple[httpx.Client, Window]) -> None:
    """variables.ts MIXED_FORMAT_EXPR: the logs panel parses json, then logfmt, dropping the parse errors."""
    c, w = grafana
    data = query_range(c, w, '{service_name=~".+"} | json | logfmt | drop __error__, __error_details__')
    streams = data["result"]
    assert sum(len(s["values"]) for s in streams) == 3 * LINES  # type: ignore[attr-defined]
    assert not any("__error__" in s["stream"] for s in streams)  # type: ignore[attr-defined]


# --- Loki's detected_fields_test.go cases (pkg/querier/queryrange), over HTTP -----------------------------

RULER_LABELS = {"cluster": "us-east-1", "namespace": "mimir-dev", "pod": "mimir-ruler-nfb37",
                "service_name": "mimir-ruler", "tenant": "42", "caller": "inside-the-house"}  # fmt: skip
RULER_LINES = [
    "ts=2024-09-05T15:36:38.757788067Z caller=grpc_logging.go:66 tenant=2419 level=info "
    "method=/cortex.Ingester/Push duration=19.098s msg=gRPC",
    "ts=2024-09-05T15:36:38.698375619Z caller=grpc_logging.go:66 tenant=29 level=info "
    "method=/cortex.Ingester/Push duration=5.471s msg=gRPC",
    "ts=2024-09-05T15:36:38.629424175Z caller=grpc_logging.go:66 tenant=2919 level=info "
    "method=/cortex.Ingester/Push duration=29.234s msg=gRPC",
]
BYTES_LINES = [
    "ts=2024-09-05T15:36:38.757788067Z caller=metrics.go:66 tenant=2419 level=info bytes=1024",
    'ts=2024-09-05T15:36:38.698375619Z caller=grpc_logging.go:66 tenant=29 level=info bytes="1024 MB"',
    "ts=2024-09-05T15:36:38.629424175Z caller=grpc_logging.go:66 tenant=2919 level=info bytes=1024KB",
]


@pytest.fixture(scope="module")
def loki_cases(server: Server) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    t0 = (time.time_ns() // NS - 600) * NS
    meta = {"detected_level": "info"}
    body = {
        "streams": [
            {"stream": RULER_LABELS, "values": [[str(t0 + i * NS), ln, meta] for i, ln in enumerate(RULER_LINES)]},
            {"stream": {"cluster": "us-east-1", "service_name": "bytes"},
             "values": [[str(t0 + i * NS), ln, meta] for i, ln in enumerate(BYTES_LINES)]},
        ]
    }  # fmt: skip
    with server.client(X_Scope_OrgID=f"lokicases-{uuid.uuid4().hex[:8]}") as c:
        c.headers["X-Scope-OrgID"] = c.headers.pop("X_Scope_OrgID")
        assert c.post("/loki/api/v1/push", json=body).status_code == 204
        yield c, {"start": str(t0), "end": str(t0 + 10 * NS)}


def test_loki_extracted_for_a_single_stream(loki_cases: tuple[httpx.Client, dict[str, str]]) -> None:
    """'correctly applies _extracted for a single stream': keys that are stream labels get `_extracted`."""
    c, w = loki_cases
    body = ok(c.get("/loki/api/v1/detected_fields", params={**w, "query": '{pod="mimir-ruler-nfb37"}'}))
    fields = {f["label"]: f for f in body["fields"]}  # type: ignore[attr-defined]
    assert set(fields) == {"ts", "caller_extracted", "tenant_extracted", "level", "method", "duration", "msg",
                           "detected_level"}  # fmt: skip
    assert all(f["parsers"] == ["logfmt"] for k, f in fields.items() if k != "detected_level")
    assert fields["detected_level"]["parsers"] is None
    assert {k: (f["type"], f["cardinality"]) for k, f in fields.items()} == {
        "ts": ("string", 3), "caller_extracted": ("string", 1), "tenant_extracted": ("int", 3),
        "level": ("string", 1), "method": ("string", 1), "duration": ("duration", 3), "msg": ("string", 1),
        "detected_level": ("string", 1),
    }  # fmt: skip


def test_loki_bytes_values_for_a_query(loki_cases: tuple[httpx.Client, dict[str, str]]) -> None:
    """'correctly formats bytes values for detected fields': `1024 MB` -> `1.0GB`; other numbers untouched."""
    c, w = loki_cases
    params = {**w, "query": '{cluster="us-east-1", service_name="bytes"} | logfmt', "limit": "3"}
    assert ok(c.get("/loki/api/v1/detected_field/bytes/values", params=params))["values"] == ["1.0GB", "1.0MB", "1024"]
    assert ok(c.get("/loki/api/v1/detected_field/tenant/values", params=params))["values"] == ["2419", "29", "2919"]


def test_empty_answers_as_loki(loki_cases: tuple[httpx.Client, dict[str, str]]) -> None:
    """Loki omits empty fields and the limit (`omitempty`; the limit only with an answer)."""
    c, w = loki_cases
    body = ok(c.get("/loki/api/v1/detected_fields", params={**w, "query": '{pod="nobody"}'}))
    assert body == {}
