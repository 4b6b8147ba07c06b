"""ip() line and label filters over HTTP, on a server of their own (lines with addresses, structured metadata).

Expected answers follow Loki's pkg/logql/internal/logqltest/testdata (line_filters.logqltest,
label_filters.logqltest) and the stage errors of pkg/logql/syntax/ast.go (MultiStageExpr.stages).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from observ.api.config import ApiConfig
from tests.contract.conftest import NS, start_server, stop_server

TENANT = {"X-Scope-OrgID": "net"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, int]]:
    srv, thread, url, store = start_server(tmp_path_factory.mktemp("ip"), ApiConfig())
    t0 = (time.time_ns() // NS - 600) * NS
    lines = ["src 192.168.1.10 ok", "src 10.0.0.9 ok", "no ip here", "addr=2001:db8::1 x", "addr=notanip y"]
    body = {
        "streams": [
            {"stream": {"app": "net"}, "values": [[str(t0 + i * NS), line] for i, line in enumerate(lines)]},
            {
                "stream": {"app": "meta"},
                "values": [
                    [str(t0 + 10 * NS), "x", {"addr": "client 10.0.0.7:80"}],
                    [str(t0 + 11 * NS), "y", {"addr": "192.168.1.5"}],
                ],
            },
        ]
    }
    try:
        with httpx.Client(base_url=url, headers=TENANT, timeout=30) as c:
            r = c.post("/loki/api/v1/push", json=body)
            assert r.status_code == 204, r.text
            yield c, t0
    finally:
        stop_server(srv, thread, store)


def _lines(c: httpx.Client, t0: int, query: str) -> list[str]:
    r = c.get(
        "/loki/api/v1/query_range",
        params={"query": query, "start": str(t0), "end": str(t0 + 60 * NS), "direction": "forward"},
    )
    assert r.status_code == 200, r.text
    return [v[1] for s in r.json()["data"]["result"] for v in s["values"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('{app="net"} |= ip("192.168.1.0/24")', ["src 192.168.1.10 ok"]),
        ('{app="net"} != ip("192.168.1.0/24")', [
            "src 10.0.0.9 ok", "no ip here", "addr=2001:db8::1 x", "addr=notanip y"]),
        ('{app="net"} |= ip("192.168.1.0/24") or ip("10.0.0.0/8") or "no ip"', [
            "src 192.168.1.10 ok", "src 10.0.0.9 ok", "no ip here"]),
        ('{app="net"} |= "src" != ip("10.0.0.1-10.0.0.9")', ["src 192.168.1.10 ok"]),
        ('{app="net"} | logfmt | addr = ip("2001:db8::/32")', ["addr=2001:db8::1 x"]),
        ('{app="net"} | logfmt | addr != ip("2001:db8::/32")', ["addr=notanip y"]),  # lines without addr drop
        ('{app="meta"} | addr = ip("10.0.0.0/8")', ["x"]),  # structured metadata, an address inside the value
    ],
)  # fmt: skip
def test_filters(client: tuple[httpx.Client, int], query: str, expected: list[str]) -> None:
    assert _lines(*client, query) == expected


def test_metric_query(client: tuple[httpx.Client, int]) -> None:
    """A line filter reads the line only: the meta lines hold no address, their metadata does not count."""
    c, t0 = client
    r = c.get(
        "/loki/api/v1/query",
        params={"query": 'sum(count_over_time({app=~".+"} != ip("10.0.0.0/8") [1m]))', "time": str(t0 + 30 * NS)},
    )
    assert r.status_code == 200, r.text
    assert [s["value"][1] for s in r.json()["data"]["result"]] == ["6"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{app="net"} |= ip("bogus")', 'parse error : stage \'|= ip("bogus")\' : ip: invalid pattern: "bogus"'),
        (
            'count_over_time({app="net"} |~ "src" or ip("10.0.0.0/8") [1m])',
            'parse error : stage \'|~ "src" or ip("10.0.0.0/8")\' : ip: invalid operation',
        ),
        ('{app="net"} | logfmt | addr=ip("1.2.3.4/33")', "parse error : stage '| addr=ip(\"1.2.3.4/33\")' : "
         'ip: invalid pattern: "1.2.3.4/33"'),
    ],
)  # fmt: skip
def test_pipeline_refusals(client: tuple[httpx.Client, int], query: str, message: str) -> None:
    c, t0 = client
    r = c.get("/loki/api/v1/query_range", params={"query": query, "start": str(t0), "end": str(t0 + 60 * NS)})
    assert (r.status_code, r.text) == (400, message)


def test_format_query_takes_what_loki_parses(client: tuple[httpx.Client, int]) -> None:
    """Loki refuses a bad ip() pattern when it builds the pipeline, so format_query (a parse) takes it."""
    c, _ = client
    r = c.get("/loki/api/v1/format_query", params={"query": '{app="net"}|addr=ip("bogus")|= ip("::1")'})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == '{app="net"} | addr=ip("bogus") |= ip("::1")'
