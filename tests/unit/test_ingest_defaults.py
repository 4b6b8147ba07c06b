"""Loki 3's `service_name` and `detected_level`, with Loki's own test tables as data.

Sources (grafana/loki at 65e30f8): pkg/distributor/field_detection_test.go (Test_DetectLogLevels,
Test_detectLogLevelFromLogEntry, ...WithCustomLabels, ...FromOTLPSeverityNumber, TestGetLevelUsingJsonParser,
Test_detectLevelFromLogLine, ..._earliestPosition), pkg/loghttp/push/push_test.go (TestParseRequest's service
discovery rows, Test_ServiceDetection) and pkg/distributor/distributor_test.go (Test_SortLabelsOnPush,
TestParseStreamLabels).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from prometheus_client import CollectorRegistry

from collectors.log_adapter.sinks.store.sink import StoreSink
from observ.api.config import PushConfig
from observ.api.loki import push
from observ.bus import BusConfig, Record
from observ.ingest_defaults import (
    LOKI_DEFAULTS,
    IngestDefaults,
    apply,
    detected_level,
    json_level,
    level_from_words,
    logfmt_level,
    service_name,
)
from observ.ingester.ingester import IngestConfig, Ingester
from observ.model import SCHEMA_VERSION, Batch, DecodedBatch, Entry, Stream
from observ.otlp.limits import OtlpLimits
from observ.otlp.logs import logs_from_request
from observ.otlp.rejections import Rejections
from observ.store.logstore import LogStore
from tests.unit.test_ingest import TOPIC, FakeConsumer

NOW = 1_700_000_000 * 10**9
TEST_FIELDS = ["level", "LEVEL", "Level", "severity", "SEVERITY", "Severity", "lvl", "LVL", "Lvl"]
"""The logLevelFields of Loki's Test_detectLogLevelFromLogEntry."""


def plan(*streams: dict[str, object], cfg: PushConfig | None = None) -> push.PushPlan:
    body = orjson.dumps({"streams": list(streams)})
    return push.plan(push.decode_json(body), "t", cfg or PushConfig(), now_ns=NOW)


def one_entry(labels: dict[str, str], line: str, md: dict[str, str] | None = None, **cfg: object) -> DecodedBatch:
    value: list[object] = [str(NOW), line] + ([md] if md else [])
    [b] = plan({"stream": labels, "values": [value]}, cfg=PushConfig.model_validate(cfg)).batches
    return b


# --- detected_level through a push (Test_DetectLogLevels) ------------------------------------------------------


def test_log_level_detection_disabled() -> None:
    b = one_entry({"foo": "bar"}, "line 0000000000", discover_log_levels=False)
    assert b.metadata is None


def test_log_level_detection_enabled_but_level_cannot_be_detected() -> None:
    assert one_entry({"foo": "bar"}, "line 0000000000").metadata == [{"detected_level": "unknown"}]


@pytest.mark.parametrize("level", ["warn", "Wrn", "WARNING"])
def test_log_level_detection_enabled_and_warn_logs(level: str) -> None:
    line = f"msg=an error occurred 0{'0' * 10} severity={level}"  # makeWriteRequestWithLabelsWithLevel's line
    assert one_entry({"foo": "bar"}, line).metadata == [{"detected_level": "warn"}]


def test_log_level_already_present_in_stream() -> None:
    b = one_entry({"foo": "bar", "level": "debug"}, "line 0")
    assert (b.level, b.metadata) == (["debug"], [{"detected_level": "debug"}])


def test_log_level_already_present_as_structured_metadata() -> None:
    b = one_entry({"foo": "bar"}, "line 0", {"severity": "warn"})
    assert b.metadata == [{"severity": "warn", "detected_level": "warn"}]


def test_detected_level_metadata_takes_precedence_over_other_level_detection_methods() -> None:
    md = {"severity_number": "13", "severity": "critical", "detected_level": "trace"}
    b = one_entry({"foo": "bar", "level": "debug"}, '{"msg":"this is a test message", "level":"error"}', md)
    assert b.metadata == [{"severity_number": "13", "severity": "critical", "detected_level": "trace"}]


@pytest.mark.parametrize(
    ("given", "want"),
    [("WaRn", "warn"), ("InFo", "info"), ("CRITICAL", "critical"), ("Debug", "debug"), ("FaTaL", "fatal"),
     ("tRaCe", "trace"), ("ERROR", "error")],
)  # fmt: skip
def test_detected_level_with_mixed_case_value_gets_normalized(given: str, want: str) -> None:
    assert one_entry({"foo": "bar"}, "test log", {"detected_level": given}).metadata == [{"detected_level": want}]


@pytest.mark.parametrize(
    ("level", "want"),
    [("ERROR", "error"), ("WaRn", "warn"), ("InFo", "info"), ("CRITICAL", "critical"), ("Debug", "debug"),
     ("FaTaL", "fatal"), ("tRaCe", "trace"), ("informational", "informational"), ("notice", "notice")],
)  # fmt: skip
def test_level_from_stream_labels_gets_normalized_in_detected_level(level: str, want: str) -> None:
    b = one_entry({"foo": "bar", "level": level}, "log message without level")
    assert b.metadata == [{"detected_level": want}]


def test_indexed_otel_severity_takes_precedence_over_structured_metadata_or_log_line() -> None:
    labels = {"foo": "bar", "SeverityText": "debug"}
    values = [
        [str(NOW), '{"msg":"this is a test message", "level":"error"}', {"severity_number": "13"}],
        [str(NOW + 1), '{"msg":"this is another message", "level":"trace"}', {"severity_text": "info"}],
    ]
    [b] = plan({"stream": labels, "values": values}).batches
    assert [md["detected_level"] for md in b.metadata or []] == ["debug", "debug"]


# --- the line (Test_detectLogLevelFromLogEntry and ...WithCustomLabels) ----------------------------------------

COMMON_CASES = [
    ("error", {"severity_number": "7"}, "debug"),  # use severity number from otlp logs (SeverityNumberDebug3)
    ("", {"severity_number": "foo"}, "info"),  # invalid severity number should not cause any issues
    ("foo", {}, "unknown"),
    ("this is a warning log", {}, "warn"),
    ("this is a debug message", {}, "debug"),
    ("this is a DEBUG message", {}, "debug"),
    ("debug: something happened", {}, "debug"),
    ("DEBUG: something happened", {}, "debug"),
    ("this is a critical message", {}, "critical"),
    ("this is a CRITICAL message", {}, "critical"),
    ("critical: something happened", {}, "critical"),
    ("CRITICAL: something happened", {}, "critical"),
]  # fmt: skip
"""The rows both of Loki's tables begin with (severity numbers and level words in the line)."""

LOG_ENTRY_CASES = [
    *COMMON_CASES,
    ("[debug] this is a debug message", {}, "debug"),
    ("[DEBUG] this is a debug message", {}, "debug"),
    ("[critical] this is a critical message", {}, "critical"),
    ("[CRITICAL] this is a critical message", {}, "critical"),
    ("[info] this is an info message", {}, "info"),
    ("[INFO] this is an info message", {}, "info"),
    ("[warn] this is a warning message", {}, "warn"),
    ("[WARNING] this is a warning message", {}, "warn"),
    ("[error] this is an error message", {}, "error"),
    ("[ERROR] this is an error message", {}, "error"),
    ("[err] this is an error message", {}, "error"),
    ("[ERR] this is an error message", {}, "error"),
    ('{"foo":"bar","msg":"message with keyword error but it should not get picked up","level":"critical"}', {},
     "critical"),
    ('{"FOO":"bar","MSG":"message with keyword error but it should not get picked up","LEVEL":"Critical"}', {},
     "critical"),
    ('{"foo":"bar","msg":"message with keyword warn but it should not get picked up","level":"warn"}', {}, "warn"),
    ('{"foo":"bar","msg":"message with keyword warn but it should not get picked up","SEVERITY":"FATAL"}', {},
     "fatal"),
    ('{"foo":"bar","msg":"message with keyword warn but it should not get picked up","level":"ERR"}', {}, "error"),
    ('{"foo":"bar","msg":"message with keyword INFO get picked up"}', {}, "info"),
    ('foo=bar msg="message with info and not level should get picked up"', {}, "info"),
    ('foo=bar msg="message with keyword error but it should not get picked up" level=warn', {}, "warn"),
    ('foo=bar msg="message with keyword error but it should not get picked up" level=Warn', {}, "warn"),
    ('foo=bar msg="message with keyword error but it should not get picked up" level=Trace', {}, "trace"),
    ('foo=bar msg="message with keyword but it should not get picked up" level=NA', {}, "unknown"),
    ('foo=bar msg="message with keyword but it should not get picked up" severity=critical', {}, "critical"),
    ('Foo=bar MSG="Message with keyword but it should not get picked up" Severity=critical', {}, "critical"),
    ('foo=bar msg="message with keyword error but it should not get picked up" level=inFO', {}, "info"),
    ('FOO=bar MSG="message with keyword error but it should not get picked up" LEVEL=inFO', {}, "info"),
    ('FOO=bar MSG="message that should qualify to unknown when there is no level defined" LEVEL=Inf', {}, "info"),
    ('FOO=bar MSG="message that should qualify to unknown when there is no level defined" LEVEL=Information', {},
     "info"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "md", "want"), LOG_ENTRY_CASES)
def test_detect_log_level_from_log_entry(line: str, md: dict[str, str], want: str) -> None:
    d = IngestDefaults(log_level_fields=TEST_FIELDS)
    assert detected_level({}, md, line, d) == want


CUSTOM_FIELD_CASES = [
    *COMMON_CASES,
    ("[debug] this is a debug message with custom fields", {}, "debug"),
    ("[CRITICAL] this is a critical message with custom fields", {}, "critical"),
    ('{"foo":"bar","msg":"message with keyword error but it should not get picked up","log_level":"critical"}', {},
     "critical"),
    ('{"FOO":"bar","MSG":"message with keyword error but it should not get picked up","LOGGINGLVL":"Critical"}', {},
     "critical"),
    ('{"foo":"bar","msg":"message with keyword warn but it should not get picked up","lvl":"warn"}', {}, "warn"),
    ('{"foo":"bar","msg":"message with keyword warn but it should not get picked up","LOGGINGLVL":"FATAL"}', {},
     "fatal"),
    ('{"foo":"bar","msg":"message with keyword warn but it should not get picked up","logging_level":"ERR"}', {},
     "error"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "md", "want"), CUSTOM_FIELD_CASES)
def test_detect_log_level_from_log_entry_with_custom_labels(line: str, md: dict[str, str], want: str) -> None:
    d = IngestDefaults(log_level_fields=["log_level", "logging_level", "LOGGINGLVL", "lvl"])
    assert detected_level({}, md, line, d) == want


@pytest.mark.parametrize(
    ("number", "want"),
    [(1, "trace"), (4, "trace"), (5, "debug"), (6, "debug"), (8, "debug"), (9, "info"), (12, "info"), (13, "warn"),
     (16, "warn"), (17, "error"), (20, "error"), (21, "fatal"), (24, "fatal"), (0, "unknown"), (25, "unknown"),
     (100, "unknown"), ("foo", "info")],
)  # fmt: skip
def test_detect_log_level_from_otlp_severity_number(number: int | str, want: str) -> None:
    assert detected_level({}, {"severity_number": str(number)}, "some log message", LOKI_DEFAULTS) == want


@pytest.mark.parametrize(
    ("line", "fields", "max_depth", "want"),
    [
        ('{"level": "error"}', {"level"}, 0, "error"),
        ('{"a": {"level": "info"}}', {"level"}, 0, "info"),
        ('{"a": {"b": {"c": {"level": "warn"}}}}', {"level"}, 0, "warn"),
        ('{"severity": "error", "level": "info"}', {"level", "severity"}, 0, "error"),
        ('{"a": {"level": "error"}, "b": {"level": "info"}}', {"level"}, 0, "error"),
        ('{"arr": [{"level": "debug"}], "level": "info"}', {"level"}, 0, "info"),
        ('{"level": 123, "severity": "warn"}', {"level", "severity"}, 0, "warn"),
        ('{"foo": "bar"}', {"level"}, 0, ""),
        ('{"foo": "bar"', {"level"}, 0, ""),
        ('{"custom_level": "error", "log_severity": "warn"}', {"custom_level", "log_severity"}, 0, "error"),
        ('{"a": {"level": "debug"}, "level": "info"}', {"level"}, 1, "info"),
        ('{"a": {"level": "debug"}}', {"level"}, 1, ""),
    ],
)
def test_get_level_using_json_parser(line: str, fields: set[str], max_depth: int, want: str) -> None:
    assert json_level(line, fields, max_depth) == want


def test_json_levels_are_searched_two_levels_deep_by_default() -> None:
    assert detected_level({}, {}, '{"a": {"level": "WRN"}}', LOKI_DEFAULTS) == "warn"
    assert detected_level({}, {}, '{"a": {"b": {"level": "WRN"}}}', LOKI_DEFAULTS) == "unknown", "no level word"


def test_logfmt_field_of_the_earliest_hint_wins_and_a_syntax_error_ends_the_scan() -> None:
    hints = {"level": 0, "severity": 4, "lvl": 8}
    assert logfmt_level("lvl=warn severity=error", hints) == "error"
    assert logfmt_level('severity=info bad"key level=error', hints) == "info"


WORDS = [("trace", "trace"), ("debug", "debug"), ("info", "info"), ("warn", "warn"), ("warning", "warn"),
         ("error", "error"), ("err", "error"), ("fatal", "fatal"), ("critical", "critical"),
         ("unknown", "unknown")]  # fmt: skip
TEMPLATES = ["this is a {} message", "{} occurred", "an {}", "this is an {} message", "{}: something happened",
             "{}, something happened", "{}! something happened", "({}) something happened", "[{}] something happened",
             "2024-01-01T10:00:00Z {}: connection failed", "[{}] connection failed"]  # fmt: skip


@pytest.mark.parametrize(("word", "want"), WORDS)
def test_detect_level_from_log_line(word: str, want: str) -> None:
    for template in TEMPLATES:
        assert level_from_words(template.format(word)) == want, template
    assert level_from_words(f"this is a {word.upper()} message") == want
    assert level_from_words(f"[{word.upper()}] connection failed") == want


LINE_CASES = [
    ("this is a terror attack", "unknown"), ("there were multiple errors", "unknown"), ("error123 occurred", "unknown"),
    ("123error occurred", "unknown"), ("errorCode is invalid", "unknown"), ("myError occurred", "unknown"),
    ("debugging the issue", "unknown"), ("debugger attached", "unknown"), ("information is available", "unknown"),
    ("informative message", "unknown"), ("warnings issued", "unknown"), ("criticality assessment", "unknown"),
    ("fatalism philosophy", "unknown"), ("tracer bullet", "unknown"), ("traced the issue", "unknown"),
    ("", "unknown"), ("this is a regular log message", "unknown"), ('{"message": "error occurred"}', "error"),
    ('{"error": "something"}', "error"), ('{"errorCode": 123}', "unknown"), ('msg="error occurred"', "error"),
    ("errorCode=123", "unknown"), ("error=something", "error"), ("level=error", "error"),
    ("[terror] attack occurred", "unknown"), ("[errors] occurred", "unknown"), ("[errorCode] is invalid", "unknown"),
    ("[debugging] the issue", "unknown"), ("[information] is available", "unknown"),
    ('{"message": "[error] occurred"}', "error"), ('msg="[error] occurred"', "error"),
    ("error_code is 500", "unknown"), ("log_error function called", "unknown"), ("trace_id is abc123", "unknown"),
    ("stack_trace printed", "unknown"), ("some_error_code is invalid", "unknown"),
    # Test_detectLevelFromLogLine_earliestPosition
    ("2024-01-01T10:00:00Z info request failed -l warning --log-level misc:error", "info"),
    ("warning: degraded, info follows", "warn"),
    ("[error] something went wrong, info available", "error"),
    ("component=misc:error [info] processed", "info"),
    ("fooerror [error] message", "error"),
    ("fooerror errorbar misc:error error_code", "unknown"),
    ("2024/01/01 10:00:00 [error] 1234#1234: *1 connect() failed (111: Connection refused) while connecting to "
     "upstream", "error"),
    ("2024/01/01 10:00:00 [warn] 1234#1234: upstream server temporarily disabled while reading response header from "
     "upstream", "warn"),
    ('192.168.1.1 - - [01/Jan/2024:10:00:00 +0000] "GET /api/error-handler HTTP/1.1" 500 1234 "-" "curl/7.68.0"',
     "unknown"),
    ("[Mon Jan 01 10:00:00.000000 2024] [error] [pid 1234] File does not exist: /var/www/html/favicon.ico", "error"),
    ("[Mon Jan 01 10:00:00.000000 2024] [warn] [pid 1234] RSA server certificate CommonName does not match", "warn"),
    ("2024-01-01 10:00:00.000  INFO 1234 --- [main] com.example.App : Starting application on host", "info"),
    ("2024-01-01 10:00:00.000 ERROR 1234 --- [main] com.example.App : Application startup failed due to connection "
     "error", "error"),
    ("2024-01-01 10:00:00.000  INFO 1234 --- [main] com.example.ErrorController : Handling request for "
     "/api/error-resource", "info"),
    ("2024-01-01 10:00:00,000 WARN  com.example.service.UserService - Failed to load user preferences, using defaults",
     "warn"),
    ("2024-01-01 10:00:00,000 ERROR com.example.service.DatabaseService - Connection failed after error: timeout",
     "error"),
    ("2024-01-01T10:00:00.000000Z\twarn\tads\tcluster update: warning threshold exceeded, error_rate=0.05", "warn"),
    ("2024-01-01T10:00:00.000000Z    info    Envoy command: [-c /etc/envoy.json -l warning --component-log-level "
     "misc:error --concurrency 2]", "info"),
    ("Tue Mar 24 2026 19:49:19 GMT+0000 (Coordinated Universal Time)|INFO|Integration|core-api-service:server|"
     "undefined|Received request from API GW", "info"),
    ("event='User logged in' level='info' timestamp='2022-10-13T16:29:27Z'", "info"),
    ("event='Connection refused' level='error' timestamp='2022-10-13T16:30:01Z' host='db.internal'", "error"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "want"), LINE_CASES)
def test_detect_level_from_log_line_cases(line: str, want: str) -> None:
    assert level_from_words(line) == want


# --- service_name (push_test.go, distributor_test.go) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "discover", "want"),
    [
        ({"foo": "bar2", "job": "stuff"}, LOKI_DEFAULTS.discover_service_name, "stuff"),
        ({"foo": "bar2"}, LOKI_DEFAULTS.discover_service_name, "unknown_service"),
        ({"__aggregated_metric__": "stuff", "foo": "bar2", "job": "stuff"}, LOKI_DEFAULTS.discover_service_name, None),
        ({"foo": "bar2"}, [], None),  # discovery off (enableServiceDiscovery: false)
        ({"foo": "bar"}, ["foo"], "bar"),  # detects service from loki push requests
        ({"buzz": "f", "service_name": "foo", "a": "b"}, LOKI_DEFAULTS.discover_service_name, None),
        ({"container": "c", "app": "a"}, LOKI_DEFAULTS.discover_service_name, "a"),  # in the list's order
    ],
)
def test_service_name(labels: dict[str, str], discover: list[str], want: str | None) -> None:
    assert service_name(labels, discover) == want


def test_push_adds_service_name_and_keeps_one_already_there() -> None:
    p = plan({"stream": {"foo": "bar2", "job": "stuff"}, "values": [[str(NOW), "a"]]},
             {"stream": {"buzz": "f", "service_name": "foo", "a": "b"}, "values": [[str(NOW), "b"]]})  # fmt: skip
    assert [b.stream.labels for b in p.batches] == [
        (("foo", "bar2"), ("job", "stuff"), ("service_name", "stuff")),
        (("a", "b"), ("buzz", "f"), ("service_name", "foo")),
    ]


def test_service_name_does_not_count_against_max_label_names() -> None:
    cfg = PushConfig(max_label_names_per_series=1)
    p = plan({"stream": {"foo": "bar"}, "values": [[str(NOW), "x"]]}, cfg=cfg)
    assert p.errors == [] and p.batches[0].stream.labels == (("foo", "bar"), ("service_name", "unknown_service"))


def test_a_stream_without_labels_gets_unknown_service_as_in_loki_3() -> None:
    """ParseLokiRequest adds service_name before the validator's missing-labels check, which then passes."""
    p = plan({"stream": {}, "values": [[str(NOW), "x"]]})
    assert p.errors == [] and p.batches[0].stream.labels == (("service_name", "unknown_service"),)
    refused = plan({"stream": {}, "values": [[str(NOW), "x"]]}, cfg=PushConfig(discover_service_name=[]))
    assert refused.discarded == {"missing_labels": 1}


def test_refusals_quote_the_stream_with_its_service_name() -> None:
    p = plan({"stream": {"app": "x"}, "values": [[str(NOW + 3600 * 10**9), "late"]]})
    assert p.errors == ['entry for stream \'{app="x", service_name="x"}\' has timestamp too new: 2023-11-14T23:13:20Z']


# --- OTLP (Test_ServiceDetection) ---------------------------------------------------------------------------


def otlp(resource: dict[str, str], body: str = "test body", **record: object) -> ExportLogsServiceRequest:
    attrs = [{"key": k, "value": {"stringValue": v}} for k, v in resource.items()]
    rec = {"timeUnixNano": str(NOW), "body": {"stringValue": body}, **record}
    doc = {"resourceLogs": [{"resource": {"attributes": attrs}, "scopeLogs": [{"logRecords": [rec]}]}]}
    return json_format.ParseDict(doc, ExportLogsServiceRequest())


@pytest.mark.parametrize(
    ("resource", "discover", "want"),
    [
        ({"k8s.job.name": "bar"}, LOKI_DEFAULTS.discover_service_name, "bar"),  # using default indexing
        ({"special": "sauce"}, ["special"], "unknown_service"),  # only detects from indexed labels
        ({"service.name": "api", "k8s.job.name": "bar"}, LOKI_DEFAULTS.discover_service_name, "api"),
        ({"service.name": "api"}, [], "api"),  # service.name is the label itself, discovery or not
        ({"k8s.container.name": "c"}, [], None),
    ],
)
def test_otlp_service_name(resource: dict[str, str], discover: list[str], want: str | None) -> None:
    [rec] = logs_from_request(otlp(resource), "t", NOW, OtlpLimits(), Rejections(),
                              IngestDefaults(discover_service_name=discover))  # fmt: skip
    assert dict(rec.stream.labels).get("service_name") == want
    assert rec.stream.service == resource.get("service.name", "unknown_service"), "observ's service column is kept"


@pytest.mark.parametrize(
    ("record", "body", "want"),
    [
        ({"severityNumber": 13}, "an error body", "warn"),
        ({"severityNumber": 17, "severityText": "Information"}, "x", "info"),  # severity_text is a level field
        ({}, "ERROR: disk full", "error"),
        ({}, "plain", "unknown"),
    ],
)
def test_otlp_detected_level(record: dict[str, object], body: str, want: str) -> None:
    [rec] = logs_from_request(otlp({"service.name": "s"}, body, **record), "t", NOW, OtlpLimits(), Rejections())
    assert rec.metadata["detected_level"] == want


def test_otlp_detected_level_off() -> None:
    off = IngestDefaults(discover_log_levels=False)
    [rec] = logs_from_request(otlp({"service.name": "s"}, "ERROR"), "t", NOW, OtlpLimits(), Rejections(), off)
    assert "detected_level" not in rec.metadata


# --- tailed files: the ingester and observ up's store sink ---------------------------------------------------


def sidecar_batch(levels: list[str], lines: list[str], service: str = "api") -> Batch:
    pairs = enumerate(zip(levels, lines, strict=True))
    entries = [Entry(ts=i, line=line, level=level, start=i, end=i + 1) for i, (level, line) in pairs]
    return Batch(Stream(tenant="acme", service=service, container="c"), "src", entries)


def test_apply_treats_the_level_column_as_the_level_label_and_reads_the_rest_from_the_line() -> None:
    b = apply(DecodedBatch.from_batch(sidecar_batch(["error", ""], ["boom", '{"lvl":"Warning"}'])), LOKI_DEFAULTS)
    assert b.stream.labels == (("service_name", "api"),)
    assert b.metadata == [{"detected_level": "error"}, {"detected_level": "warn"}]
    assert apply(b, LOKI_DEFAULTS) == b, "applying twice changes nothing"


def test_apply_finds_service_name_among_the_columns_and_labels() -> None:
    raw = sidecar_batch(["info"], ["x"], service="")
    got = apply(DecodedBatch.from_batch(raw), IngestDefaults(discover_log_levels=False))
    assert (got.stream.labels, got.metadata) == ((("service_name", "c"),), None)
    off = IngestDefaults(discover_service_name=[], discover_log_levels=False)
    assert apply(DecodedBatch.from_batch(raw), off) == DecodedBatch.from_batch(raw)


def stored(store: LogStore) -> list[tuple[str, str, str]]:
    return store.cursor().execute("SELECT labels, metadata, line FROM logs ORDER BY ts").fetchall()


def test_the_ingester_adds_them_to_the_sidecars_batches(tmp_path: Path) -> None:
    batch = sidecar_batch(["warn", ""], ["slow", "[error] boom"])
    rec = Record(TOPIC, 0, 0, b"k", batch.encode(), [("tenant", b"acme"), ("schema", SCHEMA_VERSION)], 0)
    store = LogStore(tmp_path / "observ.duckdb")
    consumer = FakeConsumer([rec])
    ing = Ingester(IngestConfig(bus=BusConfig(), topic=TOPIC), store, CollectorRegistry(), lambda c, g: consumer)
    consumer.subscribe([TOPIC], on_assign=ing._on_assign)
    ing.step()
    ing.flush()
    ing._drain()
    assert stored(store) == [
        ('{"service_name":"api"}', '{"detected_level":"warn"}', "slow"),
        ('{"service_name":"api"}', '{"detected_level":"error"}', "[error] boom"),
    ]
    ing.stop()
    store.close()


def test_observ_ups_store_sink_adds_them_unless_switched_off(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "observ.duckdb")
    StoreSink(store).send(sidecar_batch(["info"], ["on"]), lambda err: None)
    off = IngestDefaults(discover_service_name=[], discover_log_levels=False)
    StoreSink(store, defaults=off).send(sidecar_batch(["info"], ["off"], service="web"), lambda err: None)
    assert stored(store) == [
        ('{"service_name":"api"}', '{"detected_level":"info"}', "on"),
        ("{}", "{}", "off"),
    ]
    store.close()
