"""`observ query`'s paging: batches by timestamp, boundary entries never printed twice, the limit respected."""

from __future__ import annotations

import io

import httpx
import orjson
import pytest
from rich.console import Console

from observ.cli.query import LokiClient, QueryFailed, Window, fetch_logs, run_query

NS = 10**9


class FakeLoki:
    """Serves query_range over a fixed list of (ts, line) like Loki: [start, end), limit, direction."""

    def __init__(self, entries: list[tuple[int, str]]) -> None:
        self.entries = entries
        self.requests: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        q = dict(request.url.params)
        self.requests.append(q)
        if q["query"].startswith("sum"):
            body = {"resultType": "matrix", "result": [{"metric": {"a": "b"}, "values": [[1, "2"]]}]}
            return httpx.Response(200, json={"status": "success", "data": body})
        if q["query"] == "bad":
            return httpx.Response(400, text="parse error at line 1, col 1: syntax error")
        start, end, limit = int(q["start"]), int(q["end"]), int(q["limit"])
        forward = q["direction"] == "forward"
        picked = sorted((e for e in self.entries if start <= e[0] < end), reverse=not forward)[:limit]
        values = [[str(ts), line] for ts, line in picked]
        data = {"resultType": "streams", "result": [{"stream": {"app": "a"}, "values": values}] if values else []}
        return httpx.Response(200, json={"status": "success", "data": data})


def client(fake: FakeLoki) -> LokiClient:
    c = LokiClient("http://loki", "t", None)
    c.http = httpx.Client(base_url="http://loki", transport=httpx.MockTransport(fake))
    return c


# 2,500 entries, many sharing timestamps (10 per second), so batch edges fall inside a timestamp.
ENTRIES = [(NS * (i // 10), f"line {i}") for i in range(2500)]
WINDOW = Window(0, NS * 1000)


@pytest.mark.parametrize("direction", ["backward", "forward"])
def test_paging_returns_each_entry_once_up_to_the_limit(direction: str) -> None:
    fake = FakeLoki(ENTRIES)
    got = [e for batch in fetch_logs(client(fake), "{}", WINDOW, 2200, direction, batch=333) for e in batch]
    assert len(got) == 2200 and len({e.line for e in got}) == 2200
    ts = [e.ts for e in got]
    assert ts == sorted(ts, reverse=direction == "backward")
    assert len(fake.requests) > 6


def test_fewer_entries_than_the_limit() -> None:
    got = [e for b in fetch_logs(client(FakeLoki(ENTRIES[:25])), "{}", WINDOW, 1000, "backward", batch=10) for e in b]
    assert len(got) == 25


def test_more_entries_at_one_timestamp_than_a_batch_do_not_loop_forever() -> None:
    same = [(5 * NS, f"x{i}") for i in range(50)] + [(NS, "older")]
    got = [e for b in fetch_logs(client(FakeLoki(same)), "{}", WINDOW, 100, "backward", batch=20) for e in b]
    assert got[-1].line == "older" and len({e.line for e in got}) == len(got)


def test_metric_query_and_errors() -> None:
    out = Console(file=io.StringIO(), width=200)
    err = Console(file=io.StringIO())
    n = run_query(client(FakeLoki([])), "sum(x)", WINDOW, limit=10, direction="backward", step=None, instant=False,
                  output="jsonl", out=out, err=err)  # fmt: skip
    assert n == 1 and orjson.loads(out.file.getvalue()) == {"metric": {"a": "b"}, "time": 1, "value": "2"}  # type: ignore[attr-defined]
    with pytest.raises(QueryFailed, match="400: parse error"):
        run_query(client(FakeLoki([])), "bad", WINDOW, limit=10, direction="backward", step=None, instant=False,
                  output="raw", out=out, err=err)  # fmt: skip


def test_window_parsing() -> None:
    w = Window.parse("5m", None, None, 1000 * NS)
    assert (w.start_ns, w.end_ns) == (700 * NS, 1000 * NS)
    assert Window.parse("1h", "2026-11-25T10:00:00Z", "1764064860", 0).end_ns == 1764064860 * NS
    with pytest.raises(QueryFailed):
        Window.parse("soon", None, None, 0)
