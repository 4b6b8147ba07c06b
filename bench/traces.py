"""Trace store speed: OTLP -> spans store against DuckDB's own load of the same spans; trace-by-ID and search latency.

    python bench/traces.py [--spans 1000000] [--quick] [--clients 2] [--decoders 2] [--http] [--lookups 300]
                           [--data DIR] [--keep]

Generates (once, cached in <data>/traces-<spans>.otlp) OpenStack-shaped traces: each request of the loghub
OpenStack corpus (method, path, status, response size and time, client address) becomes a call tree across
nova-api, keystone, glance, neutron, the conductor, scheduler and compute services and their MySQL queries,
with compute operations and their log lines (as span events) from the same corpus, 3% failing at a leaf with
an error message from the loghub error lines, 2% slow. The spans are exported as a collector forwards them:
ExportTraceServiceRequest protobuf bodies of 512-2048 spans, in order of their end time, grouped by resource.
Then, in one run:
  1. ingest: every body through the OTLP receiver's path (`TracesReceiver.export_body`: decode, span columns,
     `SpanStore.append` with its dedup and compactions), spans/s, from one client and from --clients at once
     (a fresh store each; the spans store's own defaults, as `observ serve` opens it); with --decoders, also from
     --clients at once through a receiver whose bodies decode in that many processes (`DecoderPool`); with --http
     also POSTed to /v1/traces of a real `observ serve`;
  2. the baseline: the same spans as NDJSON loaded by DuckDB's read_json into an equivalent table, and the ratio;
  3. trace by ID (`SpanStore.trace`, whole traces as Span records) over random stored IDs, p50/p99, as ingested
     (segments + hot table) and after compacting everything, against a point query on the baseline's table;
  4. search (`SpanStore.search`, TraceQL-like SpanQuery): a service, status = error, duration > 1s, an attribute.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import struct
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import corpus  # noqa: E402
from server import serve  # noqa: E402

from observ.api.config import ApiConfig  # noqa: E402
from observ.api.otlp.events import OtlpMetrics  # noqa: E402
from observ.api.otlp.receiver import DecoderPool, TracesReceiver  # noqa: E402
from observ.memory_pool import use_jemalloc  # noqa: E402
from observ.otlp.decode import PROTOBUF  # noqa: E402
from observ.store.config import SPANS_CONFIG, StoreConfig  # noqa: E402
from observ.traces.compact import SpanCompaction  # noqa: E402
from observ.traces.query import AllOf, Condition, SpanQuery  # noqa: E402
from observ.traces.schema import HOT, SPAN_COLUMNS, VIEW  # noqa: E402
from observ.traces.store import SpanStore  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 200)
TENANT = "default"
T0_NS = corpus.T0_NS
MS = 1_000_000
SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL = (
    PbSpan.SPAN_KIND_SERVER, PbSpan.SPAN_KIND_CLIENT, PbSpan.SPAN_KIND_PRODUCER, PbSpan.SPAN_KIND_CONSUMER,
    PbSpan.SPAN_KIND_INTERNAL,
)  # fmt: skip
ERROR = Status.STATUS_CODE_ERROR


# --- the corpus: what OpenStack's own logs say its requests and operations look like -----------------------------

_REQUEST = re.compile(
    r'(?P<client>\d+\.\d+\.\d+\.\d+) "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1" status: (?P<status>\d+) '
    r"len: (?P<size>\d+) time: (?P<time>[\d.]+)"
)
_LOGGER = re.compile(r" (?:INFO|WARNING|ERROR) (?P<logger>nova\.(?:compute|virt)\.\S+) \[[^\]]*\] (?P<message>.+)")
_ERROR = re.compile(r"\b(?:ERROR|FATAL|SEVERE|error|failed|failure|[Ee]xception)\b")
_PROJECT = re.compile(r"/[0-9a-f]{32}")
_UUID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Request:
    """One API request of the OpenStack log: the root span of a trace."""

    service: str
    method: str
    path: str
    route: str
    status: int
    size: int
    seconds: float
    client: str


@dataclass(frozen=True, slots=True)
class Corpus:
    requests: list[Request]
    operations: list[tuple[str, str]]
    """(logger, message) of nova's compute and virt log lines: internal spans of nova-compute and their events."""
    errors: list[tuple[str, str]]
    """(system, line) of the loghub lines that report an error: messages of failing spans."""


def load_corpus() -> Corpus:
    requests, operations, errors = [], [], []
    for system, line in corpus.loghub_lines():
        if system == "openstack":
            m = _REQUEST.search(line)
            if m:
                path = m["path"]
                route = _UUID.sub("/{id}", _PROJECT.sub("/{project_id}", path.split("?", 1)[0]))
                service = "nova-api" if "osapi_compute" in line else "nova-metadata"
                requests.append(Request(service, m["method"], path, route, int(m["status"]), int(m["size"]),
                                        float(m["time"]), m["client"]))  # fmt: skip
                continue
            m = _LOGGER.search(line)
            if m:
                operations.append((m["logger"], m["message"][:300]))
        if _ERROR.search(line):
            errors.append((system, line[:300]))
    return Corpus(requests, operations, errors)


# --- the workload: call trees as the OTel SDKs of these services would report them ---------------------------------

SERVICES = {
    "nova-api": ("openstack", "23.1.0", "opentelemetry.instrumentation.wsgi"),
    "nova-metadata": ("openstack", "23.1.0", "opentelemetry.instrumentation.wsgi"),
    "keystone": ("openstack", "19.0.0", "opentelemetry.instrumentation.flask"),
    "glance-api": ("openstack", "22.1.0", "opentelemetry.instrumentation.wsgi"),
    "neutron-server": ("openstack", "18.2.0", "opentelemetry.instrumentation.wsgi"),
    "nova-conductor": ("openstack", "23.1.0", "opentelemetry.instrumentation.oslo_messaging"),
    "nova-scheduler": ("openstack", "23.1.0", "opentelemetry.instrumentation.oslo_messaging"),
    "nova-compute": ("openstack", "23.1.0", "nova.compute"),
}
PODS = 3
DB_QUERIES = {
    "nova": [("SELECT", "instances", "SELECT instances.* FROM instances WHERE instances.project_id = %s AND "
              "instances.deleted = %s ORDER BY instances.created_at DESC LIMIT %s"),
             ("SELECT", "instance_info_caches", "SELECT instance_info_caches.network_info FROM instance_info_caches "
              "WHERE instance_info_caches.instance_uuid IN (%s)"),
             ("UPDATE", "instances", "UPDATE instances SET updated_at=%s, vm_state=%s, task_state=%s WHERE "
              "instances.uuid = %s"),
             ("INSERT", "instance_actions", "INSERT INTO instance_actions (created_at, action, instance_uuid, "
              "request_id, user_id, project_id) VALUES (%s, %s, %s, %s, %s, %s)")],
    "keystone": [("SELECT", "token", "SELECT token.id, token.expires, token.extra FROM token WHERE token.id = %s")],
    "glance": [("SELECT", "images", "SELECT images.* FROM images WHERE images.id = %s AND images.deleted = false")],
    "neutron": [("SELECT", "ports", "SELECT ports.* FROM ports WHERE ports.device_id IN (%s)"),
                ("INSERT", "ports", "INSERT INTO ports (id, name, network_id, mac_address, device_id) VALUES "
                 "(%s, %s, %s, %s, %s)")],
}  # fmt: skip


def kv(key: str, value: str | int | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


@dataclass(slots=True)
class Node:
    """A span while its trace is built; `span` is filled in when the tree is complete."""

    service: str
    name: str
    kind: int
    start: int
    end: int
    attributes: list[KeyValue]
    parent: Node | None = None
    events: list[PbSpan.Event] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    error: str = ""


class Workload:
    """Deterministic for a seed: the same spans, bodies and order every run."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.corpus = load_corpus()
        self.pods = {s: [f"{s}-{self.rng.getrandbits(32):08x}-{p}" for p in range(PODS)] for s in SERVICES}

    # building blocks ------------------------------------------------------------------------------------------

    def child(self, parent: Node, service: str, name: str, kind: int, share: float, attrs: list[KeyValue]) -> Node:
        """A child starting after its earlier siblings, taking about `share` of the parent's time."""
        r = self.rng
        budget = parent.end - parent.start
        begin = parent.children[-1].end if parent.children else parent.start + int(budget * r.uniform(0.01, 0.05))
        length = max(20_000, int(budget * share * r.uniform(0.5, 1.0)))
        start = min(begin + r.randrange(5_000, 200_000), parent.end - 10_000)
        node = Node(service, name, kind, start, min(start + length, parent.end - 1_000), attrs, parent)
        parent.children.append(node)
        return node

    def http_call(self, parent: Node, service: str, method: str, route: str, path: str, share: float) -> Node:
        """A client span in the caller and the server span of the callee under it."""
        r = self.rng
        host = f"{service}.openstack.svc"
        port = {"keystone": 5000, "glance-api": 9292, "neutron-server": 9696}.get(service, 8774)
        client = self.child(parent, parent.service, f"{method} {route}", CLIENT, share, [
            kv("http.request.method", method), kv("url.full", f"http://{host}:{port}{path}"),
            kv("server.address", host), kv("server.port", port), kv("http.response.status_code", 200),
            kv("network.protocol.version", "1.1"),
        ])  # fmt: skip
        self.child(client, service, f"{method} {route}", SERVER, 0.9, [
            kv("http.request.method", method), kv("url.path", path), kv("http.route", route),
            kv("url.scheme", "http"), kv("server.address", host), kv("server.port", port),
            kv("client.address", f"10.11.{r.randrange(256)}.{r.randrange(256)}"),
            kv("user_agent.original", "python-requests/2.25.1"), kv("http.response.status_code", 200),
            kv("network.protocol.version", "1.1"),
        ])  # fmt: skip
        return client.children[0]

    def db(self, parent: Node, database: str, share: float) -> Node:
        op, table, statement = self.rng.choice(DB_QUERIES[database])
        return self.child(parent, parent.service, f"{op} {database}.{table}", CLIENT, share, [
            kv("db.system", "mysql"), kv("db.name", database), kv("db.operation", op), kv("db.sql.table", table),
            kv("db.statement", statement), kv("server.address", "mysql.openstack.svc"), kv("server.port", 3306),
            kv("db.user", database),
        ])  # fmt: skip

    def message(self, parent: Node, service: str, topic: str, share: float) -> Node:
        """An RPC cast over oslo.messaging (RabbitMQ): producer in the caller, consumer in `service`."""
        attrs = [kv("messaging.system", "rabbitmq"), kv("messaging.destination.name", topic),
                 kv("messaging.message.id", f"{self.rng.getrandbits(64):016x}")]  # fmt: skip
        send = self.child(parent, parent.service, f"{topic} publish", PRODUCER, 0.05, attrs)
        recv = self.child(
            parent, service, f"{topic} process", CONSUMER, share, [*attrs, kv("messaging.operation", "process")]
        )
        recv.start = max(recv.start, send.end)
        return recv

    def operation(self, parent: Node, share: float) -> Node:
        """An internal nova-compute step named after its logger, its log line as an event."""
        logger, text = self.rng.choice(self.corpus.operations)
        node = self.child(parent, "nova-compute", logger.rsplit(".", 1)[-1], INTERNAL, share,
                          [kv("code.namespace", logger), kv("thread.name", "MainThread")])  # fmt: skip
        node.events.append(PbSpan.Event(name="log", time_unix_nano=node.start + (node.end - node.start) // 2,
                                        attributes=[kv("log.severity", "INFO"), kv("log.message", text)]))  # fmt: skip
        return node

    # one trace ------------------------------------------------------------------------------------------------

    def trace(self, start: int) -> list[Node]:
        r = self.rng
        req = r.choice(self.corpus.requests)
        seconds = req.seconds * r.uniform(0.7, 1.3) * (r.uniform(8, 15) if r.random() < 0.02 else 1)
        root = Node(req.service, f"{req.method} {req.route}", SERVER, start, start + max(int(seconds * 1e9), 2 * MS), [
            kv("http.request.method", req.method), kv("url.path", req.path.split("?", 1)[0]),
            kv("url.query", req.path.split("?", 1)[1] if "?" in req.path else ""), kv("http.route", req.route),
            kv("url.scheme", "http"), kv("server.address", "nova-api.openstack.svc"), kv("server.port", 8774),
            kv("client.address", req.client), kv("user_agent.original", "python-novaclient"),
            kv("http.response.status_code", req.status), kv("http.response.body.size", req.size),
            kv("network.protocol.version", "1.1"), kv("openstack.request_id", f"req-{r.getrandbits(128):032x}"),
        ])  # fmt: skip
        auth = self.http_call(root, "keystone", "GET", "/v3/auth/tokens", "/v3/auth/tokens", 0.08)
        self.db(auth, "keystone", 0.6)
        if req.route.endswith("/servers/detail") or req.service == "nova-metadata":
            self.db(root, "nova", 0.1)
            for _ in range(min(int(r.expovariate(1 / 6)) + 1, 60)):
                image = f"{r.getrandbits(128):032x}"
                glance = self.http_call(root, "glance-api", "GET", "/v2/images/{id}", f"/v2/images/{image}", 0.02)
                self.db(glance, "glance", 0.5)
            ports = self.http_call(root, "neutron-server", "GET", "/v2.0/ports", "/v2.0/ports", 0.05)
            self.db(ports, "neutron", 0.5)
        elif req.method == "POST" and req.route.endswith("/servers"):
            self.db(root, "nova", 0.05)
            conductor = self.message(root, "nova-conductor", "conductor.build_instances", 0.7)
            sched = self.message(conductor, "nova-scheduler", "scheduler.select_destinations", 0.2)
            self.db(sched, "nova", 0.3)
            compute = self.message(conductor, "nova-compute", "compute.build_and_run_instance", 0.7)
            glance = self.http_call(compute, "glance-api", "GET", "/v2/images/{id}", "/v2/images/x", 0.05)
            self.db(glance, "glance", 0.5)
            self.db(
                self.http_call(compute, "neutron-server", "POST", "/v2.0/ports", "/v2.0/ports", 0.1), "neutron", 0.4
            )
            for _ in range(r.randrange(3, 12)):
                self.operation(compute, 0.06)
            self.db(compute, "nova", 0.05)
        else:
            for _ in range(r.randrange(1, 4)):
                self.db(root, "nova", 0.2)
            if req.status == 404:
                root.events.append(PbSpan.Event(name="log", time_unix_nano=root.end - MS,
                                                attributes=[kv("log.message", "HTTP exception thrown: No instances "
                                                               "found for any event")]))  # fmt: skip
        nodes = _flatten(root)
        if r.random() < 0.03:
            self.fail(r.choice(nodes[1:]), root)
        return nodes

    def fail(self, leaf: Node, root: Node) -> None:
        """A leaf fails; the error travels up to the root, which answers 500."""
        system, line = self.rng.choice(self.corpus.errors)
        leaf.events.append(PbSpan.Event(name="exception", time_unix_nano=leaf.end, attributes=[
            kv("exception.type", f"{system}.Error"), kv("exception.message", line), kv("exception.escaped", True),
        ]))  # fmt: skip
        node: Node | None = leaf
        while node is not None:
            node.error = line if node is leaf else f"{leaf.service}: {leaf.name} failed"
            node = node.parent
        for i, a in enumerate(root.attributes):
            if a.key == "http.response.status_code":
                root.attributes[i].CopyFrom(kv(a.key, 500))
        root.attributes.append(kv("error.type", "500"))

    # OTLP bodies ----------------------------------------------------------------------------------------------

    def bodies(self, n_spans: int) -> Iterator[bytes]:
        """ExportTraceServiceRequest bodies of 512-2048 spans, spans in end-time order, holding `n_spans` in all."""
        r = self.rng
        pending: list[tuple[int, PbSpan, str]] = []
        made = 0
        clock = T0_NS
        while made < n_spans:
            size = min(r.randrange(512, 2049), n_spans - made)
            while len(pending) < 2 * size and made + len(pending) < n_spans:
                clock += int(r.expovariate(1 / (4 * MS)))
                pending.extend(self.encode(self.trace(clock)))
            pending.sort(key=lambda s: s[0])
            body, pending = pending[:size], pending[size:]
            made += len(body)
            yield self.request(body)

    def encode(self, nodes: list[Node]) -> list[tuple[int, PbSpan, str]]:
        r = self.rng
        trace_id = r.getrandbits(128).to_bytes(16, "big")
        ids = {id(n): r.getrandbits(64).to_bytes(8, "big") for n in nodes}
        out = []
        for n in nodes:
            span = PbSpan(
                trace_id=trace_id, span_id=ids[id(n)], parent_span_id=ids[id(n.parent)] if n.parent else b"",
                name=n.name, kind=n.kind, start_time_unix_nano=n.start, end_time_unix_nano=n.end,
                attributes=n.attributes, events=n.events, flags=0x101 if n.parent else 0x100,
                status=Status(code=ERROR, message=n.error) if n.error else Status(),
            )  # fmt: skip
            pod = self.pods[n.service][trace_id[0] % PODS]
            out.append((n.end, span, pod))
        return out

    def request(self, spans: Sequence[tuple[int, PbSpan, str]]) -> bytes:
        by_pod: dict[str, list[PbSpan]] = defaultdict(list)
        for _, span, pod in spans:
            by_pod[pod].append(span)
        req = ExportTraceServiceRequest()
        for pod, pod_spans in by_pod.items():
            service = pod.rsplit("-", 2)[0]
            namespace, version, scope = SERVICES[service]
            req.resource_spans.append(
                ResourceSpans(
                    resource=Resource(attributes=[
                        kv("service.name", service), kv("service.namespace", namespace),
                        kv("service.version", version), kv("service.instance.id", pod), kv("host.name", pod),
                        kv("k8s.pod.name", pod), kv("k8s.namespace.name", namespace),
                        kv("k8s.node.name", f"cp-{int(pod[-1]) + 1}.slowvm1.tcloud-pg0.utah.cloudlab.us"),
                        kv("deployment.environment.name", "production"), kv("telemetry.sdk.name", "opentelemetry"),
                        kv("telemetry.sdk.language", "python"), kv("telemetry.sdk.version", "1.45.0"),
                    ]),
                    scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope, version="0.56b0"),
                                            spans=pod_spans)],
                    schema_url="https://opentelemetry.io/schemas/1.26.0",
                )
            )  # fmt: skip
        return req.SerializeToString()


def _flatten(root: Node) -> list[Node]:
    out, stack = [], [root]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(n.children))
    return out


# --- the bodies, generated once --------------------------------------------------------------------------------


def cached_bodies(path: Path, n_spans: int) -> list[bytes]:
    """The bodies of `n_spans` spans, from `path` when an earlier run wrote them (4-byte length + body each)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with _progress(f"generating {n_spans:,} spans") as progress, tmp.open("wb") as f:
            task = progress.add_task("", total=n_spans, note="")
            for body in Workload().bodies(n_spans):
                f.write(struct.pack("<I", len(body)) + body)
                progress.advance(task, span_count(body))
        tmp.replace(path)
    data = path.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return out


def span_count(body: bytes) -> int:
    req = ExportTraceServiceRequest.FromString(body)
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def _progress(what: str) -> Progress:
    return Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[note]}"), console=console, transient=True)  # fmt: skip


# --- the measurements ------------------------------------------------------------------------------------------


class TimedStore(SpanStore):
    """A SpanStore that keeps what each compaction took (the receiver's appends trigger them)."""

    compactions: list[SpanCompaction]

    def compact(self) -> SpanCompaction | None:
        result = super().compact()
        if result is not None:
            self.__dict__.setdefault("compactions", []).append(result)
        return result


def ingest(store: SpanStore, bodies: list[bytes], clients: int, decoders: DecoderPool | None = None) -> float:
    """Seconds to take every body through the OTLP receiver's own path, from `clients` senders at once (a server
    answers concurrent requests on a thread pool, as `observ serve` does: one decodes while another commits);
    with `decoders`, the receiver decodes in those processes."""
    receiver = TracesReceiver(store, ApiConfig(), OtlpMetrics(CollectorRegistry()), decoders=decoders)
    with _progress(f"OTLP → SpanStore, {clients} client(s)") as progress:
        task = progress.add_task("", total=len(bodies), note="")

        def send(body: bytes) -> None:
            receiver.export_body(body, PROTOBUF, "", TENANT)
            progress.advance(task)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, bodies))
        return time.perf_counter() - t0


def ingest_pooled(bodies: list[bytes], clients: int, processes: int, work: Path) -> float:
    """`ingest` into a fresh store through a receiver whose bodies decode in `processes` decoder processes, started
    and warmed up (their imports done) before the clock starts."""
    (work / "pooled").mkdir()
    store = SpanStore(work / "pooled" / "spans.duckdb", SPANS_CONFIG)
    try:
        with DecoderPool(processes) as pool:
            pool.wait_ready()
            return ingest(store, bodies, clients, pool)
    finally:
        store.close()
        shutil.rmtree(work / "pooled")


def ingest_http(bodies: list[bytes], clients: int, work: Path) -> float:
    """Seconds to POST every body to /v1/traces of a real `observ serve` (fresh data folder) from `clients` senders,
    each answer checked; the server is stopped afterwards."""
    with serve(work / "http") as (url, _), httpx.Client(base_url=url, timeout=120) as client:
        headers = {"Content-Type": PROTOBUF, "X-Scope-OrgID": TENANT}

        def send(body: bytes) -> None:
            answer = client.post("/v1/traces", content=body, headers=headers)
            if answer.status_code != 200:
                raise SystemExit(f"POST /v1/traces answered {answer.status_code}: {answer.text[:200]}")
            progress.advance(task)

        with _progress(f"OTLP/HTTP → observ serve, {clients} client(s)") as progress:
            task = progress.add_task("", total=len(bodies), note="")
            t0 = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(send, bodies))
            return time.perf_counter() - t0


def baseline_load(store: SpanStore, work: Path) -> tuple[float, int]:
    """The stored spans as NDJSON, then seconds for DuckDB's read_json to load them into an equivalent table
    (the same column types) of a fresh database, checkpoint included; and the NDJSON bytes."""
    ndjson = work / "spans.ndjson"
    cur = store.cursor()
    cur.execute(f"COPY (SELECT * FROM {VIEW}) TO '{ndjson}' (FORMAT json)")
    types = cur.execute(f"DESCRIBE {HOT}").fetchall()
    columns = "{" + ", ".join(f"'{name}': '{typ}'" for name, typ, *_ in types) + "}"
    with duckdb.connect(str(work / "baseline.duckdb")) as con:
        t0 = time.perf_counter()
        con.execute(
            f"CREATE TABLE spans AS SELECT * FROM read_json('{ndjson}', format='newline_delimited', columns={columns})"
        )
        con.execute("CHECKPOINT")
        return time.perf_counter() - t0, ndjson.stat().st_size


def sample_traces(store: SpanStore, n: int) -> list[str]:
    """`n` stored trace IDs spread over the data, the same ones every run."""
    rows = (
        store.cursor().execute(f"SELECT DISTINCT trace_id FROM {VIEW} ORDER BY hash(trace_id) LIMIT ?", [n]).fetchall()
    )
    return [t for (t,) in rows]


@dataclass(frozen=True, slots=True)
class Latency:
    p50_ms: float
    p99_ms: float
    spans: float
    """Mean spans per answer."""


def latency(ids: Sequence[str], fetch: Callable[[str], int]) -> Latency:
    """p50/p99 of `fetch` over the IDs (each once, after one warm-up call); fetch returns how many spans it read."""
    fetch(ids[0])
    times, sizes = [], []
    for tid in ids:
        t0 = time.perf_counter()
        sizes.append(fetch(tid))
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return Latency(statistics.median(times), p99, statistics.fmean(sizes))


def searches() -> dict[str, SpanQuery]:
    """TraceQL-like searches a user of Grafana's Tempo datasource runs, over the whole range."""
    return {
        '{ resource.service.name = "glance-api" }': SpanQuery(
            spansets=[Condition(tag="resource.service.name", op="=", value="glance-api")]
        ),
        "{ status = error }": SpanQuery(spansets=[Condition(tag="status", op="=", value="error")]),
        "{ duration > 1s }": SpanQuery(spansets=[Condition(tag="duration", op=">", value=10**9)]),
        '{ span.http.route = "/v2/{project_id}/servers" && span.http.response.status_code >= 500 }': SpanQuery(
            spansets=[
                AllOf(
                    all=[
                        Condition(tag="span.http.route", op="=", value="/v2/{project_id}/servers"),
                        Condition(tag="span.http.response.status_code", op=">=", value=500),
                    ]
                )
            ]
        ),
        '{ span.db.sql.table = "ports" } && { status = error }': SpanQuery(
            spansets=[
                Condition(tag="span.db.sql.table", op="=", value="ports"),
                Condition(tag="status", op="=", value="error"),
            ]
        ),
    }


def best_of(n: int, fn: Callable[[], int]) -> tuple[float, int]:
    best, found = float("inf"), 0
    for _ in range(n):
        t0 = time.perf_counter()
        found = fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000, found


@dataclass(slots=True)
class Results:
    requests: int = 0
    body_bytes: int = 0
    stored: int = 0
    ingest_s: float = 0.0
    """With `clients` senders."""
    clients: int = 1
    one_client_s: float = 0.0
    decoders: int = 0
    pooled_s: float = 0.0
    """With `clients` senders and `decoders` decoder processes (0: not measured)."""
    http_s: float = 0.0
    """Over real HTTP against `observ serve` (0: not measured)."""
    compactions: list[SpanCompaction] = field(default_factory=list)
    segments_ingested: int = 0
    hot_ingested: int = 0
    baseline_s: float = 0.0
    ndjson_bytes: int = 0
    by_id_baseline: Latency | None = None
    by_id_ingested: Latency | None = None
    by_id_compacted: Latency | None = None
    segments_compacted: int = 0
    searches: dict[str, tuple[float, int]] = field(default_factory=dict)


def run(
    bodies: list[bytes],
    config: StoreConfig,
    work: Path,
    lookups: int,
    best: int,
    clients: int,
    http: bool,
    decoders: int = 0,
) -> Results:
    r = Results(requests=len(bodies), body_bytes=sum(len(b) for b in bodies), clients=clients, decoders=decoders)
    if decoders:
        r.pooled_s = ingest_pooled(bodies, clients, decoders, work)
    if http:
        r.http_s = ingest_http(bodies, clients, work)
        shutil.rmtree(work / "http")
    if clients > 1:
        (work / "one").mkdir()
        one = SpanStore(work / "one" / "spans.duckdb", config)
        r.one_client_s = ingest(one, bodies, 1)
        one.close()
        shutil.rmtree(work / "one")
    store = TimedStore(work / "spans.duckdb", config)
    try:
        r.ingest_s = ingest(store, bodies, clients)
        r.stored = store.count()
        r.compactions = list(store.__dict__.get("compactions", []))
        r.segments_ingested = len(store.segments)
        r.hot_ingested = r.stored - sum(s.rows for s in store.segments)
        with console.status("DuckDB read_json baseline…"):
            r.baseline_s, r.ndjson_bytes = baseline_load(store, work)
        ids = sample_traces(store, lookups)
        with console.status("trace by ID…"):
            select = ", ".join(SPAN_COLUMNS)
            with duckdb.connect(str(work / "baseline.duckdb"), read_only=True) as base:
                r.by_id_baseline = latency(ids, lambda t: len(base.execute(
                    f"SELECT {select} FROM spans WHERE tenant = ? AND trace_id = ? ORDER BY start_ns", [TENANT, t]
                ).fetchall()))  # fmt: skip
            r.by_id_ingested = latency(ids, lambda t: len(store.trace(TENANT, t)))
            store.compact()
            r.segments_compacted = len(store.segments)
            r.by_id_compacted = latency(ids, lambda t: len(store.trace(TENANT, t)))
        with console.status("search…"):
            r.searches = {name: best_of(best, lambda q=q: len(store.search(TENANT, q)))
                          for name, q in searches().items()}  # fmt: skip
    finally:
        store.close()
    return r


def report(r: Results) -> None:
    assert r.by_id_baseline and r.by_id_ingested and r.by_id_compacted
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    size = f"{r.body_bytes / 1e6:.0f} MB protobuf, {r.ndjson_bytes / 1e6:.0f} MB as NDJSON"
    t = Table(title=f"trace store: {r.stored:,} spans in {r.requests:,} OTLP requests ({size}); "
                    f"load average {load} ({os.cpu_count()} cores)")  # fmt: skip
    for col in ("ingest", "seconds", "spans/s", "vs baseline"):
        t.add_column(col, justify="left" if col == "ingest" else "right")
    t.add_row("read_json NDJSON → DuckDB table (baseline)", f"{r.baseline_s:.2f}", f"{r.stored / r.baseline_s:,.0f}",
              "1.00x")  # fmt: skip
    compact_s = sum(c.seconds for c in r.compactions)
    ratio = r.baseline_s / r.ingest_s
    if r.one_client_s:
        t.add_row("OTLP protobuf → SpanStore, 1 client", f"{r.one_client_s:.2f}", f"{r.stored / r.one_client_s:,.0f}",
                  f"{r.baseline_s / r.one_client_s:.2f}x")  # fmt: skip
    if r.http_s:
        t.add_row(f"OTLP/HTTP → observ serve, {r.clients} client(s)", f"{r.http_s:.2f}", f"{r.stored / r.http_s:,.0f}",
                  f"{r.baseline_s / r.http_s:.2f}x")  # fmt: skip
    t.add_row(f"OTLP protobuf → SpanStore, {r.clients} client(s) (incl. {len(r.compactions)} compactions, "
              f"{compact_s:.1f}s)", f"{r.ingest_s:.2f}", f"{r.stored / r.ingest_s:,.0f}", f"{ratio:.2f}x")  # fmt: skip
    if r.pooled_s:
        name = f"OTLP protobuf → SpanStore, {r.clients} client(s), {r.decoders} decoder processes"
        t.add_row(name, f"{r.pooled_s:.2f}", f"{r.stored / r.pooled_s:,.0f}", f"{r.baseline_s / r.pooled_s:.2f}x")
    console.print(t)
    base, ingested, compacted = r.by_id_baseline, r.by_id_ingested, r.by_id_compacted
    t = Table(title=f"trace by ID: whole traces as Span records, {ingested.spans:.0f} spans each on average")
    for col in ("where", "p50 ms", "p99 ms", "p50 vs baseline"):
        t.add_column(col, justify="left" if col == "where" else "right")
    rows = [
        ("baseline: its DuckDB table, WHERE trace_id = ?", base),
        (f"SpanStore as ingested ({r.segments_ingested} segments + {r.hot_ingested:,} hot spans)", ingested),
        (f"SpanStore all compacted ({r.segments_compacted} segments)", compacted),
    ]
    for name, lat in rows:
        t.add_row(name, f"{lat.p50_ms:.1f}", f"{lat.p99_ms:.1f}", f"{base.p50_ms / lat.p50_ms:.2f}x")
    console.print(t)
    t = Table(title="search (SpanStore.search over the whole range, 20 newest traces, best of runs)")
    for col in ("TraceQL", "ms", "traces"):
        t.add_column(col, justify="left" if col == "TraceQL" else "right")
    for name, (ms, found) in r.searches.items():
        t.add_row(name, f"{ms:.1f}", str(found))
    console.print(t)
    worst = max(ingested.p50_ms, compacted.p50_ms)
    pooled = f", {r.baseline_s / r.pooled_s:.2f}x with {r.decoders} decoder processes" if r.pooled_s else ""
    console.print(f"ingest {ratio:.2f}x the baseline with {r.clients} client(s){pooled} (target >= 0.5x); "
                  f"trace by ID p50 <= {worst:.1f} ms at {r.stored:,} spans (target <= 50 ms)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, help="spans to generate and ingest (default 1,000,000; 20,000 --quick)")
    ap.add_argument("--quick", action="store_true", help="a small run: 50 lookups, compaction every quarter")
    ap.add_argument("--lookups", type=int, default=300, help="random trace IDs fetched per trace-by-ID row")
    ap.add_argument("--clients", type=int, default=2, help="concurrent OTLP senders (1 = no single-client row)")
    ap.add_argument("--decoders", type=int, default=2, help="decoder processes of the pooled row (0 = no such row)")
    ap.add_argument("--http", action="store_true", help="also POST every body to a real `observ serve`")
    ap.add_argument("--best-of", type=int, default=3, help="runs per search, the best counted")
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / ".data", help="where generated bodies are cached")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (store, NDJSON, baseline)")
    args = ap.parse_args(argv)
    use_jemalloc()  # as `observ serve` runs
    n = args.spans if args.spans is not None else (20_000 if args.quick else 1_000_000)
    if n < 100:
        ap.error(f"--spans {n}: at least 100 spans (one OTLP request holds 512 to 2048)")
    lookups = min(args.lookups, 50) if args.quick else args.lookups
    config = SPANS_CONFIG.model_copy(update={"compact_rows": n // 4}) if args.quick else SPANS_CONFIG
    bodies = cached_bodies(args.data / f"traces-{n}.otlp", n)
    work = Path(tempfile.mkdtemp(prefix="observ-bench-traces-"))
    try:
        results = run(bodies, config, work, lookups, args.best_of, args.clients, args.http, args.decoders)
    finally:
        if args.keep:
            console.print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(results)


if __name__ == "__main__":
    main()
