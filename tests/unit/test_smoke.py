"""`observ smoke` against a fake observ behind httpx.MockTransport: each way a target can fail is one line naming
the check and the cause; optional parts that are absent are skipped, not failed. Time is a fake clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from rich.console import Console

from observ.smoke.checks import Outcome
from observ.smoke.probe import SERVICE, Probe
from observ.smoke.runner import Report, Settings, run_smoke
from observ.smoke.target import Clock, SmokeFailed

URL = "http://observ.test"
Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeClock:
    t: float = 0.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s

    def clock(self) -> Clock:
        return Clock(self.now, self.sleep)


@dataclass
class FakeObserv:
    """Just enough of observ's API: pushed lines and spans come back through query_range, the Tempo API and the
    correlation API. `override` replaces the answer of one path; `seen` records every request."""

    lines: list[tuple[dict[str, str], list[Any]]] = field(default_factory=list)
    span_ids: list[str] = field(default_factory=list)
    override: dict[str, Handler] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        if path in self.override:
            return self.override[path](request)
        return self.default(request)

    def default(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/readyz":
            return httpx.Response(200, json={"status": "ready"})
        if path == "/loki/api/v1/push":
            for s in json.loads(request.content)["streams"]:
                self.lines.extend((s["stream"], v) for v in s["values"])
            return httpx.Response(204)
        if path == "/v1/traces":
            body = json.loads(request.content)
            self.span_ids += [s["spanId"] for r in body["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]]
            return httpx.Response(200, json={})
        if path == "/loki/api/v1/query_range":
            needle = request.url.params["query"].split('|= "')[1].rstrip('"')
            found = [{"stream": labels, "values": [v[:2]]} for labels, v in self.lines if needle in v[1]]
            return httpx.Response(200, json={"status": "success", "data": {"resultType": "streams", "result": found}})
        if path.startswith("/api/traces/"):
            if not self.span_ids:
                return httpx.Response(404, text="trace not found")
            spans = [{"spanId": s.upper(), "traceId": path.rsplit("/", 1)[1]} for s in self.span_ids]
            return httpx.Response(200, json={"batches": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]})
        if path.startswith("/api/v1/correlate/traces/"):
            tid = path.rsplit("/", 1)[1]
            logs = [{"line": v[1], "trace_id": v[2]["trace_id"], "match": "trace_id"} for _, v in self.lines]
            return httpx.Response(200, json={"trace_id": tid, "logs": [x for x in logs if x["trace_id"] == tid]})
        return httpx.Response(404, json={"detail": "Not Found"})

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.seen]


PROBE = Probe(
    marker="5eed" * 8, trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7", start_ns=10**18
)


def smoke(fake: Handler, clock: FakeClock | None = None, **settings: Any) -> tuple[Report, str]:
    out = Console(record=True, width=200)
    report = run_smoke(
        Settings(URL, **settings), out, transport=httpx.MockTransport(fake), clock=(clock or FakeClock()).clock(),
        probe=PROBE,
    )  # fmt: skip
    return report, out.export_text()


def failure(fake: Handler, clock: FakeClock | None = None, **settings: Any) -> str:
    with pytest.raises(SmokeFailed) as e:
        smoke(fake, clock, **settings)
    message = str(e.value)
    assert "\n" not in message
    return message


def answer(status: int, **kwargs: Any) -> Handler:
    return lambda _: httpx.Response(status, **kwargs)


def test_every_check_passes_against_a_target_that_keeps_what_it_is_sent() -> None:
    fake = FakeObserv()
    report, printed = smoke(fake, tenant="acme", token="s3cr3t")
    assert [(name, o.skipped) for name, o in report.results] == [
        ("ready", False), ("push line", False), ("push span", False), ("query line", False), ("query trace", False),
        ("correlate", False),
    ]  # fmt: skip
    [(labels, value)] = fake.lines
    assert labels == {"service": SERVICE} and PROBE.marker in value[1]
    assert value[2] == {"trace_id": PROBE.trace_id, "span_id": PROBE.span_id}
    assert fake.span_ids == [PROBE.span_id]
    assert all(r.headers["X-Scope-OrgID"] == "acme" for r in fake.seen)
    assert all(r.headers["Authorization"] == "Bearer s3cr3t" for r in fake.seen)
    query = next(r for r in fake.seen if r.url.path == "/loki/api/v1/query_range").url.params
    assert query["query"] == f'{{service="{SERVICE}"}} |= "{PROBE.marker}"'
    assert int(query["start"]) <= int(value[0]) < int(query["end"])
    lines = printed.splitlines()
    names = ["ready", "push line", "push span", "query line", "query trace", "correlate"]
    assert [line[2:13].rstrip() for line in lines[:6]] == names
    assert all(line.startswith("✓ ") and " 0.00s  " in line for line in lines[:6])
    assert lines[-1] == "smoke passed in 0.00s: 6 checks passed"


def test_without_a_tenant_or_token_no_such_header_is_sent() -> None:
    fake = FakeObserv()
    smoke(fake)
    assert not any("X-Scope-OrgID" in r.headers or "Authorization" in r.headers for r in fake.seen)


def test_a_target_without_an_otlp_receiver_passes_with_the_trace_checks_skipped() -> None:
    fake = FakeObserv(override={"/v1/traces": answer(404, json={"detail": "Not Found"})})
    report, printed = smoke(fake)
    skipped = {name: o.detail for name, o in report.results if o.skipped}
    assert skipped == {
        "push span": "no OTLP receiver (POST /v1/traces answered 404)",
        "query trace": "no span was pushed",
    }
    assert not any(p.startswith("GET /api/traces/") for p in fake.paths())
    assert "skipped: no OTLP receiver" in printed.splitlines()[-1]


def test_a_target_without_the_correlation_api_passes_with_that_check_skipped() -> None:
    fake = FakeObserv(
        override={f"/api/v1/correlate/traces/{PROBE.trace_id}": answer(404, json={"detail": "Not Found"})}
    )
    report, _ = smoke(fake)
    assert report.results[-1][0] == "correlate" and report.results[-1][1].skipped


def test_a_plain_text_404_on_correlation_from_a_proxy_is_no_correlation_api() -> None:
    path = f"/api/v1/correlate/traces/{PROBE.trace_id}"
    fake = FakeObserv(override={path: answer(404, text="404 page not found")})
    report, _ = smoke(fake)
    assert report.results[-1] == ("correlate", Outcome(f"no correlation API (GET {path} answered 404)", skipped=True))


def test_an_unreachable_target_is_one_line_naming_it() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    assert failure(refused) == f"cannot reach {URL}: connection refused"


def test_an_unreachable_otlp_receiver_names_its_own_address() -> None:
    fake = FakeObserv()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "sidecar.test":
            raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)
        return fake(request)

    assert failure(handler, otlp_url="http://sidecar.test:4318") == (
        "cannot reach http://sidecar.test:4318: name or service not known"
    )


@pytest.mark.parametrize(
    ("otlp_url", "sent_to"),
    [("http://sidecar.test:4318", "http://sidecar.test:4318/v1/traces"),
     ("http://sidecar.test:4318/v1/traces", "http://sidecar.test:4318/v1/traces"),
     ("http://gw.test/otlp/", "http://gw.test/otlp/v1/traces")],
)  # fmt: skip
def test_the_span_goes_to_otlp_url_given_as_a_base_or_a_whole_traces_url(otlp_url: str, sent_to: str) -> None:
    fake = FakeObserv()
    smoke(fake, otlp_url=otlp_url)
    assert [str(r.url) for r in fake.seen if r.method == "POST" and r.url.path.endswith("/v1/traces")] == [sent_to]


def test_a_request_that_times_out_names_the_request_and_the_limit() -> None:
    fake = FakeObserv()

    def slow_query(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    fake.override["/loki/api/v1/query_range"] = slow_query
    assert failure(fake, timeout_s=5) == "GET /loki/api/v1/query_range did not answer within 5s"


def test_a_refused_push_names_the_status_and_the_servers_reason() -> None:
    fake = FakeObserv(override={"/loki/api/v1/push": answer(401, text="no org id\n")})
    assert failure(fake) == "the log line was not stored: POST /loki/api/v1/push answered 401: no org id"


def test_a_failing_otlp_receiver_fails_rather_than_skips() -> None:
    fake = FakeObserv(override={"/v1/traces": answer(500, json={"detail": "Internal Server Error"})})
    assert failure(fake) == "the span was not stored: POST /v1/traces answered 500: Internal Server Error"


def test_an_otlp_status_body_gives_its_message() -> None:
    status = {"code": 14, "message": "cannot store the spans now: disk full"}
    fake = FakeObserv(override={"/v1/traces": answer(503, json=status)})
    assert (
        failure(fake) == "the span was not stored: POST /v1/traces answered 503: cannot store the spans now: disk full"
    )


def test_a_span_the_receiver_rejected_fails() -> None:
    partial = {"partialSuccess": {"rejectedSpans": "1", "errorMessage": "1 spans rejected: traceId is all zeros"}}
    fake = FakeObserv(override={"/v1/traces": answer(200, json=partial)})
    assert failure(fake) == "the span was rejected by POST /v1/traces: 1 spans rejected: traceId is all zeros"


def test_a_line_that_never_comes_back_fails_after_the_timeout_polling_with_backoff() -> None:
    fake = FakeObserv(override={"/loki/api/v1/push": answer(204)})
    clock = FakeClock()
    message = failure(fake, clock, timeout_s=60)
    assert message == "the pushed line did not come back within 60s (query_range answered 0 lines)"
    assert clock.t == 60
    assert clock.slept[:6] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0] and max(clock.slept) == 2.0
    assert fake.paths().count("GET /loki/api/v1/query_range") == len(clock.slept) + 1


def test_a_line_stored_late_is_found_on_a_later_poll() -> None:
    fake = FakeObserv()
    empty = {"status": "success", "data": {"resultType": "streams", "result": []}}
    polls = 0

    def late(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        polls += 1
        return httpx.Response(200, json=empty) if polls < 4 else fake.default(request)

    fake.override["/loki/api/v1/query_range"] = late
    clock = FakeClock()
    report, _ = smoke(fake, clock)
    assert polls == 4 and report.results[3][0] == "query line" and clock.slept[:3] == [0.1, 0.2, 0.4]


def test_malformed_json_names_the_request() -> None:
    fake = FakeObserv(override={"/loki/api/v1/query_range": answer(200, text="<html>proxy error</html>")})
    assert failure(fake) == "GET /loki/api/v1/query_range answered malformed JSON: <html>proxy error</html>"


def test_json_of_the_wrong_shape_names_the_missing_field() -> None:
    fake = FakeObserv(override={"/loki/api/v1/query_range": answer(200, json={"status": "success"})})
    assert failure(fake) == "GET /loki/api/v1/query_range answered an unexpected body: data: Field required"


def test_a_query_error_fails_at_once_with_the_servers_message() -> None:
    fake = FakeObserv(override={"/loki/api/v1/query_range": answer(400, text="parse error at line 1, col 3")})
    clock = FakeClock()
    assert failure(fake, clock) == (
        "the pushed line could not be queried: GET /loki/api/v1/query_range answered 400: parse error at line 1, col 3"
    )
    assert clock.slept == []


def test_a_span_that_never_comes_back_fails_with_the_tempo_apis_answer() -> None:
    fake = FakeObserv(override={f"/api/traces/{PROBE.trace_id}": answer(404, text="trace not found")})
    assert failure(fake, timeout_s=30) == (
        f"the pushed span did not come back within 30s (/api/traces/{PROBE.trace_id} answered 404: trace not found)"
    )


def test_a_correlation_answer_without_the_line_fails() -> None:
    other = {"line": "someone else's line", "trace_id": PROBE.trace_id, "match": "trace_id"}
    path = f"/api/v1/correlate/traces/{PROBE.trace_id}"
    fake = FakeObserv(override={path: answer(200, json={"trace_id": PROBE.trace_id, "logs": [other]})})
    assert failure(fake, timeout_s=10) == (
        f"the correlation of trace {PROBE.trace_id} did not list the pushed line within 10s (it listed 1 other lines)"
    )


def test_a_correlation_api_that_finds_nothing_fails_with_its_reason() -> None:
    path = f"/api/v1/correlate/traces/{PROBE.trace_id}"
    detail = f"trace {PROBE.trace_id} not found: no span of it is stored and no log line carries it"
    fake = FakeObserv(override={path: answer(404, json={"detail": detail})})
    assert failure(fake, timeout_s=10) == (
        f"the correlation of trace {PROBE.trace_id} did not list the pushed line within 10s ({path} answered 404: "
        f"{detail})"
    )


def test_a_target_still_starting_is_waited_for() -> None:
    statuses = iter([503, 503, 200])
    fake = FakeObserv()
    fake.override["/readyz"] = lambda _: httpx.Response(next(statuses), json={"status": "starting"})
    clock = FakeClock()
    report, _ = smoke(fake, clock)
    assert report.results[0][0] == "ready" and clock.slept[:2] == [0.1, 0.2]
    assert fake.paths().count("GET /readyz") == 3


def test_a_target_that_never_becomes_ready_fails_after_the_timeout() -> None:
    fake = FakeObserv(override={"/readyz": answer(503, json={"status": "starting"})})
    assert (
        failure(fake, timeout_s=2)
        == 'the target did not become ready within 2s (/readyz answered 503: {"status":"starting"})'
    )
    assert "POST /loki/api/v1/push" not in fake.paths()


def test_readyz_missing_fails_at_once() -> None:
    fake = FakeObserv(override={"/readyz": answer(404, json={"detail": "Not Found"})})
    assert failure(fake) == "GET /readyz answered 404: Not Found"


def test_a_long_error_body_is_cut_to_one_short_line() -> None:
    fake = FakeObserv(override={"/loki/api/v1/push": answer(500, text="boom\n" + "x" * 1000)})
    message = failure(fake)
    assert message.startswith("the log line was not stored: POST /loki/api/v1/push answered 500: boom xxx")
    assert message.endswith("…") and len(message) < 300


@pytest.mark.parametrize(
    ("timeout", "seconds"), [("60s", 60.0), ("2m", 120.0), ("90", 90.0), ("1.5", 1.5), ("1m30s", 90.0)]
)
def test_timeout_reads_durations_and_seconds(timeout: str, seconds: float) -> None:
    assert Settings.parse(URL, None, None, timeout, None).timeout_s == seconds


@pytest.mark.parametrize(
    ("args", "message"),
    [(("127.0.0.1:3100", "60s", None), "--target: '127.0.0.1:3100' is not an http:// or https:// URL"),
     ((URL, "60s", "sidecar:4318"), "--otlp-url: 'sidecar:4318' is not an http:// or https:// URL"),
     ((URL, "soon", None), '--timeout: cannot parse "soon" to a valid duration'),
     ((URL, "0s", None), "--timeout: '0s' is not a positive duration")],
)  # fmt: skip
def test_bad_options_are_refused_naming_the_option(args: tuple[str, str, str | None], message: str) -> None:
    target, timeout, otlp_url = args
    with pytest.raises(ValueError) as e:
        Settings.parse(target, None, None, timeout, otlp_url)
    assert str(e.value) == message


def test_each_run_pushes_fresh_ids() -> None:
    a, b = Probe.new(1), Probe.new(1)
    assert len({a.marker, b.marker}) == 2 and len({a.trace_id, b.trace_id}) == 2
    assert len(a.trace_id) == 32 and len(a.span_id) == 16 and int(a.trace_id, 16) and int(a.span_id, 16)
    span = a.otlp_traces()["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert int(span["startTimeUnixNano"]) < a.line_ns < int(span["endTimeUnixNano"])
