"""The relation the LogQL engine reads: prunes by hints, never a segment holding a match; consistent snapshots."""

from __future__ import annotations

import re
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observ.model import DecodedBatch, Stream
from observ.store.config import StoreConfig
from observ.store.logstore import _COLUMNS, LogStore
from observ.store.relation import ScanHints, regex_needles

FAR = 2**63 - 1


def rows_batch(service: str, rows: list[tuple[int, str, str]], tenant: str = "t1") -> DecodedBatch:
    """(ts, trace_id, line) rows of one stream, pushed without a source (no position dedup)."""
    return DecodedBatch(
        stream=Stream(tenant=tenant, service=service),
        source="",
        observed_ts=0,
        ts=[r[0] for r in rows],
        level=[""] * len(rows),
        trace_id=[r[1] for r in rows],
        span_id=[""] * len(rows),
        end=[0] * len(rows),
        line=[r[2] for r in rows],
    )


def lines_of(store: LogStore, hints: ScanHints, where: str = "true", params: list[object] | None = None) -> list[str]:
    rel = store.relation(hints)
    sql = f"SELECT line FROM {rel.sql} AS l WHERE tenant = ? AND ts >= ? AND ts < ? AND {where} ORDER BY line"
    cur = store.cursor()
    rows = cur.execute(sql, [*rel.params, hints.tenant, hints.start_ns, hints.end_ns, *(params or [])]).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    """Three services, two compactions (six segments) and a few hot rows."""
    s = LogStore(tmp_path / "observ.duckdb", StoreConfig(segment_min_rows=1))
    for round_, base in enumerate((0, 1_000)):
        for svc in ("api", "db", "web"):
            rows = [
                (base + i, f"{svc}-trace-{round_}" if i == 3 else "", f"{svc} order {base + i:05d} ok")
                for i in range(100)
            ]
            s.append([rows_batch(svc, rows)])
        s.compact()
    s.append([rows_batch("api", [(5_000, "", "api order hot ok")])])
    return s


def test_relation_has_exactly_the_columns_of_logs(store: LogStore) -> None:
    rel = store.relation(ScanHints("t1", 0, FAR))
    cur = store.cursor()
    cur.execute(f"SELECT * FROM {rel.sql} AS l LIMIT 0", rel.params)
    assert tuple(d[0] for d in cur.description) == _COLUMNS
    assert (rel.segments_scanned, rel.segments_skipped) == (6, 0)


@pytest.mark.parametrize(
    ("hints", "scanned"),
    [
        (ScanHints("t1", 0, FAR), 6),
        (ScanHints("t1", 1_000, FAR), 3),
        (ScanHints("t1", 0, 1_000), 3),
        (ScanHints("t1", 99, 1_000), 3),
        (ScanHints("t1", 100, 1_000), 0),
        (ScanHints("t1", 0, FAR, services=frozenset({"db"})), 2),
        (ScanHints("t1", 0, FAR, services=frozenset({"nope"})), 0),
        (ScanHints("t1", 0, FAR, trace_ids=frozenset({"web-trace-1"})), 1),
        (ScanHints("t1", 0, FAR, trace_ids=frozenset({"web-trace-1", "api-trace-0"})), 2),
        (ScanHints("t1", 0, FAR, trace_ids=frozenset()), 0),
        (ScanHints("t1", 0, FAR, needles=("no such line here",)), 0),
        (ScanHints("t1", 0, FAR, needles=("order 01042 ok", "no such line here")), 0),
        (ScanHints("t1", 0, FAR, needles=("order 0",)), 6),
        (ScanHints("t2", 0, FAR), 0),
    ],
)
def test_segments_are_pruned_by_hints(store: LogStore, hints: ScanHints, scanned: int) -> None:
    rel = store.relation(hints)
    assert (rel.segments_scanned, rel.segments_skipped) == (scanned, 6 - scanned)


def test_pruned_relation_returns_what_the_full_one_does(store: LogStore) -> None:
    needle = "db order 01042"
    hints = ScanHints("t1", 0, FAR, needles=(needle,))
    assert 1 <= store.relation(hints).segments_scanned < 6
    assert lines_of(store, hints, "contains(line, ?)", [needle]) == ["db order 01042 ok"]
    traced = ScanHints("t1", 0, FAR, trace_ids=frozenset({"web-trace-1"}))
    assert lines_of(store, traced, "trace_id = ?", ["web-trace-1"]) == ["web order 01003 ok"]
    assert lines_of(store, ScanHints("t1", 0, FAR, services=frozenset({"api"})), "service = 'api'")[-1] == (
        "api order hot ok"
    )


# --- never prunes a segment holding a match ------------------------------------------------------------------------

ALPHABET = "0123456789abcdef-: x"
line_st = st.text(alphabet=ALPHABET, min_size=0, max_size=24)
row_st = st.tuples(st.integers(0, 50), st.sampled_from(["", "t-a", "t-b", "t-c"]), line_st)
data_st = st.lists(
    st.tuples(st.sampled_from(["api", "db", "web"]), st.lists(row_st, min_size=1, max_size=12)), min_size=1, max_size=6
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data_st, st.data())
def test_no_segment_holding_a_match_is_pruned(
    data: list[tuple[str, list[tuple[int, str, str]]]], draw: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as d:
        s = LogStore(Path(d) / "observ.duckdb", StoreConfig(segment_min_rows=1, gram_k=3, gram_window=2))
        # every other batch is compacted on its own: several segments per service, overlapping in time
        for i, (svc, rows) in enumerate(data):
            s.append([rows_batch(svc, rows)])
            if i % 2 == 0:
                s.compact()
        # identical pushed entries (stream, ts, line) are stored once: the first copy's trace id stays
        first: dict[tuple[str, int, str], tuple[str, int, str, str]] = {}
        for svc, rows in data:
            for r in rows:
                first.setdefault((svc, r[0], r[2]), (svc, *r))
        everything = list(first.values())
        start = draw.draw(st.integers(0, 50))
        end = draw.draw(st.integers(start, 51))
        services = draw.draw(st.none() | st.frozensets(st.sampled_from(["api", "db", "web", "x"])))
        traces = draw.draw(st.none() | st.frozensets(st.sampled_from(["t-a", "t-b", "t-c", "t-z"])))
        pool = [r[3] for r in everything] + ["zzzz", "ffff-9"]
        needles = tuple(
            draw.draw(st.lists(st.sampled_from(pool).flatmap(lambda ln: st.just(ln[len(ln) // 4 :])), max_size=2))
        )
        hints = ScanHints("t1", start, end, services, traces, needles)

        def matches(svc: str, ts: int, trace: str, line: str) -> bool:
            return (
                start <= ts < end
                and (services is None or svc in services)
                and (traces is None or trace in traces)
                and all(n in line for n in needles)
            )

        rel = s.relation(hints)
        cur = s.cursor()
        for seg in s.segments:  # the relation reads the files it kept by path, quoted
            held = cur.execute("SELECT service, ts, trace_id, line FROM read_parquet(?)", [seg.path]).fetchall()
            if any(matches(*r) for r in held):
                assert f"'{seg.path}'" in rel.sql, (seg, hints)
        want = sorted(r[3] for r in everything if matches(*r))
        got = [
            r[0]
            for r in cur.execute(
                f"SELECT line, service, trace_id FROM {rel.sql} AS l WHERE tenant = 't1' AND ts >= ? AND ts < ? "
                "ORDER BY line",
                [*rel.params, start, end],
            ).fetchall()
            if (services is None or r[1] in services)
            and (traces is None or r[2] in traces)
            and all(n in r[0] for n in needles)
        ]
        assert got == want
        s.close()


# --- snapshots -------------------------------------------------------------------------------------------------------


def test_a_relation_built_before_a_compaction_still_sees_every_row(tmp_path: Path) -> None:
    s = LogStore(tmp_path / "observ.duckdb", StoreConfig(segment_min_rows=1))
    s.append([rows_batch("api", [(i, "", f"line {i:03d}") for i in range(50)])])
    s.compact()
    s.append([rows_batch("api", [(100 + i, "", f"late line {i:03d}") for i in range(20)])])
    needle = "late line 007"
    early = s.relation(ScanHints("t1", 0, FAR, needles=(needle,)))
    assert early.segments_skipped == 1
    s.compact()  # the hot rows move into a segment the early relation never heard of
    cur = s.cursor()
    got = cur.execute(f"SELECT line FROM {early.sql} AS l WHERE contains(line, ?)", [*early.params, needle]).fetchall()
    assert got == [("late line 007",)]
    # the first segment stays pruned; every row that was hot is still read, now from the new segment
    assert cur.execute(f"SELECT count(*) FROM {early.sql} AS l", early.params).fetchone() == (20,)
    assert cur.execute("SELECT count(*) FROM logs_hot").fetchone() == (0,)


def test_a_reader_transaction_keeps_its_snapshot_across_a_compaction(tmp_path: Path) -> None:
    s = LogStore(tmp_path / "observ.duckdb", StoreConfig(segment_min_rows=1))
    s.append([rows_batch("api", [(i, "", f"line {i:03d}") for i in range(50)])])
    rel = s.relation(ScanHints("t1", 0, FAR))
    reader = s.cursor()
    reader.execute("BEGIN TRANSACTION")
    assert reader.execute(f"SELECT count(*) FROM {rel.sql} AS l", rel.params).fetchone() == (50,)
    s.compact()
    assert reader.execute(f"SELECT count(*) FROM {rel.sql} AS l", rel.params).fetchone() == (50,)
    assert reader.execute("SELECT count(*) FROM logs_hot").fetchone() == (50,)
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM logs_hot").fetchone() == (0,)
    assert reader.execute("SELECT count(*) FROM logs").fetchone() == (50,)
    assert reader.execute(f"SELECT count(*) FROM {rel.sql} AS l", rel.params).fetchone() == (50,)


def test_readers_never_see_a_partial_compaction(tmp_path: Path) -> None:
    s = LogStore(tmp_path / "observ.duckdb", StoreConfig(segment_min_rows=1, segment_max_rows=5_000))
    rows = [(i, f"tr{i % 7}", f"svc line {i:06d} with some words") for i in range(40_000)]
    s.append([rows_batch(svc, rows) for svc in ("api", "db")])
    total = 80_000
    seen: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not done.is_set():
                for hints in (ScanHints("t1", 0, FAR), ScanHints("t1", 0, FAR, trace_ids=frozenset({"tr3"}))):
                    rel = s.relation(hints)
                    cur = s.cursor()
                    seen.append(cur.execute(f"SELECT count(*) FROM {rel.sql} AS l", rel.params).fetchone()[0])
                    cur.close()
        except BaseException as e:  # surfaced below: a thread's assertion would be lost
            errors.append(e)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        assert s.compact() is not None
        s.append([rows_batch("web", rows[:100])])
        total += 100
        assert s.compact() is not None
    finally:
        done.set()
        for t in readers:
            t.join()
    assert not errors
    assert seen and set(seen) <= {80_000, total}
    assert s.count() == total


# --- regex needles -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "needles"),
    [
        (r"blk_614078865100345\d{4}", ("blk_614078865100345",)),
        (r"error: (timeout|refused) after \d+ms", ("error: ", " after ", "ms")),
        ("a(bc)+d", ("a", "bc", "d")),
        ("(?:abc)?def", ("def",)),
        ("^GET /api", ("GET /api",)),
        ("ab(?i:cd)ef", ("ab", "ef")),
        ("foo|bar", ()),
        ("(?i)error", ()),
        (r"\Qliteral\E", ()),
        ("[[:alpha:]]x", ()),
        ("x{,3}yz", ("yz",)),
    ],
)
def test_regex_needles(pattern: str, needles: tuple[str, ...]) -> None:
    assert regex_needles(pattern) == needles


piece_st = st.sampled_from(["abc", "x", "-", r"\d+", "[a-f]", "(ab|cd)", "(ef)?", "(gh)+", ".", "z{2}", r"\.", "k*"])


@settings(max_examples=200)
@given(st.lists(piece_st, min_size=1, max_size=6).map("".join), st.data())
def test_every_match_contains_every_regex_needle(pattern: str, data: st.DataObject) -> None:
    text = data.draw(st.from_regex(pattern))
    assert re.search(pattern, text)
    for n in regex_needles(pattern):
        assert n in text
