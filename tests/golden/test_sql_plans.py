"""LogQL -> SQL plans as golden files: every pushdown rule shows up as a diff in review.

Each query of `QUERIES` runs through the engine against the golden store (hot rows only, so no segment paths
reach the text); every statement it sends DuckDB is recorded with its parameters and compared with
`plans/<name>.sql`. A change to what is pushed down, or how, changes those files: regenerate them with
`OBSERV_UPDATE_PLANS=1 scripts/test tests/golden/test_sql_plans.py` and review the diff with the change.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

from observ.logql.engine import Engine
from observ.logql.errors import LimitError
from observ.store.logstore import LogStore
from observ.store.querier import LogQuerier
from tests.golden.corpus import SPAN, T0, TENANT

PLANS = Path(__file__).parent / "plans"
UPDATE = os.environ.get("OBSERV_UPDATE_PLANS") == "1"
QUERIES = {
    "stream_selector": '{service="api"}',
    "selector_regex_and_negation": '{service=~"api|db", level!="debug"}',
    "line_contains": '{service=~".+"} |= "error"',
    "line_not_contains_and_regex": '{service="api"} != "health" |~ "(?i)timeout"',
    "line_short_needle": '{service=~".+"} |= "id"',
    "trace_id_label": '{service=~".+"} | trace_id="4bf92f3577b34da6a3ce929d0e0e4736"',
    "trace_id_needle": '{service=~".+"} |= "4bf92f3577b34da6a3ce929d0e0e4736"',
    "metadata_filter": '{service="api"} | user_agent="curl"',
    "json_then_filter": '{service="api"} | json | status >= 500',
    "json_split_count": 'sum by (service) (count_over_time({service="api"} | json | status >= 500 [1m]))',
    "logfmt_then_filter": '{service="db"} | logfmt | duration > 10ms',
    "pattern": '{service="api"} | pattern "<_> <method> <path> <_>"',
    "line_format": '{service="api"} | json | line_format "{{.msg}}"',
    "count_over_time": 'count_over_time({service="api"}[1m])',
    "rate_sum_by": 'sum by (service) (rate({service=~".+"}[1m]))',
    "rate_with_filter": 'sum(rate({service=~".+"} |= "error" [5m]))',
    "bytes_over_time": 'bytes_over_time({service="api"}[1m])',
    "topk": 'topk(2, sum by (service) (count_over_time({service=~".+"}[1m])))',
    "unwrap_quantile": 'quantile_over_time(0.99, {service="api"} | json | unwrap latency_ms [1m]) by (service)',
    "unwrap_sum": 'sum_over_time({service="db"} | logfmt | unwrap rows [1m])',
    "absent": 'absent_over_time({service="nope"}[1m])',
    "binary": 'sum(rate({service="api"} |= "error" [1m])) / sum(rate({service="api"}[1m]))',
    "offset": 'count_over_time({service="api"}[1m] offset 5m)',
}


class _Recording:
    """A cursor that records each statement before running it."""

    def __init__(self, cur: Any, log: list[tuple[str, list[object]]]) -> None:
        self._cur, self._log = cur, log

    def execute(self, sql: str, params: list[object] | None = None) -> Any:
        self._log.append((sql, list(params or [])))
        return self._cur.execute(sql, params or [])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


class _RecordingStore:
    def __init__(self, store: LogStore, log: list[tuple[str, list[object]]]) -> None:
        self._store, self._log = store, log

    def cursor(self) -> _Recording:
        return _Recording(self._store.cursor(), self._log)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


_CLAUSE = re.compile(r" (?=(?:SELECT|FROM|WHERE|AND|OR|GROUP BY|ORDER BY|UNION ALL|LIMIT|QUALIFY) )")


def _render(statements: list[tuple[str, list[object]]], folder: str) -> str:
    """Statements with their parameters, one block each, a clause per line (so a diff points at the clause); the
    SQL's own whitespace does not count, and the store's temporary folder reads `<data>`."""
    blocks = []
    for sql, params in statements:
        text = _CLAUSE.sub("\n", re.sub(r"\s+", " ", sql).strip())
        shown = [p.replace(folder, "<data>") if isinstance(p, str) else p for p in params]
        blocks.append(f"{text};\n-- params: {shown!r}\n")
    return "\n".join(blocks)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_sql_plan(name: str, store: LogStore) -> None:
    assert not store.segments, "the plans read no segment file: only the hot rows and the tail"
    log: list[tuple[str, list[object]]] = []
    engine = Engine(LogQuerier(_RecordingStore(store, log)))  # type: ignore[arg-type]
    query = QUERIES[name]
    with contextlib.suppress(LimitError):  # a per-stream count of the api's many streams: the plan ran already
        engine.query_range(query, tenant=TENANT, start_ns=T0, end_ns=T0 + SPAN, step_ns=60 * 10**9, limit=100)
    got = f"-- {query}\n" + _render(log, str(store.path.parent))
    path = PLANS / f"{name}.sql"
    if UPDATE:
        path.write_text(got)
    assert path.exists(), f"no golden plan for {name}: run with OBSERV_UPDATE_PLANS=1 and review plans/{name}.sql"
    assert got == path.read_text(), f"the SQL plan of {query!r} changed: OBSERV_UPDATE_PLANS=1 rewrites it"
