"""What one smoke run pushes: a log line carrying a fresh marker and trace ID, and a span of that trace.

Fresh IDs per run make the run's data findable among everything else the target holds, and make a retry of the
same run (or a second run against the same store) unable to pass on an older run's data.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

SERVICE = "observ-smoke"
SPAN_NS = 10_000_000
"""The span lasts 10 ms; the line is written in its middle, so correlation by trace time finds it too."""


@dataclass(frozen=True, slots=True)
class Probe:
    marker: str
    trace_id: str
    span_id: str
    start_ns: int

    @classmethod
    def new(cls, now_ns: int) -> Probe:
        return cls(uuid.uuid4().hex, uuid.uuid4().hex, secrets.token_hex(8), now_ns)

    @property
    def line(self) -> str:
        return f"observ smoke test {self.marker}"

    @property
    def line_ns(self) -> int:
        return self.start_ns + SPAN_NS // 2

    @property
    def logql(self) -> str:
        return f'{{service="{SERVICE}"}} |= "{self.marker}"'

    def loki_push(self) -> dict[str, Any]:
        """A Loki JSON push: one stream, one entry with the trace and span IDs as structured metadata."""
        metadata = {"trace_id": self.trace_id, "span_id": self.span_id}
        return {"streams": [{"stream": {"service": SERVICE}, "values": [[str(self.line_ns), self.line, metadata]]}]}

    def otlp_traces(self) -> dict[str, Any]:
        """An OTLP/JSON ExportTraceServiceRequest with one server span (IDs in hex, as OTLP/JSON writes them)."""
        span = {
            "traceId": self.trace_id,
            "spanId": self.span_id,
            "name": "observ smoke",
            "kind": 2,
            "startTimeUnixNano": str(self.start_ns),
            "endTimeUnixNano": str(self.start_ns + SPAN_NS),
            "attributes": [{"key": "smoke.marker", "value": {"stringValue": self.marker}}],
        }
        resource = {"attributes": [{"key": "service.name", "value": {"stringValue": SERVICE}}]}
        return {
            "resourceSpans": [
                {"resource": resource, "scopeSpans": [{"scope": {"name": "observ.smoke"}, "spans": [span]}]}
            ]
        }
