"""A service's slowest and failing traces in a window, from the spans store.

Tempo-style search (`SpanStore.search`) ranks traces newest first; "slowest" needs them ranked by the service's
own span durations, which is what its latency metrics measure, hence this one query. It reads the store's
pruned relation (tenant, time, service) and binds every value as a parameter.
"""

from __future__ import annotations

from observ.correlate.models import TraceRef
from observ.store.relation import ScanHints
from observ.traces.store import SpanStore
from observ.traces.tags import STATUS

_ERROR = STATUS["error"]


def service_traces(
    spans: SpanStore, tenant: str, service: str, start_ns: int, end_ns: int, limit: int, failing: bool
) -> list[TraceRef]:
    """Traces with a span of `service` overlapping [start_ns, end_ns), each by its longest such span:
    the slowest first, or with `failing` only those with an error span, newest first."""
    rd = spans.reader()
    r = rd.relation(ScanHints(tenant, start_ns, end_ns, services=frozenset([service])))
    having = "HAVING bool_or(status_code = ?)" if failing else ""
    order = "min(start_ns) DESC" if failing else "max(duration_ns) DESC"
    rows = rd.cursor.execute(
        "SELECT trace_id, arg_max(span_id, duration_ns), arg_max(name, duration_ns), "
        "arg_max(start_ns, duration_ns), max(duration_ns), bool_or(status_code = ?) "
        f"FROM {r.sql} AS s WHERE tenant = ? AND service = ? AND start_ns < ? AND end_ns >= ? "
        f"GROUP BY trace_id {having} ORDER BY {order}, trace_id LIMIT ?",
        [_ERROR, *r.params, tenant, service, end_ns, start_ns, *([_ERROR] if failing else []), limit],
    ).fetchall()
    return [
        TraceRef(trace_id=t, span_id=s, name=n, start_ns=st, duration_ms=d / 1e6, error=e) for t, s, n, st, d, e in rows
    ]
