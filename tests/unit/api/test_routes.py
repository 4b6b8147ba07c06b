"""Routes over a scripted engine: status codes, error bodies, tenancy and push into a real store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from observ.api.app import create_app, route_name
from observ.api.config import ApiConfig, AuthConfig
from observ.api.loki.events import ApiMetrics
from observ.api.loki.routes import LokiApi
from observ.logql.errors import LimitError, LogQLError, ParseError, QueryTimeout
from observ.logql.results import LogEntry, QueryResult, Sample, StreamResult, Streams, Vector
from observ.store.logstore import LogStore

NS = 10**9


class ScriptedEngine:
    """Records calls; raises what the query text asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    def _check(self, query: str) -> None:
        if query == "boom":
            raise RuntimeError("a bug")
        if query == "slow":
            raise QueryTimeout()
        if query == "big":
            raise LimitError("max entries limit per query exceeded, limit > max_entries_limit (6000 > 5000)")
        if query.startswith("!"):
            raise ParseError("syntax error: unexpected !", 1, 1)

    def query_range(self, query: str, **kw: object) -> QueryResult:
        self.calls.append(("query_range", {"query": query, **kw}))
        self._check(query)
        return QueryResult(Streams([StreamResult({"app": "a"}, [LogEntry(2 * NS, "line two"), LogEntry(NS, "one")])]))

    def query_instant(self, query: str, **kw: object) -> QueryResult:
        self.calls.append(("query_instant", {"query": query, **kw}))
        self._check(query)
        if query.startswith("{"):
            raise LogQLError("log queries are not supported as an instant query type")
        return QueryResult(Vector([Sample({}, int(kw["time_ns"]), 2.0)]))  # type: ignore[call-overload]

    def labels(self, **kw: object) -> list[str]:
        self.calls.append(("labels", kw))
        return ["app", str(kw["tenant"])]

    def label_values(self, name: str, **kw: object) -> list[str]:
        self.calls.append(("label_values", {"name": name, **kw}))
        return [name]

    def series(self, matches: list[str], **kw: object) -> list[dict[str, str]]:
        self.calls.append(("series", {"matches": matches, **kw}))
        return [{"app": "a"}]

    def index_stats(self, query: str, **kw: object) -> dict[str, int]:
        self._check(query)
        return {"streams": 1, "chunks": 1, "entries": 2, "bytes": 11}


@pytest.fixture
def store() -> Iterator[LogStore]:
    s = LogStore(":memory:")
    yield s
    s.close()


def client(store: LogStore, engine: ScriptedEngine, config: ApiConfig | None = None) -> TestClient:
    app = create_app(store, CollectorRegistry(), lambda: True, engine=engine, config=config)
    return TestClient(app)


def test_grafana_health_check(store: LogStore) -> None:
    e = ScriptedEngine()
    r = client(store, e).get(
        "/loki/api/v1/query", params={"query": "vector(1)+vector(1)", "time": "4000000000", "direction": "backward"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["data"]["result"] == [{"metric": {}, "value": [4000000000, "2"]}]
    assert e.calls[0][1]["time_ns"] == 4_000_000_000 * NS


@pytest.mark.parametrize(
    ("query", "status", "body"),
    [
        ("!x", 400, "parse error at line 1, col 1: syntax error: unexpected !"),
        ("big", 400, "max entries limit per query exceeded, limit > max_entries_limit (6000 > 5000)"),
        ("slow", 504, "request timed out"),
        ("boom", 500, "internal error"),
    ],
)
def test_errors_are_plain_text_with_lokis_status(store: LogStore, query: str, status: int, body: str) -> None:
    r = client(store, ScriptedEngine()).get("/loki/api/v1/query_range", params={"query": query})
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/plain") and r.text.startswith(body)


def test_param_errors_are_400(store: LogStore) -> None:
    r = client(store, ScriptedEngine()).get("/loki/api/v1/query_range", params={"query": "{}", "limit": "-1"})
    assert (r.status_code, r.text) == (400, "limit must be a positive value")


def test_post_form_and_query_string(store: LogStore) -> None:
    e = ScriptedEngine()
    c = client(store, e)
    r = c.post("/loki/api/v1/series", data={"match[]": ['{a="1"}', '{b="2"}'], "start": "1", "end": "2"})
    assert r.json() == {"status": "success", "data": [{"app": "a"}]}
    assert e.calls[-1][1] == {"matches": ['{a="1"}', '{b="2"}'], "tenant": "default", "start_ns": NS, "end_ns": 2 * NS}
    r = c.post("/loki/api/v1/query_range?query=x", data={"limit": "7"})
    assert e.calls[-1][1]["limit"] == 7 and e.calls[-1][1]["query"] == "x"


@pytest.mark.parametrize("path", ["/loki/api/v1/query_range", "/loki/api/v1/series", "/loki/api/v1/labels"])
def test_form_bodies_over_10_mb_are_400_unparsed(store: LogStore, path: str) -> None:
    """Go's ParseForm stops at 10 MB ("http: POST too large", Loki's 400); declared or chunked, nothing runs."""
    e = ScriptedEngine()
    c = client(store, e)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    big = b"query=" + b"a" * (10 << 20)
    r = c.post(path, content=big, headers=form)
    assert (r.status_code, r.text) == (400, "http: POST too large")
    r = c.post(path, content=iter([big[i : i + 65536] for i in range(0, len(big), 65536)]), headers=form)
    assert (r.status_code, r.text) == (400, "http: POST too large")
    assert e.calls == []
    assert c.post(path, content=big[: 10 << 20], headers=form).status_code == 200


def test_label_endpoints(store: LogStore) -> None:
    c = client(store, ScriptedEngine())
    assert c.get("/loki/api/v1/labels", headers={"X-Scope-OrgID": "t1"}).json()["data"] == ["app", "t1"]
    assert c.get("/loki/api/v1/label").json()["data"] == ["app", "default"]
    assert c.get("/loki/api/v1/label/service_name/values").json() == {"status": "success", "data": ["service_name"]}
    assert c.get("/loki/api/v1/index/stats", params={"query": "{}"}).json() == {
        "streams": 1, "chunks": 1, "entries": 2, "bytes": 11,
    }  # fmt: skip


def test_label_values_of_an_impossible_name_are_empty(store: LogStore) -> None:
    e = ScriptedEngine()
    r = client(store, e).get('/loki/api/v1/label/a"b/values')
    assert r.json() == {"status": "success", "data": []} and e.calls == []


def test_label_answers_are_bounded(store: LogStore) -> None:
    class ManyValues(ScriptedEngine):
        def label_values(self, name: str, **kw: object) -> list[str]:
            return ["a", "b", "c"]

    c = client(store, ManyValues(), ApiConfig(max_label_values=2))
    assert c.get("/loki/api/v1/labels", headers={"X-Scope-OrgID": "t"}).json()["data"] == ["app", "t"]
    assert c.get("/loki/api/v1/label/app/values").json()["data"] == ["a", "b"]
    c = client(store, ManyValues(), ApiConfig(max_label_values=1))
    assert c.get("/loki/api/v1/labels").json()["data"] == ["app"]


def test_interval_thins_log_results(store: LogStore) -> None:
    r = client(store, ScriptedEngine()).get("/loki/api/v1/query_range", params={"query": "{}", "interval": "5"})
    assert [v[1] for v in r.json()["data"]["result"][0]["values"]] == ["one"]


def test_format_query_get_and_post(store: LogStore) -> None:
    def formatter(query: str) -> str:
        if query.startswith("!"):
            raise ParseError("syntax error", 1, 1)
        return query.replace(" ", "")

    app = FastAPI()
    app.include_router(LokiApi(ScriptedEngine(), store, ApiConfig(), ApiMetrics(CollectorRegistry()), lambda: True,
                               formatter=formatter).router())  # fmt: skip
    c = TestClient(app)
    assert c.get("/loki/api/v1/format_query", params={"query": '{a = "b"}'}).json() == {
        "status": "success", "data": '{a="b"}',
    }  # fmt: skip
    assert c.post("/loki/api/v1/format_query", data={"query": "{ }"}).json()["data"] == "{}"
    assert c.get("/loki/api/v1/format_query", params={"query": "!"}).status_code == 400


def test_push_stores_rows_and_counts(store: LogStore) -> None:
    c = client(store, ScriptedEngine())
    body = {"streams": [{"stream": {"service": "api", "env": "eu"}, "values": [["5", "hello", {"trace_id": "t"}]]}]}
    r = c.post("/loki/api/v1/push", json=body, headers={"X-Scope-OrgID": "acme"})
    assert r.status_code == 204
    rows = store.cursor().execute("SELECT tenant, service, labels, trace_id, line, stream FROM logs").fetchall()
    assert rows == [("acme", "api", '{"env":"eu","service_name":"api"}', "t", "hello", "")], "Loki 3's service_name"
    metrics = c.get("/metrics").text
    assert 'observ_push_received_lines_total{tenant="acme"} 1.0' in metrics


def test_push_while_the_store_cannot_write_is_503_and_retry_stores_it(store: LogStore) -> None:
    """A full disk is the server's condition, not the client's: 503, which Loki clients retry, then it lands."""
    c = client(store, ScriptedEngine())
    body = {"streams": [{"stream": {"service": "api"}, "values": [["5", "hello"]]}]}
    store._con.execute("ALTER TABLE logs_hot ADD COLUMN extra INTEGER")  # every insert now fails
    r = c.post("/loki/api/v1/push", json=body)
    assert r.status_code == 503 and r.text.startswith("cannot store the entries now: ")
    assert c.get("/healthz").status_code == 503
    assert 'observ_push_rejected_requests_total{reason="store_unavailable"} 1.0' in c.get("/metrics").text
    store._con.execute("ALTER TABLE logs_hot DROP COLUMN extra")
    assert c.post("/loki/api/v1/push", json=body).status_code == 204
    assert store.count() == 1 and c.get("/healthz").json() == {"status": "ok"}


def test_push_partial_validation_failure_keeps_good_streams(store: LogStore) -> None:
    c = client(store, ScriptedEngine())
    many = {f"l{i:02}": "v" for i in range(16)}  # not `{}`: Loki 3 labels that {service_name="unknown_service"}
    body = {"streams": [{"stream": many, "values": [["1", "x"]]}, {"stream": {"a": "1"}, "values": [["2", "y"]]}]}
    r = c.post("/loki/api/v1/push", json=body)
    assert r.status_code == 400 and r.text.endswith(" has 16 label names; limit 15\n")
    assert store.count() == 1
    assert 'observ_push_discarded_lines_total{reason="max_label_names_per_series"} 1.0' in c.get("/metrics").text


def test_push_parse_error_stores_nothing(store: LogStore) -> None:
    c = client(store, ScriptedEngine())
    body = {"streams": [{"stream": {"a": "1"}, "values": [["2", "y"]]}, {"stream": {"a": "1"}, "values": [[3, "z"]]}]}
    r = c.post("/loki/api/v1/push", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "streams[1].values[0]" in r.text
    assert store.count() == 0


def test_push_body_limit(store: LogStore) -> None:
    config = ApiConfig.model_validate({"push": {"max_body_bytes": 100}})
    r = client(store, ScriptedEngine(), config).post(
        "/loki/api/v1/push", content=b"x" * 101, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413


def test_auth_enabled(store: LogStore) -> None:
    config = ApiConfig(auth=AuthConfig(tokens={"tok": ["t1"]}))
    c = client(store, ScriptedEngine(), config)
    assert c.get("/loki/api/v1/labels").status_code == 401
    assert c.get("/api/v1/services").status_code == 401
    assert c.post("/loki/api/v1/push", json={"streams": []}).status_code == 401
    ok = c.get("/loki/api/v1/labels", headers={"Authorization": "Bearer tok"})
    assert ok.json()["data"] == ["app", "t1"]
    other = {"Authorization": "Bearer tok", "X-Scope-OrgID": "t2"}
    assert c.get("/loki/api/v1/labels", headers=other).status_code == 403
    assert c.get("/ready").status_code == 200 and c.get("/metrics").status_code == 200


def test_request_metrics_by_route(store: LogStore) -> None:
    c = client(store, ScriptedEngine())
    c.get("/loki/api/v1/label/app/values")
    c.get("/loki/api/v1/query_range", params={"query": "!"})
    text = c.get("/metrics").text
    assert 'route="loki_api_v1_label_name_values",status_code="200"' in text
    assert 'route="loki_api_v1_query_range",status_code="400"' in text
    assert route_name("/loki/api/v1/label/{name}/values") == "loki_api_v1_label_name_values"


def test_tail_sends_history_then_new_entries_once(store: LogStore) -> None:
    class Growing(ScriptedEngine):
        def __init__(self) -> None:
            super().__init__()
            self.entries = [LogEntry(NS, "first")]

        def query_range(self, query: str, **kw: object) -> QueryResult:
            self.calls.append(("query_range", {"query": query, **kw}))
            self._check(query)
            start, end = int(kw["start_ns"]), int(kw["end_ns"])  # type: ignore[call-overload]
            picked = [e for e in self.entries if start <= e.ts < end]
            return QueryResult(Streams([StreamResult({"app": "a"}, picked)] if picked else []))

    e = Growing()
    config = ApiConfig.model_validate({"tail": {"poll_interval_s": 0.05}})
    c = client(store, e, config)
    with c.websocket_connect("/loki/api/v1/tail?query=%7Bapp%3D%22a%22%7D&start=0") as ws:
        first = orjson.loads(ws.receive_bytes())
        assert first == {"streams": [{"stream": {"app": "a"}, "values": [[str(NS), "first"]]}]}
        e.entries.append(LogEntry(time.time_ns() - NS, "second"))
        frame = orjson.loads(ws.receive_bytes())
        assert [v[1] for v in frame["streams"][0]["values"]] == ["second"]
    directions = [kw["direction"] for name, kw in e.calls]
    assert directions[0] == "backward" and set(directions[1:]) == {"forward"}


def test_tail_bad_query_is_refused_before_upgrade(store: LogStore) -> None:
    c = client(store, ScriptedEngine())
    with pytest.raises(Exception) as info, c.websocket_connect("/loki/api/v1/tail?query=!x"):
        pass
    assert getattr(info.value, "status_code", None) == 400


class OverlapEngine(ScriptedEngine):
    """Each query holds for a moment and records how many were being evaluated at once."""

    def __init__(self) -> None:
        super().__init__()
        self.running = self.most = 0
        self._lock = threading.Lock()

    def _hold(self) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.2)
        with self._lock:
            self.running -= 1

    def query_range(self, query: str, **kw: object) -> QueryResult:
        self._hold()
        return super().query_range(query, **kw)

    def query_instant(self, query: str, **kw: object) -> QueryResult:
        self._hold()
        return super().query_instant(query, **kw)


@pytest.mark.parametrize("limit", [1, 3, 8])
def test_no_more_queries_are_evaluated_at_once_than_max_concurrent(store: LogStore, limit: int) -> None:
    """Loki's querier.max-concurrent: queries beyond it wait for a free slot (none refused), so ingestion keeps its
    share of the process under query load."""
    engine = OverlapEngine()
    c = client(store, engine, ApiConfig.model_validate({"limits": {"max_concurrent": limit}}))
    paths = [("/loki/api/v1/query_range", {"query": '{app="a"}'}), ("/loki/api/v1/query", {"query": "sum(x)"})]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: c.get(paths[i % 2][0], params=paths[i % 2][1]).status_code, range(16)))
    assert codes == [200] * 16
    assert engine.most <= limit, f"{engine.most} queries at once with max_concurrent {limit}"
    if limit > 1:  # the requests do overlap, so the bound above is not met by accident
        assert engine.most > 1
