"""The demo workload of `observ up --demo`: four services calling each other over HTTP, with traffic.

Each service exports spans over OTLP/HTTP to observ, exposes RED metrics with exemplars on its `/metrics`, and
writes JSON logs with trace and span IDs as CRI files in the kubelet layout under `root`, so the sidecar's path
(path labels, CRI parsing, multiline, rotation) is exercised as in production.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from collectors.demo.faults import Faults
from collectors.demo.podlog import PodLog
from collectors.demo.prober import Prober
from collectors.demo.services import DemoService
from collectors.demo.telemetry import Telemetry
from collectors.demo.topology import SERVICES, TOPOLOGY
from collectors.demo.traffic import Traffic

NAMESPACE = "demo"


def otlp_processor(traces_url: str, headers: Mapping[str, str]) -> SpanProcessor:
    """Batches spans to an OTLP/HTTP endpoint (observ's `/v1/traces`) once a second, as an app's SDK would."""
    exporter = OTLPSpanExporter(endpoint=traces_url, headers=dict(headers), timeout=5)
    return BatchSpanProcessor(exporter, schedule_delay_millis=1000)


class DemoWorkload:
    """`rate` frontend requests per second once started; `traces_url` None keeps spans in the process."""

    def __init__(
        self,
        root: Path,
        rate: float = 20.0,
        traces_url: str | None = None,
        otlp_headers: Mapping[str, str] | None = None,
        rotate_bytes: int = 5 * 1024 * 1024,
        seed: int = 7,
        processor_for: Callable[[str], SpanProcessor] | None = None,
    ) -> None:
        """`processor_for(service)`, when given, exports that service's spans instead of `traces_url` (e.g. some
        services over OTLP/gRPC, as a mixed fleet does)."""
        self.root = root
        self.faults = Faults(SERVICES)
        rng = random.Random(seed)
        self.services: dict[str, DemoService] = {}
        self.logs: dict[str, PodLog] = {}
        for name in SERVICES:
            pod = f"{name}-{rng.randrange(16**5):05x}"
            self.logs[name] = PodLog(root, NAMESPACE, pod, uuid.UUID(int=rng.getrandbits(128)), name, rotate_bytes)
            processor = (
                processor_for(name)
                if processor_for
                else otlp_processor(traces_url, otlp_headers or {})
                if traces_url
                else None
            )
            telemetry = Telemetry(name, self.logs[name], processor)
            self.services[name] = DemoService(name, TOPOLOGY[name], telemetry, self.faults, random.Random(rng.random()))
        urls = {name: service.url for name, service in self.services.items()}
        for service in self.services.values():
            service.downstream = urls
        frontend = self.services["frontend"]
        self.traffic = Traffic(frontend.url, frontend.profile.routes, rate, random.Random(rng.random()))
        self.prober = Prober([f"{frontend.url}/healthz"])

    @property
    def glob(self) -> str:
        return PodLog.glob(self.root)

    @property
    def targets(self) -> dict[str, str]:
        """Scrape targets: service name → `host:port` of its `/metrics`."""
        return {name: service.address for name, service in self.services.items()}

    @property
    def probes(self) -> list[str]:
        """URLs the blackbox prober (at `prober.address`) probes: the storefront's health check."""
        return sorted(self.prober.targets)

    @property
    def lines_written(self) -> int:
        return sum(log.lines_written for log in self.logs.values())

    def start(self) -> None:
        for service in self.services.values():
            service.start()
        self.prober.start()
        self.traffic.start()

    def stop(self) -> None:
        """Traffic first, so the services' last spans are flushed after their last requests."""
        self.traffic.stop()
        self.prober.stop()
        for service in self.services.values():
            service.stop()
