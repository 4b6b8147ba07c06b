"""The demo services: real HTTP between them on loopback, spans into an in-memory exporter, no sleeping."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id

from collectors.demo.faults import SLOW_SECONDS, FaultMode, Faults, error_message
from collectors.demo.podlog import PodLog
from collectors.demo.services import DemoService
from collectors.demo.telemetry import Telemetry
from collectors.demo.topology import SERVICES, TOPOLOGY, Failure, Profile, Route
from collectors.demo.traffic import Traffic

OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


@dataclass
class Demo:
    services: dict[str, DemoService]
    logs: dict[str, PodLog]
    spans: InMemorySpanExporter
    faults: Faults
    root: Path
    slept: list[float]

    def url(self, name: str) -> str:
        return self.services[name].url

    def lines(self, name: str) -> list[dict[str, object]]:
        """The JSON payloads of a service's CRI lines (plain-text lines skipped)."""
        out = []
        for line in self.logs[name].path.read_text().splitlines():
            payload = line.split(" ", 3)[3]
            if payload.startswith("{"):
                out.append(orjson.loads(payload))
        return out


def _start(root: Path, profiles: dict[str, Profile], seed: int = 1) -> Demo:
    spans = InMemorySpanExporter()
    faults = Faults(profiles)
    slept: list[float] = []
    services, logs = {}, {}
    for name, profile in profiles.items():
        logs[name] = PodLog(root, "demo", f"{name}-0", uuid.UUID(int=1), name, 1 << 30)
        telemetry = Telemetry(name, logs[name], SimpleSpanProcessor(spans))
        services[name] = DemoService(name, profile, telemetry, faults, random.Random(seed), sleep=slept.append)
    for service in services.values():
        service.downstream = {name: s.url for name, s in services.items()}
        service.start()
    return Demo(services, logs, spans, faults, root, slept)


def _no_chance(profile: Profile) -> Profile:
    """The profile without random failures or slow requests, so a test decides what fails."""
    routes = tuple(Route(r.method, r.template, r.work_s, r.calls, (), r.weight) for r in profile.routes)
    return Profile(routes, slow_share=0.0)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    d = _start(tmp_path, {name: _no_chance(p) for name, p in TOPOLOGY.items()})
    yield d
    for service in d.services.values():
        service.stop()


def _by_service(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        out.setdefault(str(span.resource.attributes["service.name"]), []).append(span)
    return out


def test_a_checkout_is_one_trace_across_four_services_linked_by_traceparent(demo: Demo) -> None:
    assert httpx.post(demo.url("frontend") + "/checkout").status_code == 200
    spans = demo.spans.get_finished_spans()
    assert {s.context.trace_id for s in spans} == {spans[0].context.trace_id}
    by_service = _by_service(spans)
    assert set(by_service) == set(SERVICES)
    (root,) = [s for s in spans if s.parent is None]
    assert (root.name, root.kind, root.resource.attributes["service.name"]) == ("POST /checkout", SpanKind.SERVER,
                                                                               "frontend")  # fmt: skip
    client_ids = {s.context.span_id: s for s in spans if s.kind is SpanKind.CLIENT}
    for span in spans:
        if span.kind is SpanKind.SERVER and span is not root:
            caller = client_ids[span.parent.span_id]  # the W3C traceparent carried the caller's client span
            assert caller.attributes["peer.service"] == span.resource.attributes["service.name"]
    charge = next(s for s in by_service["payments"] if s.kind is SpanKind.SERVER)
    assert charge.attributes["http.route"] == "/charge" and charge.attributes["http.response.status_code"] == 200


def test_log_lines_carry_the_server_span_ids_and_the_request(demo: Demo) -> None:
    httpx.get(demo.url("frontend") + "/product/42")
    spans = demo.spans.get_finished_spans()
    (server,) = [s for s in spans if s.name == "GET /stock/{id}" and s.kind is SpanKind.SERVER]
    (line,) = demo.lines("inventory")
    assert line["trace_id"] == format_trace_id(server.context.trace_id)
    assert line["span_id"] == format_span_id(server.context.span_id)
    assert (line["level"], line["service"], line["route"], line["path"], line["status"]) == (
        "info", "inventory", "/stock/{id}", "/stock/42", 200
    )  # fmt: skip


def test_metrics_are_red_series_with_trace_id_exemplars_in_openmetrics(demo: Demo) -> None:
    httpx.post(demo.url("frontend") + "/checkout")
    (trace_id,) = {format_trace_id(s.context.trace_id) for s in demo.spans.get_finished_spans()}
    om = httpx.get(demo.url("payments") + "/metrics", headers={"accept": OPENMETRICS})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert f'http_requests_total{{code="200",method="POST",route="/charge"}} 1.0 # {{trace_id="{trace_id}"}} 1.0' in (
        om.text
    )
    bucket = 'http_request_duration_seconds_bucket{code="200",le="0.05",method="POST",route="/charge"} 1.0'
    assert f'{bucket} # {{trace_id="{trace_id}"}}' in om.text
    assert all(f'le="{le}"' in om.text for le in ("0.05", "0.1", "0.3", "0.5", "1.0", "2.5", "5.0", "+Inf"))
    plain = httpx.get(demo.url("payments") + "/metrics").text
    assert 'http_requests_total{code="200",method="POST",route="/charge"} 1.0' in plain and "trace_id" not in plain


def test_a_failing_service_shows_as_5xx_error_spans_and_error_lines_with_the_message(demo: Demo) -> None:
    demo.faults.set("payments", FaultMode.error)
    resp = httpx.post(demo.url("frontend") + "/checkout")
    message = error_message("payments")
    assert resp.status_code == 502
    assert resp.json()["error"] == f"checkout answered 502: payments answered 503: {message}"
    spans = demo.spans.get_finished_spans()
    (trace_id,) = {format_trace_id(s.context.trace_id) for s in spans}
    charge = next(s for s in spans if s.name == "POST /charge" and s.kind is SpanKind.SERVER)
    assert (charge.status.status_code, charge.status.description) == (StatusCode.ERROR, message)
    assert charge.events[0].attributes["exception.message"] == message
    assert all(s.status.status_code is StatusCode.ERROR for s in spans if "payments" in s.name or s.parent is None)
    errors = [line for line in demo.lines("payments") if line["level"] == "error"]
    assert {(line["msg"], line["trace_id"]) for line in errors} == {("request failed", trace_id), (message, trace_id)}
    metrics = httpx.get(demo.url("payments") + "/metrics").text
    assert 'http_requests_total{code="503",method="POST",route="/charge"} 1.0' in metrics
    health = httpx.get(demo.url("payments") + "/healthz")
    assert (health.status_code, health.json()["error"]) == (503, message), "the blackbox probe sees it too"
    demo.faults.set("payments", FaultMode.off)
    assert httpx.post(demo.url("frontend") + "/checkout").status_code == 200
    assert httpx.get(demo.url("payments") + "/healthz").status_code == 200
    assert httpx.get(demo.url("payments") + "/readyz").status_code == 200


def test_a_slow_service_waits_past_every_latency_threshold(demo: Demo) -> None:
    demo.faults.set("inventory", FaultMode.slow)
    httpx.get(demo.url("frontend") + "/product/1")
    assert max(demo.slept) >= SLOW_SECONDS * 0.9 > 1.0


def test_the_topology_mix_fails_sometimes_and_only_with_its_own_messages(tmp_path: Path) -> None:
    profile = Profile((Route("GET", "/x", 0.01, failures=(Failure(0.5, 503, "db down"), Failure(0.5, 402, "no"))),), 0)
    demo = _start(tmp_path, {"solo": profile})
    try:
        codes = {httpx.get(demo.url("solo") + "/x").status_code for _ in range(30)}
        assert codes == {503, 402}
        lines = demo.lines("solo")
        assert {line["level"] for line in lines} == {"error", "warn"}
        assert {line["msg"] for line in lines if line["level"] == "error"} == {"request failed", "db down"}
        raw = demo.logs["solo"].path.read_text()
        tracebacks = [line for line in raw.splitlines() if " stderr F ERROR handler failed trace_id=" in line]
        assert all(len(t.rsplit("trace_id=", 1)[1]) == 32 for t in tracebacks)
    finally:
        demo.services["solo"].stop()


def test_hostile_requests_are_answered_not_crashed_on(demo: Demo) -> None:
    url = demo.url("inventory")
    missing = httpx.get(url + "/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "no route GET /nope"})
    assert httpx.delete(url + "/stock/1").status_code == 501  # a method no route has
    for bad in ("00-" + "0" * 32 + "-" + "0" * 16 + "-01", "garbage", "00-zz-yy-01", "x" * 10_000):
        assert httpx.get(url + "/stock/1", headers={"traceparent": bad}).status_code == 200
    parents = {s.parent for s in demo.spans.get_finished_spans()}
    assert parents == {None}, "an invalid traceparent starts a new trace"
    assert httpx.get(url + "/stock/" + "9" * 5000).status_code == 200


def test_an_unreachable_dependency_is_a_502_naming_it(demo: Demo) -> None:
    demo.services["checkout"].downstream = {**demo.services["checkout"].downstream, "payments": "http://127.0.0.1:9"}
    resp = httpx.post(demo.url("checkout") + "/checkout")
    assert resp.status_code == 502 and resp.json()["error"].startswith("payments answered 503: payments unreachable:")


def test_traffic_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="rate must be above 0 per second, got 0"):
        Traffic("http://127.0.0.1:9", TOPOLOGY["frontend"].routes, 0, random.Random(1))


def test_traffic_spreads_over_the_frontend_routes_by_weight() -> None:
    routes = TOPOLOGY["frontend"].routes
    assert sum(r.weight for r in routes) == pytest.approx(1.0)
    assert all(r.weight > 0 for r in routes)
