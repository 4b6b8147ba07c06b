"""Hypothesis over HTTP: hostile queries, label values and parameters never cause a 500 or a cross-tenant leak."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observ.gocompat.strconv import go_quote
from tests.contract.conftest import ALPHA, BETA_MARK, Server, window

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

HOSTILE = [
    "'", '"', "\\", "\\\\", '\\"', "' OR 1=1 --", '"; DROP TABLE logs; --', "%", "_", "*", "$1", "{{", "}}",
    "\x00", "\n", "é", "日本", "🙂", "\u202e", "` ", "zz-beta", BETA_MARK, "beta", "tenant", "labels",
]  # fmt: skip
TOKENS = [
    "{", "}", "(", ")", "[", "]", ",", "=", "!=", "=~", "!~", "|=", "!=", "|~", "!~", "|>", "|", "service", "team",
    "tenant", "level", "__error__", '"api"', '".+"', '"(?i)API"', '"a|b"', '""', '"\\\\"', "`raw`", "json",
    "logfmt", "unpack", "regexp", 'pattern "<_> <x>"', "line_format", '"{{.status}}"', "label_format", "drop",
    "keep", "unwrap", "status", "took", "duration(took)", "bytes(x)", "1m", "5m", "1h", "0s", "offset", "by",
    "without", "sum", "avg", "max", "topk", "count_over_time", "rate", "quantile_over_time", "0.99", "vector",
    "1", "-1", "1e308", "NaN", "+Inf", "and", "or", "unless", "bool", "==", ">", "on", "ignoring", "group_left",
    "label_replace", "decolorize", "ip", '"10.0.0.0/8"', ">=", "20MB", "250ms", "sort_desc",
]  # fmt: skip

tokens = st.lists(st.sampled_from(TOKENS + HOSTILE), min_size=1, max_size=14)
queries = st.one_of(
    tokens.map(" ".join),
    tokens.map("".join),
    st.text(max_size=60),
    st.builds(lambda v: f"{{service={go_quote(v)}}} |= {go_quote(v)}", st.text(max_size=20)),
    st.builds(lambda v: f"sum by (team) (count_over_time({{team=~{go_quote(v)}}}[5m]))", st.text(max_size=20)),
)
label_values = st.one_of(st.sampled_from(HOSTILE), st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))


def check(r: httpx.Response) -> None:
    assert r.status_code in (200, 204, 400, 404, 504), (r.status_code, r.text[:500])
    assert BETA_MARK not in r.text


@FUZZ
@given(query=queries)
def test_random_queries(server: Server, query: str) -> None:
    with server.client(**ALPHA) as c:
        for path in ("/loki/api/v1/query_range", "/loki/api/v1/query"):
            check(c.get(path, params={"query": query, **window(server)}))
        check(c.get("/loki/api/v1/labels", params={"query": query}))
        check(c.get("/loki/api/v1/series", params={"match[]": query}))
        check(c.get("/loki/api/v1/index/stats", params={"query": query}))
        check(c.get("/loki/api/v1/format_query", params={"query": query}))
        check(c.get("/loki/api/v1/detected_fields", params={"query": query}))


@FUZZ
@given(value=label_values)
def test_hostile_label_values_in_selectors_and_paths(server: Server, value: str) -> None:
    quoted = go_quote(value)
    with server.client(**ALPHA) as c:
        for q in (
            f"{{service={quoted}}}",
            f"{{team!={quoted}}}",
            f"{{service=~{quoted}}}",
            f'{{service="api"}} |= {quoted}',
        ):
            r = c.get("/loki/api/v1/query_range", params={"query": q, **window(server)})
            check(r)
        check(c.get(f"/loki/api/v1/label/{quote(value, safe='')}/values"))
        check(c.get("/loki/api/v1/label/service/values", params={"query": f"{{service={quoted}}}"}))


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["start", "end", "since", "step", "limit", "direction", "time", "interval"]),
        st.one_of(
            st.sampled_from(["0", "-1", "1e10", "9" * 25, "NaN", "1.5", "1h", "-5m", "", "2023-01-01T00:00:00Z"]),
            st.text(max_size=12),
        ),
    )
)
def test_random_parameters(server: Server, params: dict[str, str]) -> None:
    with server.client(**ALPHA) as c:
        for path in ("/loki/api/v1/query_range", "/loki/api/v1/query"):
            check(c.get(path, params={"query": 'count_over_time({service="api"}[1m])', **params}))
            check(c.get(path, params={"query": '{service="api"}', **params}))
        check(c.get("/loki/api/v1/labels", params=params))


@FUZZ
@given(value=label_values.filter(lambda v: v != ""), line=st.text(max_size=200))
def test_pushed_label_values_come_back_exactly(server: Server, value: str, line: str) -> None:
    tenant = {"X-Scope-OrgID": f"fuzz-{uuid.uuid4().hex[:8]}"}
    with server.client(**tenant) as c:
        body = {"streams": [{"stream": {"job": "fuzz", "v": value}, "values": [[str(window(server)["start"]), line]]}]}
        r = c.post("/loki/api/v1/push", json=body)
        assert r.status_code == 204, r.text
        got = c.get("/loki/api/v1/label/v/values", params=window(server)).json()["data"]
        assert got == [value]
        r = c.get("/loki/api/v1/query_range", params={"query": f"{{v={go_quote(value)}}}", **window(server)})
        assert r.status_code == 200, r.text
        [stream] = r.json()["data"]["result"]
        assert stream["stream"]["v"] == value and stream["values"][0][1] == line
