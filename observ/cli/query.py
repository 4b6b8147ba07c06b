"""`observ query`: run LogQL against a server's Loki API, as logcli does (batched, over HTTP)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from observ.api.loki.params import NS, ParamError, parse_prom_duration, parse_timestamp

Output = Literal["table", "raw", "jsonl"]
BATCH = 1000


class QueryFailed(Exception):
    """The server refused the query (its message), or could not be reached."""


class NotLogs(Exception):
    """The query is a metric query: its first answer is the whole result."""

    def __init__(self, data: dict[str, object]) -> None:
        super().__init__("metric query")
        self.data = data


@dataclass(frozen=True, slots=True)
class Entry:
    ts: int
    labels: dict[str, str]
    line: str

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.ts, orjson.dumps(self.labels, option=orjson.OPT_SORT_KEYS).decode(), self.line)


@dataclass(frozen=True, slots=True)
class Window:
    start_ns: int
    end_ns: int

    @classmethod
    def parse(cls, since: str, start: str | None, end: str | None, now_ns: int) -> Window:
        """`--from/--to` as Loki reads them (RFC3339, seconds, ns); `--since` before `--to` (or now)."""
        try:
            end_ns = parse_timestamp(end or "", now_ns)
            start_ns = parse_timestamp(start or "", min(end_ns, now_ns) - parse_prom_duration(since))
        except ParamError as e:
            raise QueryFailed(f"bad time: {e}") from None
        return cls(start_ns, end_ns)


class LokiClient:
    def __init__(self, addr: str, tenant: str | None, token: str | None, timeout_s: float = 120.0) -> None:
        headers = {}
        if tenant:
            headers["X-Scope-OrgID"] = tenant
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=addr.rstrip("/"), headers=headers, timeout=timeout_s)

    def get(self, path: str, params: dict[str, str | int]) -> dict[str, object]:
        try:
            r = self.http.get(path, params=params)
        except httpx.HTTPError as e:
            raise QueryFailed(f"cannot reach {self.http.base_url}: {e}") from None
        if r.status_code != 200:
            raise QueryFailed(f"{r.status_code}: {r.text.strip()}")
        body = r.json()
        assert isinstance(body, dict)
        return body

    def close(self) -> None:
        self.http.close()


def _entries(result: list[dict[str, object]]) -> list[Entry]:
    out = []
    for s in result:
        labels = s["stream"]
        values = s["values"]
        assert isinstance(labels, dict) and isinstance(values, list)
        for v in values:
            out.append(Entry(int(v[0]), labels, v[1]))
    return out


def fetch_logs(
    client: LokiClient,
    query: str,
    window: Window,
    limit: int,
    direction: str,
    step: str | None = None,
    batch: int = BATCH,
) -> Iterator[list[Entry]]:
    """Entries in `direction` order, in batches, at most `limit`; boundary duplicates dropped (as logcli).

    Raises NotLogs with the answer when the query turns out to be a metric query.
    """
    forward = direction == "forward"
    start, end = window.start_ns, window.end_ns
    boundary: set[tuple[int, str, str]] = set()
    got = 0
    while got < limit:
        size = min(batch, limit - got + len(boundary))
        params: dict[str, str | int] = {"query": query, "start": start, "end": end, "limit": size}
        params["direction"] = direction
        if step:
            params["step"] = step
        data = client.get("/loki/api/v1/query_range", params)["data"]
        assert isinstance(data, dict)
        if data["resultType"] != "streams":
            raise NotLogs(data)
        entries = sorted(_entries(data["result"]), key=lambda e: e.ts, reverse=not forward)
        fresh = [e for e in entries if e.key not in boundary][: limit - got]
        if fresh:
            yield fresh
            got += len(fresh)
        if len(entries) < size or not entries:
            return
        edge = entries[-1].ts
        boundary = {e.key for e in entries if e.ts == edge}
        if not fresh:  # a whole batch at one timestamp: step past it
            edge, boundary = (edge + 1, set()) if forward else (edge - 1, set())
        if forward:
            start = edge
        else:
            end = edge + 1


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def print_logs(batches: Iterable[list[Entry]], output: Output, out: Console) -> int:
    n = 0
    table = Table("time", "labels", "line", show_lines=False, expand=False) if output == "table" else None
    for batch in batches:
        for e in batch:
            n += 1
            if table is not None:
                table.add_row(_time(e.ts), _labels(e.labels), e.line)
            elif output == "raw":
                out.out(e.line, highlight=False)
            else:
                out.out(orjson.dumps({"ts": str(e.ts), "labels": e.labels, "line": e.line}).decode(), highlight=False)
    if table is not None:
        out.print(table)
    return n


def print_samples(data: dict[str, object], output: Output, out: Console) -> int:
    kind = data["resultType"]
    result: Any = data["result"]  # the Loki API's JSON, shaped by `kind`
    rows: list[tuple[dict[str, str], float, str]] = []
    if kind == "matrix":
        rows = [(s["metric"], t, v) for s in result for t, v in s["values"]]
    elif kind == "vector":
        rows = [(s["metric"], s["value"][0], s["value"][1]) for s in result]
    elif kind == "scalar":
        rows = [({}, result[0], result[1])]
    table = Table("metric", "time", "value") if output == "table" else None
    for metric, t, v in rows:
        ts = _time(int(float(t) * NS))
        if table is not None:
            table.add_row(_labels(metric), ts, v)
        elif output == "raw":
            out.out(f"{_labels(metric)} {ts} {v}", highlight=False)
        else:
            out.out(orjson.dumps({"metric": metric, "time": t, "value": v}).decode(), highlight=False)
    if table is not None:
        out.print(table)
    return len(rows)


def run_query(
    client: LokiClient,
    query: str,
    window: Window,
    *,
    limit: int,
    direction: str,
    step: str | None,
    instant: bool,
    output: Output,
    out: Console,
    err: Console,
) -> int:
    """Prints the result; returns how many entries or samples were printed. Raises QueryFailed."""
    if instant:
        with err.status("querying…"):
            data = client.get("/loki/api/v1/query", {"query": query, "time": window.end_ns, "limit": limit})["data"]
        assert isinstance(data, dict)
        return print_samples(data, output, out)
    started = time.monotonic()
    count = 0
    rows: list[Entry] = []
    try:
        with err.status("querying…") as status:
            for batch in fetch_logs(client, query, window, limit, direction, step):
                count += len(batch)
                if output == "table":
                    rows.extend(batch)
                else:
                    print_logs([batch], output, out)
                status.update(f"fetching lines… {count:,} ({time.monotonic() - started:.1f}s)")
    except NotLogs as e:
        return print_samples(e.data, output, out)
    if output == "table":
        print_logs([rows], output, out)
    return count
