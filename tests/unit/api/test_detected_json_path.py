"""detected_fields' `jsonPath`: the keys a JSON field came from, as Loki's JSON parser records them."""

from __future__ import annotations

import pytest

from observ.api.loki.detected import detect_fields
from observ.api.loki.routes import default_line_parsers
from observ.logql.log.json import json_paths
from observ.logql.results import LogEntry, StreamResult

# Loki pkg/logql/log/parser_test.go `Test_jsonParser`: (name, line, stream labels and structured metadata keys,
# wantJSONPath). Loki's "errors" rows expect no path; the line then is not JSON to detected_fields either.
PARSER_TEST_PATHS = [
    ("multi depth", '{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}}}', set(),
     {"app": ["app"], "namespace": ["namespace"], "pod_uuid": ["pod", "uuid"],
      "pod_deployment_ref": ["pod", "deployment", "ref"]}),
    ("multi depth with duplicates",
     '{"app":"bar","namespace":"prod","pod":{"uuid":"bar","deployment":{"ref":"foobar"}}}', {"app", "pod_uuid"},
     {"app_extracted": ["app"], "namespace": ["namespace"], "pod_uuid_extracted": ["pod", "uuid"],
      "pod_deployment_ref": ["pod", "deployment", "ref"]}),
    ("numeric", '{"counter":1, "price": {"_net_":5.56909}}', set(),
     {"counter": ["counter"], "price__net_": ["price", "_net_"]}),
    ("whitespace key value", '{" ": {"foo":"bar"}}', set(), {"foo": [" ", "foo"]}),
    ("whitespace key and whitespace subkey values", '{" ": {" ":"bar"}}', set(), {"": [" ", " "]}),
    ("whitespace key and empty subkey values", '{" ": {"":"bar"}}', set(), {"": [" ", ""]}),
    ("empty key and empty subkey values", '{"": {"":"bar"}}', set(), {"": ["", ""]}),
    ("escaped", '{"counter":1,"foo":"foo\\\\\\"bar", "price": {"_net_":5.56909}}', set(),
     {"counter": ["counter"], "price__net_": ["price", "_net_"], "foo": ["foo"]}),
    ("utf8 error rune", '{"counter":1,"foo":"\ufffd", "price": {"_net_":5.56909}}', set(),
     {"counter": ["counter"], "price__net_": ["price", "_net_"], "foo": ["foo"]}),
    ("skip arrays", '{"counter":1, "price": {"net_":["10","20"]}}', set(), {"counter": ["counter"]}),
    ("bad key replaced", '{"cou-nter":1}', set(), {"cou_nter": ["cou-nter"]}),
    ("nested bad key replaced", '{"foo":{"cou-nter":1}}"', set(), {"foo_cou_nter": ["foo", "cou-nter"]}),
    ("errors", "{n}", set(), {}),
    ("duplicate extraction",
     '{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}},"next":{"err":false}}',
     {"app"},
     {"app_extracted": ["app"], "namespace": ["namespace"], "pod_uuid": ["pod", "uuid"], "next_err": ["next", "err"],
      "pod_deployment_ref": ["pod", "deployment", "ref"]}),
    ("duplicate conflict with structured metadata", '{"app":"foo","namespace":"prod","pod":"pod_parsed"}', {"pod"},
     {"app": ["app"], "namespace": ["namespace"], "pod_extracted": ["pod"]}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("line", "taken", "want"), [c[1:] for c in PARSER_TEST_PATHS], ids=[c[0] for c in PARSER_TEST_PATHS]
)
def test_loki_json_parser_paths(line: str, taken: set[str], want: dict[str, list[str]]) -> None:
    assert json_paths(line, taken) == want


def test_nested_keys_lose_an_extracted_ending_as_in_loki() -> None:
    """buildJSONPathFromPrefixBuffer trims `_extracted` from every nested key, also from one spelled so."""
    assert json_paths('{"a":{"b_extracted":1},"c_extracted":2}') == {"a_b_extracted": ["a", "b"],
                                                                      "c_extracted": ["c_extracted"]}  # fmt: skip
    assert json_paths('{"1a":{"2b":1}}') == {"_1a_2b": ["1a", "2b"]}


def _fields(streams: list[StreamResult]) -> dict[str, dict[str, object]]:
    parse_json, parse_logfmt = default_line_parsers()
    return {str(f["label"]): f for f in detect_fields(streams, 100, parse_json, parse_logfmt)}


NESTED_LINES = [
    '{"user":{"id":123,"name":"alice","settings":{"theme":"dark","notifications":true}},'
    '"app":{"version":"1.0","metrics":{"cpu":45.6,"memory":"1.5GB"}}}',
    '{"user":{"id":456,"name":"bob","settings":{"theme":"light","notifications":false}},'
    '"app":{"version":"1.0","metrics":{"cpu":32.1,"memory":"2.0GB"}}}',
]
# Loki's lines (spaces compacted) with their trailing commas, which its JSON parser (and `| json`) reads past
DIFFICULT_LINES = [
    """{"user":{"id":123,"name":"alice","settings":{"theme":"dark","notifications":true,}},
        "app-id": "abc", "app_name": "foo", "app": {"terrible/key/name": "four",},
        "other.bad.key.name": "three", "key with spaces": "space",
        "nested key with spaces": {"nest": "thermostat",}}""",
    """{"user":{"id":456,"name":"bob","settings":{"theme":"light","notifications":false},},
        "app-id": "xyz", "app_name": "bar", "app": {"terrible/key/name": "four",},
        "other.bad.key.name": "five", "key with spaces": "blank",
        "nested key with spaces": {"nest": "protect",}}""",
]


def test_loki_nested_json_fields() -> None:
    """detected_fields_test.go TestNestedJSONFieldDetection 'correctly detects nested JSON fields'."""
    labels = {"cluster": "test-cluster", "job": "json-test"}
    fields = _fields([StreamResult(labels, [LogEntry(1, line) for line in NESTED_LINES])])
    assert {k: (f["type"], f.get("jsonPath")) for k, f in fields.items()} == {
        "user_id": ("int", ["user", "id"]),
        "user_name": ("string", ["user", "name"]),
        "user_settings_theme": ("string", ["user", "settings", "theme"]),
        "user_settings_notifications": ("boolean", ["user", "settings", "notifications"]),
        "app_version": ("float", ["app", "version"]),
        "app_metrics_cpu": ("float", ["app", "metrics", "cpu"]),
        "app_metrics_memory": ("bytes", ["app", "metrics", "memory"]),
    }


def test_loki_sanitized_json_fields_with_difficult_keys() -> None:
    """TestNestedJSONFieldDetection 'correctly detects sanitized JSON fields, including difficult keys'."""
    labels = {"cluster": "test-cluster", "job": "json-test"}
    fields = _fields([StreamResult(labels, [LogEntry(1, line) for line in DIFFICULT_LINES])])
    assert {k: f.get("jsonPath") for k, f in fields.items()} == {
        "user_id": ["user", "id"],
        "user_name": ["user", "name"],
        "user_settings_theme": ["user", "settings", "theme"],
        "user_settings_notifications": ["user", "settings", "notifications"],
        "app_id": ["app-id"],
        "app_name": ["app_name"],
        "app_terrible_key_name": ["app", "terrible/key/name"],
        "other_bad_key_name": ["other.bad.key.name"],
        "key_with_spaces": ["key with spaces"],
        "nested_key_with_spaces_nest": ["nested key with spaces", "nest"],
    }


def test_only_json_fields_have_a_path() -> None:
    """Structured metadata and logfmt fields carry none (`omitempty`); a key that is a stream label keeps its own."""
    streams = [
        StreamResult({"service_name": "api", "level": "warn"},
                     [LogEntry(2, '{"level":"error","req":{"id":"r1"}}', {"trace_id": "t1"}),
                      LogEntry(1, "level=info took=2ms", {"trace_id": "t2"})]),
    ]  # fmt: skip
    fields = _fields(streams)
    assert fields["level_extracted"]["parsers"] == ["json", "logfmt"]
    assert fields["level_extracted"]["jsonPath"] == ["level"], "a later logfmt line keeps the JSON path"
    assert fields["req_id"]["jsonPath"] == ["req", "id"]
    assert "jsonPath" not in fields["took"]
    assert fields["trace_id"] == {"label": "trace_id", "type": "string", "cardinality": 2, "parsers": None}


def test_the_last_json_line_sets_the_path() -> None:
    """As Loki's handler: each JSON line overwrites the path, so one name from two shapes shows the later one."""
    stream = StreamResult({"job": "x"}, [LogEntry(2, '{"a":{"b":1}}'), LogEntry(1, '{"a_b":2}')])
    assert _fields([stream])["a_b"]["jsonPath"] == ["a_b"]
    stream = StreamResult({"job": "x"}, [LogEntry(2, '{"a_b":2}'), LogEntry(1, '{"a":{"b":1}}')])
    assert _fields([stream])["a_b"]["jsonPath"] == ["a", "b"]
