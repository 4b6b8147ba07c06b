"""Loki's own LogQL correctness scripts (`pkg/logql/internal/logqltest`, `.logqltest` files) run against the engine.

The scripts in `testdata/loki/` are copied from Loki with their expectations unchanged (each file names its
source); this runner reads the subset of the format they use: `clear`, `load` (stream selector, line,
`@ t`, `[repeat every d for n]`), `eval instant at t` / `eval range from a to b step s`, and the
expectations `{labels} v v _ ...`, `expect empty`, `expect fail msg: text`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from observ.logql.engine import Engine
from observ.logql.errors import LogQLError
from observ.logql.results import Matrix, Vector
from observ.model import DecodedBatch, Stream
from observ.store.logstore import LogStore
from observ.store.querier import LogQuerier

S = 10**9
TENANT = "default"
SCRIPTS = Path(__file__).parent / "testdata" / "loki"
_LOAD = re.compile(r"(\{[^}]*\})\s+(\"[^\"]*\"|`[^`]*`)\s+@\s+(\S+)(?:\s+\[repeat every (\S+) for (\d+)\])?")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"')
_EVAL = re.compile(r"eval (?:instant at (\S+)|range from (\S+) to (\S+) step (\S+)) (.*?)\s*(?:#.*)?$")
_DURATION = re.compile(r"(\d+)(m|s)")


def _seconds(text: str) -> int:
    return sum(int(n) * (60 if unit == "m" else 1) for n, unit in _DURATION.findall(text))


def _labels(text: str) -> dict[str, str]:
    return dict(_LABEL.findall(text))


@dataclass
class Eval:
    where: str
    query: str
    times: tuple[int, int, int] | int
    expected: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    entries: list[tuple[dict[str, str], str, int]]
    evals: list[Eval]


def _scenarios(path: Path) -> list[Scenario]:
    out: list[Scenario] = []
    entries: list[tuple[dict[str, str], str, int]] = []
    current: Eval | None = None
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            current = None if not line else current
            continue
        if line == "clear":
            entries = []
            out.append(Scenario(entries, []))
        elif line == "load":
            current = None
        elif line.startswith("eval "):
            m = _EVAL.match(line)
            assert m, f"{path.name}:{n}: {line}"
            times = _seconds(m[1]) if m[1] else (_seconds(m[2]), _seconds(m[3]), _seconds(m[4]))
            current = Eval(f"{path.name}:{n}", m[5], times)
            out[-1].evals.append(current)
        elif current is not None:
            current.expected.append(line.split(" #")[0].strip())
        else:
            m = _LOAD.match(line)
            assert m, f"{path.name}:{n}: {line}"
            first, every, count = _seconds(m[3]), _seconds(m[4] or "0s"), int(m[5] or 1)
            entries.extend((_labels(m[1]), m[2][1:-1], first + i * every) for i in range(count))
    return out


def _store(entries: list[tuple[dict[str, str], str, int]]) -> LogStore:
    store = LogStore(":memory:")
    by_stream: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}
    for labels, line, t in entries:
        by_stream.setdefault(tuple(sorted(labels.items())), []).append((t * S, line))
    batches = []
    for i, (labels, rows) in enumerate(by_stream.items()):
        rows.sort()
        n = len(rows)
        batches.append(
            DecodedBatch(
                stream=Stream(stream="", labels=labels), source=f"s{i}", observed_ts=0, ts=[t for t, _ in rows],
                level=[""] * n, trace_id=[""] * n, span_id=[""] * n, end=list(range(1, n + 1)),
                line=[line for _, line in rows],
            )
        )  # fmt: skip
    store.append(batches)
    return store


def _series_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _check(engine: Engine, ev: Eval) -> None:
    fail = next((e for e in ev.expected if e.startswith("expect fail")), None)
    try:
        if isinstance(ev.times, int):
            result = engine.query_instant(ev.query, tenant=TENANT, time_ns=ev.times * S)
        else:
            start, end, step = ev.times
            result = engine.query_range(ev.query, tenant=TENANT, start_ns=start * S, end_ns=end * S, step_ns=step * S)
    except LogQLError as e:
        assert fail is not None, f"{ev.where}: {ev.query} failed: {e}"
        assert fail.partition("msg:")[2].strip() in str(e), f"{ev.where}: {e}"
        return
    assert fail is None, f"{ev.where}: {ev.query} should fail"
    got: dict[tuple[tuple[str, str], ...], list[float | None]] = {}
    if isinstance(result.data, Vector):
        got = {_series_key(s.labels): [s.value] for s in result.data.samples}
    else:
        assert isinstance(result.data, Matrix) and not isinstance(ev.times, int)
        start, end, step = ev.times
        at = list(range(start * S, end * S + 1, step * S))
        for s in result.data.series:
            points = dict(s.points)
            got[_series_key(s.labels)] = [points.get(t) for t in at]
    if ev.expected == ["expect empty"]:
        assert got == {}, f"{ev.where}: {got}"
        return
    want: dict[tuple[tuple[str, str], ...], list[float | None]] = {}
    for text in ev.expected:
        labels, _, values = text.rpartition("}")
        want[_series_key(_labels(labels))] = [None if v == "_" else float(v) for v in values.split()]
    assert set(got) == set(want), f"{ev.where}: {ev.query}: {got} != {want}"
    for key, values in want.items():
        assert len(got[key]) == len(values), f"{ev.where}: {got[key]} != {values}"
        for g, w in zip(got[key], values, strict=True):
            assert (g is None) == (w is None) and (w is None or (g is not None and _same(g, w))), (
                f"{ev.where}: {ev.query}: {got[key]} != {values}"
            )


CASES = [(path.name, i, sc) for path in sorted(SCRIPTS.glob("*.logqltest")) for i, sc in enumerate(_scenarios(path))]


@pytest.mark.parametrize(("script", "index", "scenario"), CASES, ids=[f"{name}#{i}" for name, i, _ in CASES])
def test_loki_script(script: str, index: int, scenario: Scenario) -> None:
    engine = Engine(LogQuerier(_store(scenario.entries)))
    assert scenario.evals
    for ev in scenario.evals:
        _check(engine, ev)
