"""Spans store appends: exactly once under Kafka replays, client retries and duplicate span IDs; failed
commits keep nothing; tenants never see each other's spans."""

from __future__ import annotations

import pickle
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from observ.store.config import StoreConfig
from observ.store.hotcold import StoreWriteError
from observ.traces.model import Event, Link, Span
from observ.traces.query import SpanQuery
from observ.traces.store import TOPIC, SpanStore
from tests.unit.traces.helpers import cols, fail_log_writes, sid, span, tid


@pytest.fixture
def store(tmp_path: Path) -> SpanStore:
    return SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=10**9))


def names(store: SpanStore, trace: int, tenant: str = "t1") -> list[tuple[str, int, str]]:
    return [(s.span_id, s.kind, s.name) for s in store.trace(tenant, tid(trace))]


def test_a_replayed_kafka_record_is_stored_once_and_offsets_move(store: SpanStore) -> None:
    record = cols(span(1, 1), span(1, 2, start=3))
    first = store.append([record], offsets={(TOPIC, 0): 11})
    replay = store.append([record], offsets={(TOPIC, 0): 12})
    assert (first.inserted, first.duplicates) == (2, 0)
    assert (replay.inserted, replay.duplicates) == (0, 2)
    assert store.count() == 2
    assert store.kafka_offsets(TOPIC) == {0: 12}


def test_the_first_copy_of_a_span_wins_within_an_append_and_against_the_store(store: SpanStore) -> None:
    res = store.append([cols(span(1, 1, name="first"), span(1, 1, name="second")), cols(span(1, 1, name="third"))])
    assert (res.inserted, res.duplicates) == (1, 2)
    later = store.append([cols(span(1, 1, name="retry with other content", end_ns=99))])
    assert (later.inserted, later.duplicates) == (0, 1)
    assert names(store, 1) == [(sid(1), 0, "first")]


def test_a_copy_is_ignored_after_compaction_too(store: SpanStore) -> None:
    store.append([cols(span(1, 1, name="first"))])
    store.compact()
    assert store.append([cols(span(1, 1, name="late copy"), span(1, 2))]).inserted == 1
    assert names(store, 1) == [(sid(1), 0, "first"), (sid(2), 0, "op-2")]


def test_identity_is_tenant_trace_span_and_kind(store: SpanStore) -> None:
    """Zipkin's client and server spans share one ID: Tempo's combiner keeps both (it dedupes by ID and kind)."""
    res = store.append(
        [
            cols(span(1, 1, kind=3, name="client"), span(1, 1, kind=2, name="server"), span(2, 1)),
            cols(span(1, 1, tenant="t2")),
        ]
    )
    assert (res.inserted, res.duplicates) == (4, 0)
    assert sorted(names(store, 1)) == [(sid(1), 2, "server"), (sid(1), 3, "client")]
    assert res.per_service == {("t1", "unknown_service"): 3, ("t2", "unknown_service"): 1}


def test_a_prepared_append_written_twice_stores_nothing_twice(store: SpanStore) -> None:
    """The ingester retries a write whose outcome it does not know; the retry must not add a copy."""
    prepared = store.prepare([cols(span(1, 1), span(1, 2))], {(TOPIC, 0): 5})
    assert store.write(prepared).inserted == 2
    again = store.write(prepared)
    assert (again.inserted, again.duplicates) == (0, 2)
    assert store.count() == 2


def test_prepared_appends_may_be_written_out_of_order(store: SpanStore) -> None:
    a = store.prepare([cols(span(1, 1, name="a"))])
    b = store.prepare([cols(span(1, 1, name="b"), span(1, 2))])
    assert store.write(b).inserted == 2
    assert store.write(a).inserted == 0
    assert names(store, 1) == [(sid(1), 0, "b"), (sid(2), 0, "op-2")]


def test_a_failed_commit_keeps_nothing_and_the_same_append_can_be_retried(
    store: SpanStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append([cols(span(1, 1))], offsets={(TOPIC, 0): 1})
    prepared = store.prepare([cols(span(2, 1), span(2, 2))], {(TOPIC, 0): 2}, [(TOPIC, 0, 1, "bad", b"x")])
    with monkeypatch.context() as m:
        fail_log_writes(store, m)
        with pytest.raises(StoreWriteError, match="No space left"):
            store.write(prepared)
        assert store.write_error is not None and "No space left" in store.write_error
        assert (store.count(), store.kafka_offsets(TOPIC)) == (1, {0: 1})
        assert store.cursor().execute("SELECT count(*) FROM rejected_records").fetchone() == (0,)
        assert store.trace("t1", tid(2)) == []
    assert store.write(prepared).inserted == 2
    assert store.write_error is None
    assert (store.count(), store.kafka_offsets(TOPIC)) == (3, {0: 2})
    assert store.cursor().execute("SELECT count(*) FROM rejected_records").fetchone() == (1,)


def test_a_bad_offset_fails_the_whole_transaction(store: SpanStore) -> None:
    with pytest.raises(StoreWriteError, match="must be an integer"):
        store.append([cols(span(1, 1))], offsets={(TOPIC, 0): "not-an-int"})  # type: ignore[dict-item]
    assert store.count() == 0
    assert store.kafka_offsets(TOPIC) == {}
    assert store.append([cols(span(1, 1))]).inserted == 1


def test_tenants_never_see_each_others_spans(store: SpanStore) -> None:
    store.append([cols(span(1, 1, tenant="a", attributes={"secret": "a"})), cols(span(1, 2, tenant="b"))])
    store.compact()
    store.append([cols(span(1, 3, tenant="b"))])
    assert [s.span_id for s in store.trace("a", tid(1))] == [sid(1)]
    assert [s.span_id for s in store.trace("b", tid(1))] == [sid(2), sid(3)]
    assert store.trace("c", tid(1)) == []
    assert store.tag_names("b", "span") == {"span": []}


def test_every_field_comes_back_as_it_went_in(store: SpanStore) -> None:
    resource = {"service.name": "cart", "host": {"kvlistValue": {"a": 1}}}
    original = Span(
        tenant="t1", trace_id=tid(7), span_id=sid(2), parent_span_id=sid(1), trace_state="k=v", service="cart",
        name="GET /ünïcode", kind=2, start_ns=2**62, end_ns=2**62 + 5, status_code=2, status_message="boom",
        attributes={"n": -3, "f": 1.5, "b": True, "l": [1, "x", None], "m": {"k": [{}]}, "bin": {"bytesValue": "AAE="},
                    "nan": {"doubleValue": "NaN"}},
        events=[Event(name="exception", time_ns=2**62 + 1, attributes={"exception.type": "E"},
                      dropped_attributes_count=1)],
        links=[Link(trace_id=tid(8), span_id=sid(9), trace_state="", attributes={}, dropped_attributes_count=0,
                    flags=256)],
        resource=resource, scope_name="lib", scope_version="1.0", flags=257, dropped_attributes_count=2**32 - 1,
        dropped_events_count=3, dropped_links_count=4,
    )  # fmt: skip
    store.append([cols(original)])
    assert store.trace("t1", tid(7)) == [original]
    store.compact()
    assert store.trace("t1", tid(7)) == [original]


def test_offsets_spans_and_segments_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    store = SpanStore(path, StoreConfig(compact_rows=10**9))
    store.append([cols(span(1, 1))], offsets={(TOPIC, 3): 42})
    store.compact()
    store.append([cols(span(1, 2))])
    store.close()
    orphan = tmp_path / "span-segments" / "seg-000000000099.parquet"
    orphan.write_bytes(b"unregistered")
    again = SpanStore(path)
    assert again.kafka_offsets(TOPIC) == {3: 42}
    assert [s.span_id for s in again.trace("t1", tid(1))] == [sid(1), sid(2)]
    assert not orphan.exists()
    assert again.append([cols(span(1, 1), span(1, 2))]).inserted == 0


def test_the_logs_store_is_another_file(tmp_path: Path) -> None:
    """Its own file and segment folder beside the logs store's, so neither waits for the other's lock."""
    store = SpanStore(tmp_path / "spans.duckdb")
    store.append([cols(span(1, 1))])
    store.compact()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["span-hot", "span-segments", "spans.duckdb"]
    assert store.cursor().execute("SELECT count(*) FROM spans").fetchone() == (1,)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "must be 1 to 32 hex digits"),
        ("xyz", "'xyz' must be 1 to 32 hex digits"),
        ("0" * 33, "must be 1 to 32 hex digits"),
        ("1' OR '1'='1", "must be 1 to 32 hex digits"),
        ("a" * 10_000, r"'aaaa.*\.\.\. must be"),
    ],
)
def test_trace_refuses_ids_that_are_not_hex(store: SpanStore, bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        store.trace("t1", bad)


def test_trace_reads_short_and_uppercase_ids_as_tempo_does(store: SpanStore) -> None:
    store.append([cols(span(0xABC, 1))])
    assert [s.trace_id for s in store.trace("t1", "ABC")] == [tid(0xABC)]
    assert [s.trace_id for s in store.trace("t1", "0" * 29 + "abc")] == [tid(0xABC)]


def test_huge_values_are_stored_as_they_are(store: SpanStore) -> None:
    big = span(
        1, 1, start=2**63 - 2, end_ns=2**63 - 1, name="n" * 100_000,
        attributes={f"k{i}": "v" * 1000 for i in range(1000)} | {"max": 2**63 - 1, "min": -(2**63)},
    )  # fmt: skip
    store.append([cols(big)])
    store.compact()
    [back] = store.trace("t1", tid(1))
    assert back == big
    assert store.search("t1", SpanQuery(start_ns=2**63 - 2)) != []


def _writers_queued_behind_the_lock(store: SpanStore, appends: list[list[Span]]) -> list[object]:
    """Each append written from a thread of its own, in order, while the writers' lock is held (a commit in
    progress), so all of them queue; then the lock is let go. Their results (or exceptions), in order."""
    results: list[object] = [None] * len(appends)

    def write(i: int) -> None:
        try:
            results[i] = store.write(store.prepare([cols(*appends[i])]))
        except Exception as e:  # the test reads it
            results[i] = e

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(appends))]
    with store._lock:
        for i, t in enumerate(threads):  # one at a time: they queue in this order
            t.start()
            deadline = time.monotonic() + 30
            while len(store._queue) <= i and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(store._queue) == i + 1, results[i]
    for t in threads:
        t.join(30)
    return results


def test_concurrent_writes_commit_together_each_with_its_own_counts(
    store: SpanStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = 0
    assert store._log is not None
    append = store._log.append

    def counted(*args: Any) -> int:
        nonlocal records
        records += 1
        return append(*args)

    monkeypatch.setattr(store._log, "append", counted)
    store.append([cols(span(9, 1))])
    results = _writers_queued_behind_the_lock(
        store,
        [
            [span(1, 1), span(1, 2)],
            [span(1, 2, name="a concurrent retry's copy"), span(2, 1)],
            [span(9, 1, name="copy of a stored span"), span(3, 1)],
            [span(3, 1, tenant="t2")],
        ],
    )
    assert records == 2, "one for the first append, one for the four queued"
    assert [(r.inserted, r.duplicates) for r in results] == [(2, 0), (1, 1), (1, 1), (1, 0)]  # type: ignore[attr-defined]
    assert [r.per_service for r in results] == [  # type: ignore[attr-defined]
        {("t1", "unknown_service"): 2},
        {("t1", "unknown_service"): 1},
        {("t1", "unknown_service"): 1},
        {("t2", "unknown_service"): 1},
    ]
    assert names(store, 1) == [(sid(1), 0, "op-1"), (sid(2), 0, "op-2")], "the first queued copy wins"
    assert store.count() == 6 and store._hot_rows == 6
    assert store._queue == []


def test_a_group_commit_that_fails_fails_every_append_in_it_and_keeps_none(
    store: SpanStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        fail_log_writes(store, m)
        results = _writers_queued_behind_the_lock(store, [[span(1, 1)], [span(2, 1)]])
    assert all(isinstance(r, StoreWriteError) for r in results)
    assert store.count() == 0 and store._hot_keys == set()
    results = _writers_queued_behind_the_lock(store, [[span(1, 1)], [span(2, 1)]])
    assert [r.inserted for r in results] == [1, 1]  # type: ignore[attr-defined]
    assert store.count() == 2


def test_a_copy_of_a_span_compacted_while_its_append_waited_is_still_dropped(
    store: SpanStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segments are asked before the writers' lock; a compaction that lands between that and the commit moves the
    original into a segment the append did not ask, and the commit asks it."""
    store.append([cols(span(1, 1))])
    ask = store._ask_segments

    def ask_then_compact(rows: Any) -> Any:
        asked = ask(rows)
        assert store.compact() is not None  # the original leaves the hot table meanwhile
        return asked

    monkeypatch.setattr(store, "_ask_segments", ask_then_compact)
    result = store.write(store.prepare([cols(span(1, 1, name="a retry's copy"), span(1, 2))]))
    assert (result.inserted, result.duplicates) == (1, 1)
    assert names(store, 1) == [(sid(1), 0, "op-1"), (sid(2), 0, "op-2")]
    assert store.count() == 2


def test_a_copy_of_a_compacted_span_is_found_before_the_lock(store: SpanStore) -> None:
    store.append([cols(span(1, 1))])
    store.compact()
    asked, found = store._ask_segments(store.prepare([cols(span(2, 1), span(1, 1))]).rows)
    assert asked == {s.id for s in store.segments} and found == {1}


def test_a_prepared_append_pickles_whole_as_a_decoder_process_hands_it_back(store: SpanStore) -> None:
    prepared = store.prepare([cols(span(1, 1, tenant="a"), span(1, 1, tenant="a")), cols(span(2, 1, tenant="b"))],
                             {(TOPIC, 0): 3}, [(TOPIC, 0, 2, "bad", b"\x00")])  # fmt: skip
    again = pickle.loads(pickle.dumps(prepared))
    assert again.rows is not None and prepared.rows is not None and again.rows.equals(prepared.rows)
    assert (again.keys, again.offsets, again.rejected) == (prepared.keys, prepared.offsets, prepared.rejected)
    assert (again.duplicates, again.per_service) == (1, {("a", "unknown_service"): 1, ("b", "unknown_service"): 1})
    empty = store.prepare([])
    assert pickle.loads(pickle.dumps(empty)) == empty
    assert store.write(again).inserted == 2
