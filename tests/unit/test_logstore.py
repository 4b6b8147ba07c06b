"""The store's duplicate filter and offset bookkeeping: the half of exactly-once that lives in DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observ.model import Batch, DecodedBatch, Entry, Stream
from observ.store.logstore import LogStore, StoreWriteError

STREAM = Stream(tenant="t1", service="api", namespace="ns", pod="api-1", container="api", labels=(("app", "api"),))


def batch(lines: range, source: str = "1:2:abc:0", stream: Stream = STREAM) -> DecodedBatch:
    entries = [Entry(ts=1_000 + i, line=f"line {i}", level="info", start=i * 10, end=(i + 1) * 10) for i in lines]
    return Batch.decode(Batch(stream, source, entries, observed_ts=5).encode())


def test_replayed_entries_are_skipped_by_source_position(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    first = store.append([batch(range(0, 10))])
    replay = store.append([batch(range(5, 15))])
    assert (first.inserted, first.duplicates) == (10, 0)
    assert (replay.inserted, replay.duplicates) == (5, 5)
    lines = [r[0] for r in store.cursor().execute("SELECT line FROM logs ORDER BY ts").fetchall()]
    assert lines == [f"line {i}" for i in range(15)]


def test_positions_and_offsets_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    store = LogStore(path)
    store.append([batch(range(0, 3))], offsets={("observ.logs", 0): 42})
    store.close()
    again = LogStore(path)
    assert again.kafka_offsets("observ.logs") == {0: 42}
    assert again.append([batch(range(0, 3))]).inserted == 0
    assert again.count() == 3


def test_sources_and_streams_are_independent(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    other_stream = Stream(tenant="t1", service="api", stream="stderr")
    store.append([batch(range(0, 5))])
    res = store.append([batch(range(0, 5), source="1:2:def:1"), batch(range(0, 5), stream=other_stream)])
    assert res.inserted == 10


def test_columns_and_labels_are_stored(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    store.append([batch(range(0, 1))])
    row = store.cursor().execute("SELECT tenant, service, namespace, pod, labels, ts, observed_ts FROM logs").fetchone()
    assert row == ("t1", "api", "ns", "api-1", '{"app":"api"}', 1000, 5)


def test_failed_transaction_keeps_nothing(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    good = batch(range(0, 3))
    with pytest.raises(StoreWriteError, match="Conversion"):
        store.append([good], offsets={("t", 0): "not-an-int"})  # type: ignore[dict-item]
    assert store.count() == 0
    assert store.kafka_offsets("t") == {}
    assert store.append([good]).inserted == 3


def test_per_stream_counts_feed_the_ingested_lines_counter(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    b = batch(range(0, 4))
    b.level[1] = "error"
    res = store.append([b])
    assert res.per_stream == {("t1", "api", "info"): 3, ("t1", "api", "error"): 1}


# --- replays vs. order: whatever order batches arrive in, each entry is stored exactly once ---------------------------


def stream_of(name: str) -> Stream:
    return Stream(tenant="t1", service="api", pod="api-1", stream=name)


def cut(entries: list[tuple[str, int, int, int]], name: str, read_start: int, sizes: list[int]) -> list[DecodedBatch]:
    """The sidecar's batches of one stream, read from `read_start`: each starts where the last one ended."""
    own = [e for e in entries if e[0] == name]
    out: list[DecodedBatch] = []
    after, i, k = read_start, 0, 0
    while i < len(own):
        part = own[i : i + sizes[k % len(sizes)]]
        i, k = i + len(part), k + 1
        out.append(
            DecodedBatch(
                stream=stream_of(name), source="dev:ino:fp", observed_ts=0, after=after,
                ts=[e[1] for e in part], level=["info"] * len(part), trace_id=[""] * len(part),
                span_id=[""] * len(part), end=[e[3] for e in part], line=[f"{name} {e[3]}" for e in part],
            )
        )  # fmt: skip
        after = part[-1][3]
    return out


entries_st = st.lists(
    st.tuples(st.sampled_from(["stdout", "stderr"]), st.integers(-(10**12), 10**12), st.integers(1, 50)),
    min_size=1,
    max_size=40,
).map(
    lambda raw: [
        (name, ts, sum(n for _, _, n in raw[:i]), sum(n for _, _, n in raw[: i + 1]))
        for i, (name, ts, _) in enumerate(raw)
    ]
)


@settings(max_examples=120, deadline=None)
@given(
    entries=entries_st,
    restarts=st.lists(st.integers(0, 39), max_size=3),
    sizes=st.lists(st.integers(1, 7), min_size=1, max_size=5),
    data=st.data(),
)
def test_every_entry_is_stored_once_whatever_the_timestamps_batching_and_arrival_order(
    entries: list[tuple[str, int, int, int]], restarts: list[int], sizes: list[int], data: st.DataObject
) -> None:
    """Generation 0 ships the whole file; each restart re-reads from an entry's start with other batch sizes;
    every batch may arrive in any order and in appends of any size (polls), timestamps go anywhere."""
    sent: list[DecodedBatch] = []
    for g, first in enumerate([0, *restarts]):
        first = min(first, len(entries) - 1)
        resized = sizes[g % len(sizes) :] + sizes[: g % len(sizes)]
        for name in ("stdout", "stderr"):
            sent.extend(cut(entries[first:], name, entries[first][2], resized))
    arrival = data.draw(st.permutations(sent))
    store = LogStore(":memory:")
    inserted = duplicates = 0
    i = 0
    while i < len(arrival):
        n = data.draw(st.integers(1, 8))
        res = store.append(arrival[i : i + n])
        inserted, duplicates, i = inserted + res.inserted, duplicates + res.duplicates, i + n
    got = sorted(r[0] for r in store.cursor().execute("SELECT line FROM logs").fetchall())
    assert got == sorted(f"{name} {end}" for name, _, _, end in entries)
    assert (inserted, duplicates) == (len(entries), sum(len(b) for b in sent) - len(entries))
    assert all(len(c) == 1 for c in store._coverage.values()), "a fully shipped stream is one range"
    store.close()


def test_backwards_timestamps_in_one_poll_are_not_replays(tmp_path: Path) -> None:
    """Several batches of one source in one append, each older than the one before (a clock step)."""
    store = LogStore(tmp_path / "db.duckdb")
    batches = []
    for k in range(5):
        entries = [
            Entry(ts=10_000 - k * 1_000 + i, line=f"b{k} {i}", start=k * 100 + i * 10, end=k * 100 + i * 10 + 10)
            for i in range(10)
        ]
        batches.append(Batch.decode(Batch(STREAM, "src", entries, after=k * 100).encode()))
    res = store.append(batches)
    assert (res.inserted, res.duplicates) == (50, 0)
    assert store.append(batches).duplicates == 50


def test_a_batch_resent_behind_newer_ones_is_stored_and_a_true_replay_is_not(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    b1, b2, b3 = (batch(range(k * 10, k * 10 + 10)) for k in range(3))
    assert store.append([b1]).inserted == 10
    assert store.append([b3]).inserted == 10  # b2 failed delivery and is re-sent later
    assert store.append([b2]).inserted == 10
    assert store.append([b2, b3]).duplicates == 20
    assert store.count() == 30


def test_interleaved_streams_keep_one_range_each_when_batches_chain(tmp_path: Path) -> None:
    """stdout and stderr lines alternate in one CRI file: `after` bridges the other stream's lines."""
    entries = [("stdout" if i % 2 else "stderr", i, i * 10, i * 10 + 10) for i in range(40)]
    store = LogStore(tmp_path / "db.duckdb")
    for name in ("stdout", "stderr"):
        for b in cut(entries, name, 0, [3]):
            store.append([b])
    assert sorted(len(c) for c in store._coverage.values()) == [1, 1]
    assert store.cursor().execute("SELECT count(*) FROM source_ranges").fetchone() == (2,)


def test_a_version_2_store_keeps_its_positions_as_ranges(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE source_positions (stream_id VARCHAR NOT NULL, source VARCHAR NOT NULL, "
        "end_offset BIGINT NOT NULL, updated_ns BIGINT NOT NULL, PRIMARY KEY (stream_id, source))"
    )
    con.execute("INSERT INTO source_positions VALUES (?, ?, 50, 0)", [STREAM.id, "1:2:abc:0"])
    con.close()
    store = LogStore(path)
    res = store.append([batch(range(0, 10))])
    assert (res.inserted, res.duplicates) == (5, 5)


def test_identical_pushed_entries_are_kept_once_but_metadata_alone_does_not_make_them_different(
    tmp_path: Path,
) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    pushed = batch(range(0, 4), source="")
    pushed.ts[1] = pushed.ts[0]
    pushed.line[1] = pushed.line[0]
    pushed.trace_id[1] = "abc"
    first = store.append([pushed])
    assert (first.inserted, first.duplicates) == (3, 1)
    retry = store.append([batch(range(0, 4), source="")])
    assert (retry.inserted, retry.duplicates) == (1, 3)
    other_line = batch(range(0, 1), source="")
    other_line.line[0] = "same ts, other line"
    assert store.append([other_line]).inserted == 1


def test_a_failed_commit_keeps_nothing_and_the_same_batches_append_later(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "db.duckdb")
    prepared = store.prepare([batch(range(0, 5))])
    store.write(store.prepare([batch(range(5, 6))]))
    store._con.execute("ALTER TABLE logs_hot ADD COLUMN extra INTEGER")  # any error inside the transaction
    with pytest.raises(StoreWriteError):
        store.write(prepared)
    assert store.write_error is not None and store.count() == 1
    store._con.execute("ALTER TABLE logs_hot DROP COLUMN extra")
    assert store.write(prepared).inserted == 5
    assert store.write_error is None and store.count() == 6
