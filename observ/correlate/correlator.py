"""Trace ↔ logs ↔ metrics in one answer: the three questions of the correlation API.

Logs and spans are local and always answered; Prometheus is another process, so what comes from it (metrics,
exemplars) may be replaced by a `Missing` naming the reason. Times are Unix nanoseconds; `now` is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from observ.correlate.config import CorrelateConfig
from observ.correlate.logs import Line, LogReader
from observ.correlate.missing import Missing
from observ.correlate.models import LogLine, Metrics, ServiceCorrelation, TraceCorrelation
from observ.correlate.prometheus import PrometheusClient
from observ.correlate.red import exemplar_traces, red_metrics
from observ.correlate.spans import service_traces
from observ.correlate.templates import top_templates
from observ.correlate.tree import span_tree
from observ.logql.syntax.parser import parse_selector
from observ.traces.model import Span
from observ.traces.query import trace_id as parse_trace_id
from observ.traces.store import SpanStore

NS = 1_000_000_000
MAX_SERVICE_NAME = 1024
PROMETHEUS_THREADS = 10
"""Prometheus queries in flight at once, for all requests together (an answer sends at most five at a time)."""
MAX_TIME_WINDOWS = 16
"""Separate time windows (merged spans) queried per service for lines matched by time; more are read as one."""
LINES_AT_ONE_TIME = 100
"""Lines of one selector at one timestamp considered when a log line is looked up."""
NO_PROMETHEUS = "prometheus is not configured (set api.prometheus.url, or observ serve --prometheus-url)"
NO_SPANS_STORE = "this service keeps no spans store"


class BadRequest(ValueError):
    """The caller's fault: HTTP 400 with the message."""


class NotFound(LookupError):
    """Nothing to answer: HTTP 404 with the message."""


def _merged(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _log_line(line: Line, match: Literal["trace_id", "time"], span_id: str | None = None) -> LogLine:
    return LogLine(
        ts=line.ts, service=line.service, level=line.level, labels=line.labels, trace_id=line.trace_id,
        span_id=line.span_id if span_id is None else span_id, line=line.line, match=match,
    )  # fmt: skip


def _containing(spans: Sequence[Span], ts: int) -> str:
    """The innermost span (latest start) written during which a line at `ts` was."""
    inside = [s for s in spans if s.start_ns <= ts <= s.end_ns]
    return max(inside, key=lambda s: s.start_ns).span_id if inside else ""


@dataclass
class Correlator:
    logs: LogReader
    spans: SpanStore | None
    prometheus: PrometheusClient | None
    config: CorrelateConfig = field(default_factory=CorrelateConfig)
    now: Callable[[], int] = time.time_ns
    pool: Executor = field(default_factory=lambda: ThreadPoolExecutor(PROMETHEUS_THREADS, "correlate-prometheus"))
    """Runs one answer's Prometheus queries side by side."""

    # --- (a) a trace --------------------------------------------------------------------------------------

    def trace(
        self, tenant: str, trace_id: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> TraceCorrelation:
        """The trace's spans, its lines and its services' metrics. `start_ns`/`end_ns` bound the search for its
        lines when no span is stored (default: the last `trace_lookback_s`)."""
        lim = self.config.limits
        tid = parse_trace_id(trace_id)
        missing: list[Missing] = []
        got: list[Span] = []
        if self.spans is None:
            missing.append(Missing(part="spans", reason=NO_SPANS_STORE))
        else:
            got = self.spans.trace(tenant, tid)
        margin = int(lim.log_margin_s * NS)
        t0 = min((s.start_ns for s in got), default=None)
        t1 = max((s.end_ns for s in got), default=None)
        if t0 is not None and t1 is not None:
            lo, hi = max(0, t0 - margin, t1 + margin - lim.max_window_s * NS), t1 + margin + 1
        else:
            hi = self.now() if end_ns is None else end_ns
            lo = hi - lim.trace_lookback_s * NS if start_ns is None else start_ns
            self._check_window(lo, hi, max(lim.max_window_s, lim.trace_lookback_s))
        lines = self.logs.with_trace(tenant, tid, lo, hi, lim.max_lines)
        if not got and not lines:
            raise NotFound(f"trace {tid} not found: no span of it is stored and no log line carries it")
        if not got and self.spans is not None:
            missing.append(Missing(part="spans", reason="no span of this trace is stored (not received or sampled)"))
        services = list(dict.fromkeys([s.service for s in sorted(got, key=lambda s: s.start_ns)]))
        logs = [_log_line(x, "trace_id") for x in lines] + self._by_time(tenant, got, {x.service for x in lines})
        logs.sort(key=lambda x: x.ts)
        services += [s for s in dict.fromkeys(x.service for x in lines) if s not in services]
        end = t1 if t1 is not None else lines[-1].ts
        # Centred on the trace's end (capped at now): a counter grows when a request ends, and the next scrape
        # only sees it later, so a window ending at the trace would miss the trace's own requests.
        at = min(self.now(), end + self.config.red.range_s * NS // 2)
        metrics = self._metrics(services, at / NS, missing)
        return TraceCorrelation(
            trace_id=tid,
            start_ns=t0,
            end_ns=t1,
            duration_ms=(t1 - t0) / 1e6 if t0 is not None and t1 is not None else None,
            services=services,
            span_count=len(got),
            spans=span_tree(got, lim.max_spans),
            logs=logs,
            logs_truncated=len(lines) >= lim.max_lines,
            metrics=metrics,
            missing=missing,
        )

    def _by_time(self, tenant: str, spans: list[Span], traced: set[str]) -> list[LogLine]:
        """Lines without a trace ID written during the spans of services none of whose lines carry this one."""
        lim = self.config.limits
        if not lim.max_time_lines:
            return []
        by_service: dict[str, list[Span]] = {}
        for s in spans:
            if s.service not in traced:
                by_service.setdefault(s.service, []).append(s)
        out: list[LogLine] = []
        for service, own in list(by_service.items())[: lim.max_services]:
            windows = _merged([(s.start_ns, s.end_ns + 1) for s in own])
            if len(windows) > MAX_TIME_WINDOWS:  # one query over them all; lines in the gaps are dropped below
                windows = [(windows[0][0], windows[-1][1])]
            found: list[Line] = []
            for lo, hi in windows:
                found += self.logs.untraced(tenant, service, lo, hi, lim.max_time_lines - len(found))
                if len(found) >= lim.max_time_lines:
                    break
            out += [_log_line(x, "time", span) for x in found if (span := _containing(own, x.ts))]
        return out

    def _metrics(self, services: list[str], at: float, missing: list[Missing]) -> Metrics | None:
        cap = self.config.limits.max_services
        if self.prometheus is None:
            missing.append(Missing(part="metrics", reason=NO_PROMETHEUS))
            return None
        if not services:
            return None
        if len(services) > cap:
            missing.append(Missing(part="metrics", reason=f"metrics of the first {cap} of {len(services)} services "
                                                          "only (max_services)"))  # fmt: skip
        got = red_metrics(self.prometheus, self.config.red, services[:cap], at, self.pool)
        if isinstance(got, Missing):
            missing.append(got)
            return None
        return got

    # --- (b) a service in a window ------------------------------------------------------------------------

    def service(self, tenant: str, service: str, start_ns: int | None, end_ns: int | None) -> ServiceCorrelation:
        """Logs by level, top error messages, RED metrics at the window's end, exemplar traces and the slowest and
        failing traces of `service` in [start, end)."""
        lim = self.config.limits
        if not service or len(service) > MAX_SERVICE_NAME:
            raise BadRequest(f"a service name is 1 to {MAX_SERVICE_NAME} characters, got {len(service)}")
        end = self.now() if end_ns is None else end_ns
        start = end - lim.default_window_s * NS if start_ns is None else start_ns
        self._check_window(start, end, lim.max_window_s)
        levels = self.logs.levels(tenant, service, start, end)
        errors = self.logs.errors(tenant, service, start, end, lim.error_lines_scanned)
        missing: list[Missing] = []
        metrics = self._metrics([service], min(self.now(), end) / NS, missing)
        exemplars = []
        if self.prometheus is None:
            missing.append(Missing(part="exemplars", reason=NO_PROMETHEUS))
        else:
            got = exemplar_traces(
                self.prometheus, self.config.red, service, start / NS, end / NS, lim.max_exemplars, self.pool
            )
            if isinstance(got, Missing):
                missing.append(got)
            else:
                exemplars = got
        slowest, failing = [], []
        if self.spans is None:
            missing.append(Missing(part="traces", reason=NO_SPANS_STORE))
        else:
            slowest = service_traces(self.spans, tenant, service, start, end, lim.max_traces, failing=False)
            failing = service_traces(self.spans, tenant, service, start, end, lim.max_traces, failing=True)
        return ServiceCorrelation(
            service=service,
            start_ns=start,
            end_ns=end,
            levels=levels,
            metrics=metrics,
            top_errors=top_templates(((x.ts, x.line, x.trace_id) for x in errors), lim.top_messages),
            errors_scanned=len(errors),
            exemplars=exemplars,
            slowest_traces=slowest,
            failing_traces=failing,
            missing=missing,
        )

    # --- (c) a log line -----------------------------------------------------------------------------------

    def line(self, tenant: str, selector: str, ts_ns: int, line: str | None = None) -> TraceCorrelation:
        """The trace of the line `selector` picks at `ts_ns` (and, when several lines share that time, whose
        text is `line`), answered as `trace`."""
        parsed = parse_selector(selector)
        found = self.logs.at(tenant, parsed, ts_ns, LINES_AT_ONE_TIME)
        if line is not None:
            found = [x for x in found if x.line == line]
        if not found:
            which = "with that text " if line is not None else ""
            raise NotFound(f"no log line {which}of {selector} at {ts_ns}")
        ids = list(dict.fromkeys(x.trace_id for x in found if x.trace_id))
        if not ids:
            raise NotFound(f"the log line of {selector} at {ts_ns} carries no trace ID")
        if len(ids) > 1:
            raise BadRequest(
                f"{len(found)} lines of {selector} at {ts_ns} carry different trace IDs ({', '.join(ids[:5])}); "
                "pass `line` to pick one"
            )
        return self.trace(tenant, ids[0])

    @staticmethod
    def _check_window(start: int, end: int, max_s: int) -> None:
        if end <= start:
            raise BadRequest(f"end {end} must be after start {start}")
        if end - start > max_s * NS:
            raise BadRequest(f"the window is {(end - start) / NS:.0f} s long, longer than {max_s} s (max_window_s)")
