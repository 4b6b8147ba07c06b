"""One corpus, one store, one engine for the whole golden session; result comparison helpers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from observ.logql.results import Matrix, Streams, Vector
from observ.store.logstore import LogStore
from tests.golden.corpus import Corpus, build
from tests.golden.oracle import ERR_DETAILS, Labels, LogLine, SeriesSet, key


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return build()


@pytest.fixture(scope="session")
def store(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogStore]:
    s = LogStore(tmp_path_factory.mktemp("golden") / "logs.duckdb")
    result = s.append(corpus.batches)
    assert result.inserted == len(corpus.rows), "the store dropped corpus rows as duplicates"
    yield s
    s.close()


@pytest.fixture(scope="session")
def engine(store: LogStore) -> Any:
    from observ.logql.engine import Engine
    from observ.store.querier import LogQuerier

    return Engine(LogQuerier(store))


def _normal(labels: Labels) -> Labels:
    """Error details are Loki's Go error strings: only their presence is compared."""
    return tuple((k, "*" if k == ERR_DETAILS else v) for k, v in labels)


def flatten_streams(data: Streams, backward: bool) -> list[LogLine]:
    """Engine streams as (labels, ts, line) in query order, after checking the stream invariants."""
    assert isinstance(data, Streams), f"expected streams, got {type(data).__name__}"
    out: list[LogLine] = []
    seen: set[Labels] = set()
    for s in data.streams:
        k = key(s.labels)
        assert k not in seen, f"two streams with the same labels {dict(k)}"
        seen.add(k)
        ts = [e.ts for e in s.entries]
        assert ts == sorted(ts, reverse=backward), f"entries of {dict(k)} are not in query order"
        out.extend((_normal(k), e.ts, e.line) for e in s.entries)
    out.sort(key=lambda x: x[1], reverse=backward)
    return out


def assert_log_lines(got: list[LogLine], want: list[LogLine]) -> None:
    want = [(_normal(k), ts, line) for k, ts, line in want]
    if got == want:
        return
    g, w = {x[1]: x for x in got}, {x[1]: x for x in want}
    problems = []
    for ts in sorted(set(g) | set(w)):
        if ts not in g:
            problems.append(f"missing  ts={ts} {w[ts][2][:90]!r} {dict(w[ts][0])}")
        elif ts not in w:
            problems.append(f"extra    ts={ts} {g[ts][2][:90]!r} {dict(g[ts][0])}")
        elif g[ts] != w[ts]:
            if g[ts][2] != w[ts][2]:
                problems.append(f"line     ts={ts} got {g[ts][2][:90]!r} want {w[ts][2][:90]!r}")
            gl, wl = dict(g[ts][0]), dict(w[ts][0])
            if gl != wl:
                diff = {k: (gl.get(k), wl.get(k)) for k in set(gl) | set(wl) if gl.get(k) != wl.get(k)}
                problems.append(f"labels   ts={ts} (got, want): {diff}")
    if not problems:
        problems.append("same entries, different order")
    raise AssertionError(
        f"{len(got)} entries, want {len(want)}; {len(problems)} differences:\n" + "\n".join(problems[:15])
    )


def same_value(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def matrix_series(data: Matrix) -> SeriesSet:
    assert isinstance(data, Matrix), f"expected a matrix, got {type(data).__name__}"
    out: SeriesSet = {}
    for s in data.series:
        k = key(s.labels)
        assert k not in out, f"two series with the same labels {dict(k)}"
        ts = [t for t, _ in s.points]
        assert ts == sorted(ts) and len(set(ts)) == len(ts), f"points of {dict(k)} are not strictly increasing"
        out[k] = dict(s.points)
    return out


def assert_series(got: SeriesSet, want: SeriesSet) -> None:
    problems = []
    for k in sorted(set(got) | set(want)):
        if k not in got:
            problems.append(f"missing series {dict(k)} ({len(want[k])} points)")
            continue
        if k not in want:
            problems.append(f"extra series {dict(k)} ({len(got[k])} points)")
            continue
        g, w = got[k], want[k]
        for t in sorted(set(g) | set(w)):
            if t not in g or t not in w or not same_value(g[t], w[t]):
                problems.append(f"{dict(k)} @ {t}: got {g.get(t)} want {w.get(t)}")
    if problems:
        raise AssertionError(f"{len(problems)} differences:\n" + "\n".join(problems[:15]))


def vector_samples(data: Vector, time_ns: int) -> list[tuple[Labels, float]]:
    assert isinstance(data, Vector), f"expected a vector, got {type(data).__name__}"
    for s in data.samples:
        assert s.ts == time_ns, f"sample at {s.ts}, query time {time_ns}"
    return [(key(s.labels), s.value) for s in data.samples]
