"""Spans (and OTLP log records) as the ambassador produces them -> real Kafka -> the ingester -> the spans store:
every span once across SIGKILLs and crashes either side of the DuckDB write, malformed records rejected with
their reason while the records around them are stored, traces readable by ID through the Tempo API."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from observ.bus import BusConfig, BusFull, make_producer
from observ.ingester.ingester import IngestConfig, Ingester
from observ.model import Batch, Entry, Stream
from observ.store.logstore import LogStore
from observ.traces.model import Span, SpanColumns, record_headers
from observ.traces.store import SpanStore
from tests.integration.harness import Proc, free_port, ingester, wait_for

pytestmark = pytest.mark.kafka

Message = tuple[bytes, bytes, list[tuple[str, bytes]]]
"""key, value, headers of one record."""


def produce(bootstrap: str, topic: str, messages: list[Message]) -> None:
    """Through observ.bus, as the sidecar does: every record acknowledged before returning."""
    producer = make_producer(BusConfig(bootstrap=bootstrap))
    errors: list[str] = []
    try:
        for key, value, headers in messages:
            while True:
                try:
                    producer.produce(topic, key, value, headers, lambda r: r.error and errors.append(r.error))
                    break
                except BusFull:
                    producer.poll(0.1)
        assert producer.flush(30) == 0 and not errors, errors
    finally:
        producer.close()


def trace(n: int, spans: int = 5, tenant: str = "default") -> list[Span]:
    """A trace of `spans` spans: a root in `frontend`, its children in `checkout`."""
    tid = f"{n:032x}"
    resources = {svc: {"service.name": svc} for svc in ("frontend", "checkout")}
    out = []
    for i in range(1, spans + 1):
        svc = "frontend" if i == 1 else "checkout"
        out.append(
            Span(
                tenant=tenant,
                trace_id=tid,
                span_id=f"{n:08x}{i:08x}",
                name=f"op-{i}",
                start_ns=10**18 + n * 1000 + i,
                end_ns=10**18 + n * 1000 + 500,
                parent_span_id="" if i == 1 else f"{n:08x}{1:08x}",
                service=svc,
                kind=2 if i == 1 else 3,
                resource=resources[svc],
            )
        )
    return out


def span_message(spans: list[Span]) -> Message:
    return spans[0].trace_id.encode(), SpanColumns.from_spans(spans).encode(), record_headers(spans[0].tenant)


def otlp_log_message(n: int) -> Message:
    """Log records received over OTLP: a batch without a source file, as `observ.otlp.logs` groups them."""
    stream = Stream(tenant="default", service="checkout", stream="")
    entries = [Entry(ts=10**18 + n * 10 + i, line=f"log {n}.{i}", level="info", trace_id=f"{n:032x}") for i in range(3)]
    batch = Batch(stream, "", entries, observed_ts=10**18)
    return stream.id.encode(), batch.encode(), [("tenant", b"default"), ("schema", b"1")]


def malformed() -> Iterator[tuple[str, Message]]:
    """(the reason label it must be rejected with, the record)."""
    good = orjson.loads(span_message(trace(900))[1])
    key, hs = b"bad", record_headers("default")
    yield "json_invalid", (key, b'{"v": 1, "tenant": "default", "trace_id": [', hs)
    yield "string_pattern_mismatch", (key, orjson.dumps(good | {"trace_id": ["g" * 32] * 5}), hs)
    yield "value_error", (key, orjson.dumps(good | {"end_ns": [0] * 5}), hs)
    yield "schema", (key, span_message(trace(901))[1], [("tenant", b"default"), ("schema", b"2")])
    yield "tenant", (key, span_message(trace(902))[1], [("tenant", b"intruder"), ("schema", b"1")])


def span_rows(data: Path) -> list[tuple[str, str, int]]:
    """Every span the store holds, as a new process opening it finds them: segments and the replayed hot log."""
    store = SpanStore(data / "spans.duckdb")
    try:
        return store.cursor().execute("SELECT trace_id, span_id, kind FROM spans").fetchall()
    finally:
        store.close()


def assert_each_span_once(data: Path, expected: list[Span]) -> None:
    got = span_rows(data)
    want = {(s.trace_id, s.span_id, s.kind) for s in expected}
    assert len(got) == len(set(got)), f"{len(got) - len(set(got))} spans stored twice"
    assert set(got) == want, f"{len(want - set(got))} missing, {len(set(got) - want)} unexpected"


def test_spans_and_otlp_logs_through_kafka_exactly_once_across_sigkills(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    logs_topic, spans_topic = kafka_topic(partitions=1), kafka_topic(partitions=2)
    ing = ingester(tmp_path, kafka_bootstrap, logs_topic, "--spans-topic", spans_topic)
    ing.start()
    expected: list[Span] = []
    lines = 0
    for step in range(10):
        traces = [trace(step * 100 + k) for k in range(20)]
        messages = [span_message(t) for t in traces]
        messages += messages[:3]  # the ambassador re-sends what it was not sure Kafka had
        produce(kafka_bootstrap, spans_topic, messages)
        produce(kafka_bootstrap, logs_topic, [otlp_log_message(step)] * 2)
        expected += [s for t in traces for s in t]
        lines += 3
        if step in (3, 6):
            wait_for(lambda: ing.metrics().get("observ_store_span_rows", 0) > 0, 60, "the ingester to be mid-stream")
            ing.kill()
            ing.start()
    bad = list(malformed())
    produce(kafka_bootstrap, spans_topic, [m for _, m in bad] + [span_message(trace(999))])
    expected += trace(999)

    def done() -> bool:
        m = ing.metrics()
        rejected = m.get("observ_ingest_rejected_span_records_total", 0)
        return m.get("observ_store_span_rows", 0) >= len(expected) and rejected >= len(bad)

    wait_for(done, 120, f"{len(expected)} spans stored and {len(bad)} records rejected")
    m = ing.metrics()
    assert ing.stop() == 0 and ing.starts == 3
    assert_each_span_once(tmp_path, expected)
    for reason, _ in bad:
        assert m[f"observ_ingest_rejected_span_records_total{{reason={reason}}}"] == 1, reason
    assert m["observ_store_log_rows"] == lines
    logs = LogStore(tmp_path / "observ.duckdb")
    spans = SpanStore(tmp_path / "spans.duckdb")
    try:
        stored = sorted(r[0] for r in logs.cursor().execute("SELECT line FROM logs").fetchall())
        assert stored == sorted(f"log {n}.{i}" for n in range(10) for i in range(3))
        reasons = [r[0] for r in spans.cursor().execute("SELECT reason FROM rejected_records").fetchall()]
        assert sorted(r.split(":")[0] for r in reasons) == sorted(r for r, _ in bad)
        assert any("trace_id[0]: String should match pattern" in r for r in reasons), reasons
        assert any("span 0: end_ns 0 before start_ns" in r for r in reasons), reasons
        assert [(s.span_id, s.service, s.name) for s in spans.trace("default", f"{999:032x}")] == [
            (s.span_id, s.service, s.name) for s in trace(999)
        ]
    finally:
        logs.close()
        spans.close()


class Crash(BaseException):
    """The process dies here: nothing after this point happens."""


class Crashing:
    """The spans store of an ingester that dies on its second write, before or after DuckDB committed it."""

    def __init__(self, store: SpanStore, when: str) -> None:
        self.store, self.when, self.writes = store, when, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def write(self, prepared: object) -> object:
        self.writes += 1
        if self.writes < 2:
            return self.store.write(prepared)  # type: ignore[arg-type]
        if self.when == "after write":
            self.store.write(prepared)  # type: ignore[arg-type]
        raise Crash


def run_in_thread(ing: Ingester) -> tuple[threading.Thread, list[BaseException]]:
    died: list[BaseException] = []

    def run() -> None:
        try:
            ing.run()
        except BaseException as e:  # the test inspects how it died
            died.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, died


@pytest.mark.parametrize(("when", "backend"), [("before write", "confluent"), ("after write", "kafka-python")])
def test_a_crash_either_side_of_the_span_write_stores_every_span_once(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic: Callable[..., str], when: str, backend: str
) -> None:
    """`before write`: prepared, never written. `after write`: in DuckDB, but Kafka's group offset never moved.
    Each with one of the two bus backends."""
    logs_topic, spans_topic = kafka_topic(partitions=1), kafka_topic(partitions=2)
    traces = [trace(n) for n in range(60)]
    produce(kafka_bootstrap, spans_topic, [span_message(t) for t in traces[:30]])
    bus = BusConfig.model_validate({"bootstrap": kafka_bootstrap, "backend": backend})
    config = IngestConfig(bus=bus, topic=logs_topic, spans_topic=spans_topic,
                          group_id=f"g-{spans_topic}", max_poll_records=2, max_batch_rows=5)  # fmt: skip
    logs, spans = LogStore(tmp_path / "observ.duckdb"), SpanStore(tmp_path / "spans.duckdb")
    crashing = Crashing(spans, when)
    first = Ingester(config, logs, CollectorRegistry(), spans=crashing)  # type: ignore[arg-type]
    thread, died = run_in_thread(first)
    thread.join(60)
    first.stop()
    thread.join(30)
    assert [type(e) for e in died] == [Crash], "the ingester must die of the crash"
    stored_before = spans.count()
    assert stored_before > 0 and crashing.writes == 2
    logs.close()
    spans.close()

    produce(kafka_bootstrap, spans_topic, [span_message(t) for t in traces[30:]])
    logs, spans = LogStore(tmp_path / "observ.duckdb"), SpanStore(tmp_path / "spans.duckdb")
    registry = CollectorRegistry()
    second = Ingester(config, logs, registry, spans=spans)
    thread, died = run_in_thread(second)
    try:
        wait_for(lambda: spans.count() >= 300, 90, "every span after the restart")
    finally:
        second.stop()
        thread.join(30)
    assert not died
    assert second.spans_inserted_total == 300 - stored_before
    assert registry.get_sample_value("observ_ingest_duplicate_spans_total") == 0, "replayed only what DuckDB lacked"
    stored = spans.trace("default", traces[17][0].trace_id)
    logs.close()
    spans.close()
    assert_each_span_once(tmp_path, [s for t in traces for s in t])
    assert [s.span_id for s in stored] == [s.span_id for s in traces[17]]


def test_observ_serve_ingests_spans_from_kafka_and_answers_the_trace_by_id(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    logs_topic, spans_topic = kafka_topic(partitions=1), kafka_topic(partitions=1)
    port = free_port()
    serve = Proc(
        [sys.executable, "-m", "observ.cli.main", "serve", "--data", str(tmp_path), "--port", str(port),
         "--bootstrap", kafka_bootstrap, "--topic", logs_topic, "--spans-topic", spans_topic,
         "--group", f"g-{spans_topic}"],
        tmp_path / "serve.log", port,
    )  # fmt: skip
    serve.start()
    t = trace(7)
    produce(kafka_bootstrap, spans_topic, [span_message(t)])
    url = f"http://127.0.0.1:{port}/api/traces/{t[0].trace_id}"
    wait_for(lambda: httpx.get(url, timeout=5).status_code == 200, 60, "the trace through the Tempo API")
    body = httpx.get(url, timeout=5).text.lower()
    assert all(s.span_id in body for s in t), body[:500]
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200, 30, "ready")
    # the counter moves once the ingester's write returns, just after the spans became readable
    key = "observ_ingested_spans_total{service=checkout}"
    wait_for(lambda: serve.metrics().get(key) == 4, 30, "the ingested-spans counter")
    assert serve.stop() == 0
