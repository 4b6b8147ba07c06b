"""The checks, in the order they run. Each returns what it saw, or raises SmokeFailed saying what went wrong.

Optional parts of a target are detected, not configured: a 404 on `POST /v1/traces` means no OTLP receiver,
a 404 that is not the correlation API's own (`{"detail": "Not Found"}` is FastAPI's for an unknown path) means
no correlation API. Those checks are then skipped, which a summary reports, rather than failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from pydantic import ValidationError

from observ.smoke.models import ErrorBody, LokiAnswer, OtlpAnswer, Ready, TempoTrace, TraceCorrelation
from observ.smoke.probe import SPAN_NS, Probe
from observ.smoke.target import Clock, Pending, SmokeFailed, Target, answered, decode, poll

PUSH = "/loki/api/v1/push"
QUERY_RANGE = "/loki/api/v1/query_range"
OTLP_TRACES = "/v1/traces"
UNKNOWN_PATH = "Not Found"


@dataclass(frozen=True, slots=True)
class Outcome:
    detail: str
    skipped: bool = False


@dataclass
class Checks:
    target: Target
    probe: Probe
    timeout_s: float
    clock: Clock = field(default_factory=Clock)
    otlp_url: str | None = None
    span_pushed: bool = False

    def ready(self) -> Outcome:
        """Waits while the target says it is starting (503); anything but 200 or 503 fails at once."""

        def attempt() -> Outcome | Pending:
            r = self.target.request("GET", "/readyz")
            if r.status_code == 503:
                return Pending("the target did not become ready", answered("/readyz", r))
            if r.status_code != 200:
                raise SmokeFailed(answered("GET /readyz", r))
            return Outcome(f"/readyz: {decode(r, Ready, 'GET /readyz').status}")

        return poll(attempt, self.timeout_s, self.clock)

    def push_line(self) -> Outcome:
        r = self.target.request("POST", PUSH, json=self.probe.loki_push())
        if r.status_code not in (200, 204):
            raise SmokeFailed(f"the log line was not stored: {answered('POST ' + PUSH, r)}")
        return Outcome(f"1 line with marker {self.probe.marker}, trace {self.probe.trace_id}")

    def push_span(self) -> Outcome:
        url = self._otlp_traces_url()
        r = self.target.request("POST", url, json=self.probe.otlp_traces())
        if r.status_code == 404:
            return Outcome(f"no OTLP receiver (POST {url} answered 404)", skipped=True)
        if r.status_code != 200:
            raise SmokeFailed(f"the span was not stored: {answered('POST ' + url, r)}")
        partial = decode(r, OtlpAnswer, f"POST {url}").partial_success
        if partial is not None and partial.rejected_spans:
            raise SmokeFailed(f"the span was rejected by POST {url}: {partial.error_message}")
        self.span_pushed = True
        return Outcome(f"span {self.probe.span_id} of trace {self.probe.trace_id} to {url}")

    def query_line(self) -> Outcome:
        params = {
            "query": self.probe.logql,
            "start": str(self.probe.start_ns),
            "end": str(self.probe.start_ns + SPAN_NS),
            "limit": "10",
        }

        def attempt() -> Outcome | Pending:
            r = self.target.request("GET", QUERY_RANGE, params=params)
            if r.status_code != 200:
                raise SmokeFailed(f"the pushed line could not be queried: {answered('GET ' + QUERY_RANGE, r)}")
            lines = decode(r, LokiAnswer, f"GET {QUERY_RANGE}").lines()
            if any(self.probe.marker in line for line in lines):
                return Outcome(f"query_range found it: {self.probe.logql}")
            return Pending("the pushed line did not come back", f"query_range answered {len(lines)} lines")

        return poll(attempt, self.timeout_s, self.clock)

    def query_trace(self) -> Outcome:
        if not self.span_pushed:
            return Outcome("no span was pushed", skipped=True)
        path = f"/api/traces/{self.probe.trace_id}"

        def attempt() -> Outcome | Pending:
            r = self.target.request("GET", path)
            if r.status_code == 404:
                return Pending("the pushed span did not come back", answered(path, r))
            if r.status_code != 200:
                raise SmokeFailed(f"the pushed span could not be read: {answered('GET ' + path, r)}")
            ids = decode(r, TempoTrace, f"GET {path}").span_ids()
            if self.probe.span_id in ids:
                return Outcome(f"{path} holds the span")
            return Pending("the pushed span did not come back", f"{path} holds {len(ids)} other spans")

        return poll(attempt, self.timeout_s, self.clock)

    def correlate(self) -> Outcome:
        path = f"/api/v1/correlate/traces/{self.probe.trace_id}"
        what = f"the correlation of trace {self.probe.trace_id} did not list the pushed line"

        def attempt() -> Outcome | Pending:
            r = self.target.request("GET", path)
            if r.status_code == 404 and not self._own_404(r):
                return Outcome(f"no correlation API (GET {path} answered 404)", skipped=True)
            if r.status_code == 404:
                return Pending(what, answered(path, r))
            if r.status_code != 200:
                raise SmokeFailed(f"{what}: {answered('GET ' + path, r)}")
            logs = decode(r, TraceCorrelation, f"GET {path}").logs
            found = [log for log in logs if self.probe.marker in log.line]
            if found:
                return Outcome(f"{path} lists the line (matched by {found[0].match})")
            return Pending(what, f"it listed {len(logs)} other lines")

        return poll(attempt, self.timeout_s, self.clock)

    def _otlp_traces_url(self) -> str:
        """`--otlp-url` is a receiver's base URL (`http://sidecar:4318`) or its whole traces URL, as OTel's
        OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT are."""
        if self.otlp_url is None:
            return OTLP_TRACES
        base = self.otlp_url.rstrip("/")
        return base if base.endswith(OTLP_TRACES) else base + OTLP_TRACES

    @staticmethod
    def _own_404(r: httpx.Response) -> bool:
        """A 404 the correlation API wrote (nothing to correlate yet), not one for a path nobody serves."""
        try:
            detail = ErrorBody.model_validate_json(r.content).detail
        except ValidationError:
            return False
        return detail is not None and detail != UNKNOWN_PATH
