"""A fixed, seeded corpus for the golden LogQL tests: two tenants, ~11k entries over two hours.

The mix is what real clusters ship: JSON API logs (nested objects, arrays, nulls, durations and
sizes as strings, keys that collide with stream labels or need sanitising), logfmt (escapes,
standalone keys, broken quoting), nginx access logs, Postgres/HDFS text with ANSI colours and SQL
fragments, Promtail-packed lines, unicode and backslashes. Every timestamp is unique across the
corpus so "newest first" and first/last_over_time have exactly one right answer; some sit exactly
on minute boundaries to pin down which side of a range window they fall on.

Every line of the second tenant contains `GLOBEX`, and some of its label values exist only there,
so a result that leaks it is easy to spot.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import cached_property

from observ.model import DecodedBatch, Stream

SEED = 20231114
T0 = 1_700_000_000 * 10**9
"""2023-11-14T22:13:20Z; the corpus spans [T0, T0 + 2h)."""
SECOND = 10**9
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
SPAN = 2 * HOUR
TENANT = "acme"
OTHER_TENANT = "globex"
NGINX_GAP = (T0 + 50 * MINUTE, T0 + 65 * MINUTE)
"""nginx is silent in this window, so absent_over_time has something to report."""

_COLUMN_LABELS = ("service", "namespace", "pod", "container", "stream")


@dataclass(frozen=True, slots=True)
class Row:
    """One stored entry, as the oracle sees it: labels already in Loki's three categories."""

    tenant: str
    ts: int
    stream: dict[str, str]
    """Stream labels: non-empty columns (incl. level) plus the `labels` JSON object."""
    metadata: dict[str, str]
    """Structured metadata: trace_id / span_id when non-empty."""
    line: str


@dataclass(slots=True)
class _Pending:
    stream: Stream
    ts: list[int] = field(default_factory=list)
    level: list[str] = field(default_factory=list)
    trace_id: list[str] = field(default_factory=list)
    span_id: list[str] = field(default_factory=list)
    line: list[str] = field(default_factory=list)


@dataclass
class Corpus:
    rows: list[Row]
    batches: list[DecodedBatch]

    @cached_property
    def by_tenant(self) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        for r in sorted(self.rows, key=lambda r: r.ts):
            out.setdefault(r.tenant, []).append(r)
        return out

    @cached_property
    def timestamps(self) -> dict[str, frozenset[int]]:
        return {t: frozenset(r.ts for r in rows) for t, rows in self.by_tenant.items()}


def trace_pool(rng: random.Random) -> list[str]:
    """The corpus' trace ids: drawn first from the seeded generator, so `trace_pool(random.Random(SEED))`
    gives the same list to queries that need a real trace id."""
    return [f"{rng.getrandbits(128):032x}" for _ in range(40)]


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used: set[int] = set()
        self.pending: dict[Stream, _Pending] = {}
        self.traces = trace_pool(self.rng)

    def times(self, n: int, gap: tuple[int, int] | None = None, boundary_every: int = 0) -> list[int]:
        """`n` unique timestamps in [T0, T0 + 2h), none inside `gap`; some exactly on minute boundaries."""
        out: list[int] = []
        if boundary_every:
            for k in range(0, 120, boundary_every):
                t = T0 + k * MINUTE
                if t not in self.used:
                    self.used.add(t)
                    out.append(t)
        while len(out) < n:
            t = T0 + self.rng.randrange(SPAN)
            if t in self.used or (gap and gap[0] <= t < gap[1]):
                continue
            self.used.add(t)
            out.append(t)
        return sorted(out)

    def trace(self, share: float) -> tuple[str, str]:
        if self.rng.random() >= share:
            return "", ""
        return self.rng.choice(self.traces), f"{self.rng.getrandbits(64):016x}"

    def add(self, stream: Stream, ts: int, line: str, level: str = "", trace: tuple[str, str] = ("", "")) -> None:
        p = self.pending.setdefault(stream, _Pending(stream))
        p.ts.append(ts)
        p.level.append(level)
        p.trace_id.append(trace[0])
        p.span_id.append(trace[1])
        p.line.append(line)


_NAMES = ["alice", "bob", "Zoë", "José", "李雷", "o'brien", 'say "hi"', "back\\slash", "d'Artagnan", "ümit"]
_PATHS = ["/api/v1/users", "/api/v1/orders", "/api/v1/users/42", "/login", "/api/v1/search?q=a%20b", "/healthz"]
_COUNTRIES = ["DE", "US", "FR", "JP", "BR"]


def _latency(rng: random.Random) -> str:
    ms = int(rng.lognormvariate(5.0, 1.1))
    r = rng.random()
    if r < 0.1:
        return f"{ms * 1000 + rng.randrange(1000)}us"
    if ms >= 1000:
        return f"{ms / 1000:.1f}s" if r < 0.9 else f"{ms // 60000}m{(ms // 1000) % 60}s"
    return f"{ms}ms"


def _size(rng: random.Random) -> str:
    return rng.choice(
        [f"{rng.randrange(1, 1000)}B", f"{rng.randrange(1, 90)}KB", f"{rng.randrange(1, 9)}.{rng.randrange(10)}MB",
         f"{rng.randrange(1, 64)}KiB", f"{rng.randrange(1, 5)}MiB"]
    )  # fmt: skip


def _api(g: _Gen, tenant: str, pod: str, n: int, boundary_every: int) -> None:
    rng = g.rng
    labels = (("cluster", "eu-1"), ("team", "core"))
    out = Stream(tenant, "api", "prod", pod, "api", "stdout", labels)
    for ts in g.times(n, boundary_every=boundary_every):
        level = rng.choices(["info", "warn", "error", "debug"], [70, 18, 9, 3])[0]
        status = {
            "info": rng.choice([200, 200, 200, 201, 204, 304]),
            "debug": 200,
            "warn": rng.choice([400, 404, 404, 429]),
            "error": rng.choice([500, 502, 503]),
        }[level]
        doc: dict[str, object] = {
            "level": level,
            "msg": rng.choice(["request handled", "user login", "payment failed: card declined",
                               "query: SELECT * FROM users WHERE name = 'x' OR '1'='1'", "cache miss ✗"]),
            "method": rng.choice(["GET"] * 6 + ["POST"] * 2 + ["PUT", "DELETE"]),
            "path": rng.choice(_PATHS),
            "status": status,
            "latency": _latency(rng),
            "size": _size(rng),
            "bytes": rng.randrange(0, 50_000),
            "user": {"id": rng.randrange(1, 500), "name": rng.choice(_NAMES),
                     "geo": {"country": rng.choice(_COUNTRIES)}},
            "duration_ms": round(rng.lognormvariate(3.0, 1.0), 3),
            "tags": ["a", "b"][: rng.randrange(3)],
            "cached": rng.random() < 0.3,
        }  # fmt: skip
        if tenant == OTHER_TENANT:
            doc["msg"] = "GLOBEX confidential " + str(doc["msg"])
        r = rng.random()
        if r < 0.05:
            doc["service"] = "api-gw"  # collides with a stream label: `service_extracted`
        elif r < 0.08:
            doc["parent"] = None  # null: the json parser adds no label
        elif r < 0.11:
            doc["http.route"] = "/users/:id"  # sanitised to http_route
            doc["x-request-id"] = f"req-{rng.randrange(10**6)}"
        elif r < 0.13:
            doc["trace_id"] = "json-trace"  # parsed as trace_id_extracted: the name is structured metadata
        line = json.dumps(doc, ensure_ascii=False)
        g.add(out, ts, line, level, g.trace(0.7))


def _api_stderr(g: _Gen, n: int) -> None:
    rng = g.rng
    s = Stream(TENANT, "api", "prod", "api-7f9c-1", "api", "stderr", (("cluster", "eu-1"), ("team", "core")))
    for ts in g.times(n):
        if rng.random() < 0.5:
            g.add(s, ts, f"panic: runtime error: index out of range [{rng.randrange(9)}] with length 3", "error")
        else:
            g.add(s, ts, f"goroutine {rng.randrange(1, 99)} [running]:\n\tmain.handler(0xc000{rng.randrange(999)})")


def _web(g: _Gen, n: int) -> None:
    rng = g.rng
    s = Stream(TENANT, "web", "prod", "web-0", "web", "stdout", (("cluster", "us-2"),))
    for ts in g.times(n):
        level = rng.choices(["info", "warn", "error", "debug"], [72, 15, 10, 3])[0]
        status = {"info": rng.choice([200, 200, 201, 302]), "debug": 200, "warn": rng.choice([404, 429]),
                  "error": rng.choice([500, 503])}[level]  # fmt: skip
        method = rng.choice(["GET", "GET", "GET", "POST"])
        dur = rng.choice([f"{rng.randrange(1, 999)}ms", f"{rng.randrange(1, 5)}.{rng.randrange(10)}s"])
        user = rng.choice(["bob", "Zoë K", "anna-lena", "sam o'neil"])
        path = rng.choice(["/index", "/checkout", "/cart", "/search"])
        r = rng.random()
        if r < 0.03:
            line = f'level={level} msg="said \\"hi\\" twice" status={status} duration={dur}'
        elif r < 0.06:
            line = f"level={level} standalone flag status={status} duration={dur}"
        elif r < 0.08:
            line = f'level={level} msg="unterminated status={status}'
        elif r < 0.10:
            line = f"level={level} =oops status={status} duration={dur}"
        elif r < 0.12:
            line = f"level={level} path=/a=b status={status}"
        elif r < 0.13:
            line = f"level={level} 1st=one ünï=code status={status}"
        else:
            q = f'"{user}"' if " " in user or "'" in user else user
            line = (f"level={level} method={method} path={path} status={status} duration={dur} "
                    f"size={_size(rng)} user={q} msg=\"page rendered\"")  # fmt: skip
        g.add(s, ts, line, level, g.trace(0.3))


def _nginx(g: _Gen, n: int) -> None:
    rng = g.rng
    s = Stream(TENANT, "nginx", "prod", "nginx-abc", "nginx", "stdout", (("cluster", "eu-1"),))
    for ts in g.times(n, gap=NGINX_GAP):
        method = rng.choice(["GET"] * 5 + ["POST", "HEAD"])
        status = rng.choices([200, 301, 404, 500], [80, 5, 12, 3])[0]
        line = (f'10.0.{rng.randrange(4)}.{rng.randrange(1, 255)} - - [14/Nov/2023:22:13:21 +0000] '
                f'"{method} {rng.choice(_PATHS)} HTTP/1.1" {status} {rng.randrange(100, 90000)} "-" '
                f'"{rng.choice(["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.4.0", "Go-http-client/1.1"])}"')  # fmt: skip
        g.add(s, ts, line)


def _db(g: _Gen, n: int) -> None:
    rng = g.rng
    s = Stream(TENANT, "db", "data", "db-0", "postgres", "stdout")
    for ts in g.times(n, boundary_every=5):
        pid = rng.randrange(1000, 9999)
        stamp = "2023-11-14 22:13:20.123 UTC"
        kind = rng.choices(range(6), [40, 10, 5, 5, 5, 35])[0]
        if kind == 0:
            line, level = (
                f"{stamp} [{pid}] LOG:  duration: {rng.randrange(1, 900)}.{rng.randrange(1000):03d} ms  "
                f"statement: SELECT * FROM orders WHERE id = {rng.randrange(10**4)}",
                "info",
            )
        elif kind == 1:
            line, level = f'{stamp} [{pid}] ERROR:  relation "orders" does not exist at character 15', "error"
        elif kind == 2:
            line, level = f"{stamp} [{pid}] STATEMENT:  SELECT 1; DROP TABLE logs; --", "error"
        elif kind == 3:
            line, level = "\x1b[31mERROR\x1b[0m checkpoint failed: disk full", "error"
        elif kind == 4:
            line, level = f"\x1b[32mINFO\x1b[0m checkpoint complete: wrote {rng.randrange(999)} buffers", ""
        else:
            line = (f"081109 2036{rng.randrange(10, 60)} {rng.randrange(999)} INFO dfs.DataNode$PacketResponder: "
                    f"PacketResponder 1 for block blk_{rng.getrandbits(60)} terminating")  # fmt: skip
            level = "info"
        g.add(s, ts, line, level)


def _worker(g: _Gen, pod: str, queue: str, n: int) -> None:
    rng = g.rng
    s = Stream(TENANT, "worker", "jobs", pod, "worker", "stdout", (("queue", queue), ("team", "batch")))
    for ts in g.times(n):
        ok = rng.random() < 0.85
        r = rng.random()
        items: object = rng.randrange(0, 40) if r < 0.91 else ("n/a" if r < 0.97 else "1_000")  # Go rejects 1_000
        doc: dict[str, object] = {
            "job": rng.choice(["resize", "thumb", "export"]),
            "job_id": f"j-{rng.randrange(10**6):06d}",
            "duration": rng.choice([f"{rng.randrange(1, 999)}ms", f"{rng.randrange(1, 59)}.{rng.randrange(10)}s",
                                    f"{rng.randrange(1, 4)}m{rng.randrange(60)}s"] * 6
                                   + ["1d", ".5s", "1h0m0s", f"{rng.randrange(1, 999)}µs"]),
            "items": items,
            "payload_size": rng.choice([f"{rng.randrange(1, 999)}KiB",
                                        f"{rng.randrange(1, 4)}.{rng.randrange(10)}MiB"] * 4
                                       + ["1,024KiB", "2 MiB", "0.5GB", f"{rng.randrange(1, 999)}kb"]),
            "status": "ok" if ok else "failed",
            "msg": "job finished" if ok else "job failed: timeout",
        }  # fmt: skip
        r = rng.random()
        if r < 0.03:
            line = '{"job" "resize"}'
        elif r < 0.05:
            line = '{"msg": "cut'
        elif r < 0.09:
            doc["msg"] = "处理完成 ✓"
            line = json.dumps(doc, ensure_ascii=False)
        elif r < 0.12:
            doc["path"] = "C:\\temp\\file.txt"
            line = json.dumps(doc, ensure_ascii=False)
        elif r < 0.135:
            line = json.dumps(doc, ensure_ascii=False) + " trailing"  # jsonparser stops at the closing brace
        elif r < 0.15:
            line = f'{{"job": "{doc["job"]}", "job_id": "{doc["job_id"]}", "broken'  # labels before the error stay
        elif r < 0.16:
            line = '{"job": "thumb", "meta": {"a": 1, "b": oops}, "after": 1}'
        elif r < 0.175:
            line = ('{"job": "export", "ratio": 1.50, "big": 12345678901234567890, "exp": 1E+3, "neg": -0.0, '
                    '"esc": "\\u00e9\\ud83d\\ude00 \\"q\\"", "dup": 1, "dup": 2, "arr": [{"x": 1}], "empty": {}, '
                    '"status": "ok"}')  # fmt: skip
        else:
            line = json.dumps(doc, ensure_ascii=False)
        g.add(s, ts, line, "info" if ok else "error", g.trace(0.5))


def _packed(g: _Gen, n: int) -> None:
    rng = g.rng
    s = Stream(TENANT, "packed", "jobs", "shipper-1", "shipper", "stdout")
    for ts in g.times(n):
        if rng.random() < 0.05:
            g.add(s, ts, "shipper started")
            continue
        doc: dict[str, object] = {
            "_entry": rng.choice(["GET /health 200 ok", "POST /upload 201 created", 'said "hi" ✓']),
            "env": rng.choice(["prod", "prod", "staging"]),
            "pod_ip": f"10.1.1.{rng.randrange(1, 20)}",
        }
        if rng.random() < 0.3:
            doc["retries"] = rng.randrange(5)  # not a string: unpack ignores it
        g.add(s, ts, json.dumps(doc, ensure_ascii=False))


def _billing(g: _Gen, n: int) -> None:
    rng = g.rng
    s = Stream(OTHER_TENANT, "billing", "prod", "billing-0", "billing", "stdout", (("cluster", "ap-9"),))
    for ts in g.times(n):
        line = f'level=info invoice=inv-{rng.randrange(999)} amount={rng.randrange(1, 999)}.50 msg="GLOBEX invoice"'
        g.add(s, ts, line, "info", g.trace(0.5))


def build(seed: int = SEED) -> Corpus:
    g = _Gen(seed)
    _api(g, TENANT, "api-7f9c-1", 1800, boundary_every=7)
    _api(g, TENANT, "api-7f9c-2", 1800, boundary_every=0)
    _api_stderr(g, 150)
    _web(g, 1500)
    _nginx(g, 1500)
    _db(g, 1000)
    _worker(g, "worker-a", "high", 600)
    _worker(g, "worker-b", "low", 600)
    _packed(g, 300)
    _api(g, OTHER_TENANT, "api-7f9c-1", 800, boundary_every=0)
    _billing(g, 700)

    rows: list[Row] = []
    batches: list[DecodedBatch] = []
    for p in g.pending.values():
        order = sorted(range(len(p.ts)), key=p.ts.__getitem__)
        cols = {c: [getattr(p, c)[i] for i in order] for c in ("ts", "level", "trace_id", "span_id", "line")}
        batches.append(
            DecodedBatch(stream=p.stream, source=f"golden-{p.stream.id}", observed_ts=T0 + SPAN,
                         end=list(range(1, len(order) + 1)), **cols)
        )  # fmt: skip
        base = {c: getattr(p.stream, c) for c in _COLUMN_LABELS if getattr(p.stream, c)}
        base |= {k: v for k, v in p.stream.labels if v}
        for ts, level, tid, sid, line in zip(*cols.values(), strict=True):
            stream = dict(base, level=level) if level else dict(base)
            md = {k: v for k, v in (("trace_id", tid), ("span_id", sid)) if v}
            rows.append(Row(p.stream.tenant, ts, stream, md, line))
    return Corpus(rows, batches)
