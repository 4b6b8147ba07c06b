"""Decoded OTLP -> Kafka records as the ingester reads them: cut by count and by encoded size, one tenant per
span record, one stream per log record."""

from __future__ import annotations

from collectors.log_adapter.sources.otlp.records import log_records, span_records
from observ.model import Batch, Stream
from observ.otlp.logs import OtlpLogRecord
from observ.traces.model import Span, SpanColumns

T0 = 1_700_000_000_000_000_000


def spans(n: int, name: str = "op", tenant: str = "acme") -> list[Span]:
    resource = {"service.name": "cart"}
    return [Span(tenant, f"{i + 1:032x}", f"{i + 1:016x}", name, T0, T0 + 1, service="cart", resource=resource)
            for i in range(n)]  # fmt: skip


def test_span_records_are_cut_at_max_items_and_keep_every_span_once() -> None:
    out = span_records(spans(25), "observ.spans", 10, 1 << 20)
    assert [r.count for r in out] == [10, 10, 5]
    decoded = [SpanColumns.decode(r.value) for r in out]
    assert [sid for c in decoded for sid in c.span_id] == [f"{i + 1:016x}" for i in range(25)]
    assert all(c.resources == [{"service.name": "cart"}] for c in decoded), "a shared resource is written once"
    assert {(r.topic, tuple(r.headers)) for r in out} == {("observ.spans", (("tenant", b"acme"), ("schema", b"1")))}
    assert [r.key for r in out] == [c.trace_id[0].encode() for c in decoded]


def test_span_records_are_split_in_halves_below_max_bytes_and_a_huge_span_goes_alone() -> None:
    batch = spans(8, name="n" * 1000)
    out = span_records(batch, "t", 100, 3000)
    assert all(len(r.value) <= 3000 for r in out) and sum(r.count for r in out) == 8
    huge = spans(3)
    huge[1].attributes = {"blob": "x" * 10_000}
    out = span_records(huge, "t", 100, 3000)
    assert [r.count for r in out] == [1, 1, 1] and len(out[1].value) > 10_000


def test_log_records_are_one_source_less_batch_per_stream_in_time_order() -> None:
    cart = Stream(tenant="acme", service="cart", stream="")
    pay = Stream(tenant="acme", service="pay", stream="")
    records = [OtlpLogRecord(cart, T0 + 2, "second", "info", "a" * 32, "b" * 16),
               OtlpLogRecord(pay, T0, "paid", "error"),
               OtlpLogRecord(cart, T0 + 1, "first", "warn")]  # fmt: skip
    out = log_records(records, "observ.logs", T0 + 9, 1000, 1 << 20)
    batches = {b.stream.service: (r, b) for r in out for b in [Batch.decode(r.value)]}
    record, b = batches["cart"]
    assert record.key == cart.id.encode() and record.headers == [("tenant", b"acme"), ("schema", b"1")]
    assert (b.line, b.ts, b.level) == (["first", "second"], [T0 + 1, T0 + 2], ["warn", "info"])
    assert (b.trace_id, b.span_id, b.source, b.observed_ts) == (["", "a" * 32], ["", "b" * 16], "", T0 + 9)
    assert batches["pay"][1].line == ["paid"]


def test_log_records_of_one_stream_are_cut_by_count_and_size() -> None:
    stream = Stream(tenant="t", service="s", stream="")
    records = [OtlpLogRecord(stream, T0 + i, f"line {i} " + "x" * 200) for i in range(30)]
    out = log_records(records, "observ.logs", T0, 12, 1500)
    assert all(len(r.value) <= 1500 for r in out) and all(r.count <= 12 for r in out)
    assert [line for r in out for line in Batch.decode(r.value).line] == [r.line for r in records]
