"""The ingester loop over two lanes (log batches and span batches) with an in-memory consumer: each topic into
its own store with its own offsets, hostile records rejected with their reason, crashes replayed exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from collectors.log_adapter.sources.otlp.records import log_records, span_records
from observ.bus import BusConfig, Record, TopicPartition
from observ.ingester.ingester import IngestConfig, Ingester
from observ.model import SCHEMA_VERSION, Batch, Entry, Stream
from observ.otlp.logs import OtlpLogRecord
from observ.store.logstore import LogStore
from observ.traces.model import Span, SpanColumns, record_headers
from observ.traces.store import SpanStore
from tests.unit.test_ingest import FakeConsumer, FullDisk
from tests.unit.traces.helpers import span, tid

LOGS, SPANS = "logs-topic", "spans-topic"


def span_record(offset: int, *spans: Span, partition: int = 0, value: bytes | None = None, **headers: bytes) -> Record:
    """A span batch record as the OTLP ambassador produces it."""
    payload = SpanColumns.from_spans(list(spans)).encode() if value is None else value
    hs = dict(record_headers(spans[0].tenant if spans else "t1")) | headers
    return Record(SPANS, partition, offset, b"k", payload, list(hs.items()))


def log_record(offset: int, stream: Stream, entries: list[Entry], source: str = "") -> Record:
    """A log batch record; without a source it is what the ambassador makes of OTLP log records."""
    payload = Batch(stream, source, entries, observed_ts=1).encode()
    return Record(LOGS, 0, offset, stream.id.encode(), payload, [("tenant", stream.tenant.encode()), ("schema", b"1")])


class Crash(BaseException):
    """The process dies here (SIGKILL); nothing after this point happens."""


class Crashing:
    """A store that dies on its first write, before or after its transaction commits."""

    def __init__(self, store: LogStore | SpanStore, when: str) -> None:
        self.store, self.when = store, when

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def write(self, prepared: object) -> object:
        if self.when == "before":
            raise Crash
        self.store.write(prepared)
        raise Crash


class Node:
    """The data folder: a logs store and a spans store, reopened on every 'restart'."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.logs = LogStore(tmp / "observ.duckdb")
        self.spans = SpanStore(tmp / "spans.duckdb")

    def restart(self) -> None:
        self.logs.close()
        self.spans.close()
        self.__init__(self.tmp)  # type: ignore[misc]

    def ingest(self, consumer: FakeConsumer, logs: object = None, spans: object = None, **config: object) -> Ingester:
        """Subscribe, poll everything, write it: one ingester's life up to a clean stop or a crash."""
        cfg = IngestConfig.model_validate({"bus": BusConfig(), "topic": LOGS, "spans_topic": SPANS} | config)
        self.registry = CollectorRegistry()
        ing = Ingester(cfg, logs or self.logs, self.registry, lambda c, g: consumer, spans=spans or self.spans)  # type: ignore[arg-type]
        consumer.subscribe(list(ing.lanes), on_assign=ing._on_assign)
        while True:
            before = dict(consumer.position)
            ing.step()
            if consumer.position == before:
                break
        ing.flush()
        ing._drain()
        return ing


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    yield n
    n.logs.close()
    n.spans.close()


def stored_spans(node: Node) -> list[tuple[str, str, str]]:
    rows = node.spans.cursor().execute("SELECT trace_id, span_id, name FROM spans ORDER BY ALL").fetchall()
    return [tuple(r) for r in rows]


def rejected(store: LogStore | SpanStore) -> list[tuple[str, int, str]]:
    return store.cursor().execute("SELECT topic, record_offset, reason FROM rejected_records ORDER BY ALL").fetchall()


def metric(node: Node, name: str, labels: dict[str, str] | None = None) -> float:
    """A sample of the last ingester's registry."""
    return node.registry.get_sample_value(name, labels or {}) or 0.0


API = Stream(tenant="t1", service="api")


def test_logs_and_spans_of_one_poll_land_in_their_own_stores_with_their_own_offsets(node: Node) -> None:
    records = [
        log_record(0, API, [Entry(ts=1, line="a", start=0, end=2)], source="f"),
        span_record(0, span(1, 1, name="GET"), span(1, 2, start=2)),
        span_record(0, span(2, 1, service="cart"), partition=1),
        log_record(1, API, [Entry(ts=2, line="b", start=2, end=4)], source="f"),
    ]
    consumer = FakeConsumer(records)
    ing = node.ingest(consumer)
    assert consumer.topics == [LOGS, SPANS]
    assert node.logs.count() == 2 and node.spans.count() == 3
    assert node.logs.kafka_offsets(LOGS) == {0: 2} and node.logs.kafka_offsets(SPANS) == {}
    assert node.spans.kafka_offsets(SPANS) == {0: 1, 1: 1} and node.spans.kafka_offsets(LOGS) == {}
    assert consumer.committed == {TopicPartition(LOGS, 0): 2, TopicPartition(SPANS, 0): 1, TopicPartition(SPANS, 1): 1}
    assert [s.name for s in node.spans.trace("t1", tid(1))] == ["GET", "op-2"]
    assert (ing.inserted_total, ing.spans_inserted_total) == (2, 3)
    assert metric(node, "observ_ingested_spans_total", {"tenant": "t1", "service": "unknown_service"}) == 2
    assert metric(node, "observ_ingested_spans_total", {"tenant": "t1", "service": "cart"}) == 1
    assert metric(node, "observ_ingested_lines_total", {"tenant": "t1", "service": "api", "level": ""}) == 2
    assert metric(node, "observ_store_span_rows") == 3 and metric(node, "observ_store_log_rows") == 2
    assert metric(node, "observ_ingest_records_total") == 4


def test_a_restart_resumes_each_topic_from_its_own_store_and_a_resent_span_is_a_counted_duplicate(node: Node) -> None:
    first = [span_record(0, span(1, 1), span(1, 2, start=1))]
    node.ingest(FakeConsumer(first))
    node.restart()
    # the ambassador re-sent span 1.2 (an OTLP client's retry) beside a new one
    consumer = FakeConsumer([*first, span_record(1, span(1, 2, start=1, name="retry"), span(1, 3, start=2))])
    ing = node.ingest(consumer)
    assert stored_spans(node) == [(tid(1), f"{n:016x}", f"op-{n}") for n in (1, 2, 3)]
    assert metric(node, "observ_ingest_duplicate_spans_total") == 1
    assert ing.spans_inserted_total == 1 and metric(node, "observ_store_span_rows") == 3
    assert node.spans.kafka_offsets(SPANS) == {0: 2}


def test_a_group_offset_that_lags_behind_duckdb_replays_nothing_twice(node: Node) -> None:
    records = [span_record(i, span(i, 1), span(i, 2, start=1)) for i in range(5)]
    consumer = FakeConsumer(records)
    node.ingest(consumer)
    node.restart()
    consumer.committed.clear()  # the Kafka commit never happened: only DuckDB knows
    ing = node.ingest(consumer)
    assert node.spans.count() == 10 and ing.spans_inserted_total == 0
    assert metric(node, "observ_ingest_records_total") == 0, "sought to DuckDB's offsets: nothing polled again"


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_around_the_span_write_stores_every_span_once(node: Node, when: str) -> None:
    """`before`: prepared but never written. `after`: DuckDB committed, Kafka's group offset did not move."""
    records = [span_record(i, span(i, 1), span(i, 2, start=1)) for i in range(4)]
    records.insert(2, log_record(0, API, [Entry(ts=5, line="otlp log")]))
    consumer = FakeConsumer(records)
    with pytest.raises(Crash):
        node.ingest(consumer, spans=Crashing(node.spans, when))
    assert consumer.committed.get(TopicPartition(SPANS, 0)) is None
    assert node.spans.count() == (8 if when == "after" else 0)
    node.restart()
    ing = node.ingest(consumer)
    assert node.spans.count() == 8 and node.logs.count() == 1
    assert [(s.trace_id, s.span_id) for s in node.spans.trace("t1", tid(3))] == [(tid(3), "1".zfill(16)),
                                                                             (tid(3), "2".zfill(16))]  # fmt: skip
    assert ing.spans_inserted_total == (0 if when == "after" else 8)
    # Kafka's group offset is informational: after `after` nothing was left to poll, so nothing to commit
    assert consumer.committed.get(TopicPartition(SPANS, 0)) == (None if when == "after" else 4)


def bad_json_values() -> Iterator[tuple[str, bytes, dict[str, bytes], str, str]]:
    """(what, value, headers, reason label, words the stored reason must hold)."""
    good = orjson.loads(SpanColumns.from_spans([span(9, 1), span(9, 2, start=1)]).encode())

    def patched(**kw: object) -> bytes:
        return orjson.dumps(good | kw)

    yield "not JSON", b"\x00{span", {}, "json_invalid", "Invalid JSON"
    yield (
        "a bad hex trace ID",
        patched(trace_id=[tid(9), "XYZ" + tid(9)[3:]]),
        {},
        "string_pattern_mismatch",
        "trace_id[1]",
    )
    yield "a short span ID", patched(span_id=["abc", "0" * 16]), {}, "string_pattern_mismatch", "span_id[0]"
    yield (
        "end before start",
        patched(end_ns=[10, 0], start_ns=[0, 5]),
        {},
        "value_error",
        "span 1: end_ns 0 before start_ns 5",
    )
    yield "a string kind", patched(kind=["server", 0]), {}, "int_type", "kind[0]"
    yield "a start past int64", patched(start_ns=[2**64 - 1, 0]), {}, "less_than_equal", "start_ns[0]"
    yield "a missing column", orjson.dumps({k: v for k, v in good.items() if k != "name"}), {}, "missing", "name"
    yield "a log batch on the span topic", log_record(0, API, [Entry(ts=1, line="x")]).value, {}, "missing", "tenant"
    yield (
        "schema 2",
        SpanColumns.from_spans([span(9, 3)]).encode(),
        {"schema": b"2"},
        "schema",
        "unsupported schema version b'2'",
    )
    other = SpanColumns.from_spans([span(9, 4)]).encode()
    yield (
        "another tenant's header",
        other,
        {"tenant": b"t2"},
        "tenant",
        "tenant header 't2' disagrees with the batch's 't1'",
    )


@pytest.mark.parametrize(("what", "value", "headers", "reason", "words"), list(bad_json_values()),
                         ids=[c[0] for c in bad_json_values()])  # fmt: skip
def test_a_malformed_span_record_is_rejected_with_its_reason_and_its_neighbours_are_stored(
    node: Node, what: str, value: bytes, headers: dict[str, bytes], reason: str, words: str
) -> None:
    records = [span_record(0, span(1, 1)), span_record(1, value=value, **headers), span_record(2, span(2, 1))]
    node.ingest(FakeConsumer(records))
    assert [t for t, *_ in stored_spans(node)] == [tid(1), tid(2)]
    [(topic, offset, why)] = rejected(node.spans)
    assert (topic, offset) == (SPANS, 1) and why.startswith(f"{reason}: ") and words in why, why
    assert metric(node, "observ_ingest_rejected_span_records_total", {"reason": reason}) == 1
    assert metric(node, "observ_ingest_rejected_records_total", {"reason": reason}) == 0, "the log lane's counter"
    assert node.spans.kafka_offsets(SPANS) == {0: 3} and rejected(node.logs) == []


@pytest.mark.parametrize(
    ("what", "patch", "words"),
    [
        ("a stream that is a string", {"stream": "api"}, "AttributeError: the batch's stream (or its labels) is not"),
        ("labels that are a list", {"stream": {"tenant": "t1", "labels": [1]}}, "AssertionError: the batch's stream"),
        ("no line column", {"line": ...}, "KeyError: not an observ v1 log batch: no 'line' field"),
        ("a string timestamp", {"ts": ["noon"]}, "column 'ts'[0] is str, expected int"),
        ("a timestamp past int64", {"ts": [2**64 - 1]}, "column 'ts'[0] = 18446744073709551615 is outside the 64-bit"),
        ("a float timestamp", {"ts": [1.5]}, "column 'ts'[0] is float, expected int"),
        ("a null timestamp", {"ts": [None]}, "column 'ts'[0] is NoneType, expected int"),
        ("a number as line", {"line": [5]}, "column 'line'[0] is int, expected str"),
        ("a null line", {"line": [None]}, "column 'line'[0] is NoneType, expected str"),
        ("an object as line", {"line": [{"msg": "x"}]}, "column 'line'[0] is dict, expected str"),
        ("a string as the line column", {"line": "x"}, "column 'line' is str, expected a list"),
        ("a null level", {"level": [None]}, "column 'level'[0] is NoneType, expected str"),
        ("a null column", {"line": None}, "TypeError"),
        ("a boolean end", {"end": [True]}, "column 'end'[0] is bool, expected int"),
        ("observed_ts past int64", {"observed_ts": 2**64 - 1}, "observed_ts 18446744073709551615 is outside"),
    ],
)
def test_a_hostile_log_batch_is_rejected_not_a_crash_of_the_loop(
    node: Node, what: str, patch: dict[str, object], words: str
) -> None:
    good = orjson.loads(log_record(1, API, [Entry(ts=5, line="x", start=0, end=3)], source="f").value)
    value = {k: v for k, v in (good | patch).items() if v is not ...}  # `...` drops the field
    bad = Record(LOGS, 0, 1, b"k", orjson.dumps(value), [("tenant", b"t1")])
    records = [log_record(0, API, [Entry(ts=1, line="before")]), bad, log_record(2, API, [Entry(ts=2, line="after")])]
    node.ingest(FakeConsumer(records))
    assert [r[0] for r in node.logs.cursor().execute("SELECT line FROM logs ORDER BY ts").fetchall()] == [
        "before",
        "after",
    ]
    [(_, offset, why)] = rejected(node.logs)
    assert offset == 1 and words in why, why


def test_otlp_log_batches_without_a_source_are_stored_once_across_resends_and_a_crash(node: Node) -> None:
    """The ambassador's log batches have no file positions: a re-sent batch (an OTLP client's retry) is
    deduplicated by (stream, ts, line), within a transaction and against the store after a crash."""
    otlp = Stream(tenant="t1", service="checkout", stream="")
    batch = [Entry(ts=10, line="charged", trace_id=tid(1)), Entry(ts=11, line="shipped")]
    records = [log_record(0, otlp, batch), log_record(1, otlp, batch), span_record(0, span(1, 1))]
    consumer = FakeConsumer(records)
    with pytest.raises(Crash):
        node.ingest(consumer, logs=Crashing(node.logs, "after"))
    node.restart()
    consumer.committed.clear()
    consumer.records.append(log_record(2, otlp, [*batch, Entry(ts=12, line="done")]))
    ing = node.ingest(consumer)
    lines = node.logs.cursor().execute("SELECT line, trace_id FROM logs ORDER BY ts").fetchall()
    assert lines == [("charged", tid(1)), ("shipped", ""), ("done", "")]
    assert metric(node, "observ_ingest_duplicate_lines_total") == 2 and ing.inserted_total == 1
    assert node.spans.count() == 1 and rejected(node.logs) == []


def test_a_spans_store_that_cannot_write_is_retried_and_reported_for_health(node: Node) -> None:
    spans = FullDisk(node.spans, failures=2)
    ing = node.ingest(FakeConsumer([span_record(0, span(1, 1))]), spans=spans, write_retry_max_ms=20)
    assert spans.failures == 0 and node.spans.count() == 1
    assert metric(node, "observ_ingest_write_errors_total") == 2
    assert ing.write_error is None
    spans.failures = 1
    assert ing.write_error == "StoreWriteError: No space left on device"


def test_without_a_span_topic_only_the_log_topic_is_read(node: Node) -> None:
    consumer = FakeConsumer([log_record(0, API, [Entry(ts=1, line="a")]), span_record(0, span(1, 1))])
    ing = node.ingest(consumer, spans_topic=None)
    assert list(ing.lanes) == [LOGS] and consumer.topics == [LOGS]
    assert node.spans.count() == 0 and ing.span_metrics is None and ing.spans_inserted_total == 0


def test_the_schema_header_of_log_records_is_still_checked(node: Node) -> None:
    rec = log_record(0, API, [Entry(ts=1, line="a")])
    bad = Record(LOGS, 0, 0, b"k", rec.value, [("schema", b"9")])
    node.ingest(FakeConsumer([bad]))
    assert node.logs.count() == 0 and [r[2] for r in rejected(node.logs)] == [
        f"schema: unsupported schema version b'9' (this ingester reads {SCHEMA_VERSION!r})"
    ]
    assert metric(node, "observ_ingest_rejected_records_total", {"reason": "schema"}) == 1


def test_records_as_the_ambassador_makes_them_are_stored_and_its_resends_are_not(node: Node) -> None:
    """The sidecar's own encoders (`collectors/log_adapter/sources/otlp/records.py`): a retried request is
    produced again, and both copies reach the ingester."""
    shop = Stream(tenant="t1", service="checkout", stream="")
    logs = [OtlpLogRecord(shop, ts=10 + i, line=f"paid {i}", level="info", trace_id=tid(1)) for i in range(5)]
    spans = [span(1, n, start=n) for n in range(1, 6)]
    out = log_records(logs, LOGS, 99, max_items=2, max_bytes=10**6) + span_records(spans, SPANS, 2, 10**6)
    records = [Record(r.topic, 0, i, r.key, r.value, r.headers) for i, r in enumerate(out + out)]
    ing = node.ingest(FakeConsumer(records))
    assert rejected(node.logs) == [] and rejected(node.spans) == []
    lines = node.logs.cursor().execute("SELECT line, level, trace_id FROM logs ORDER BY ts").fetchall()
    assert lines == [(f"paid {i}", "info", tid(1)) for i in range(5)]
    assert [s.span_id for s in node.spans.trace("t1", tid(1))] == [s.span_id for s in spans]
    assert metric(node, "observ_ingest_duplicate_lines_total") == 5
    assert metric(node, "observ_ingest_duplicate_spans_total") == 5
    assert (ing.inserted_total, ing.spans_inserted_total) == (5, 5)
