"""detected_fields: Loki's type detection and field collection over sampled entries."""

from __future__ import annotations

import orjson
import pytest

from observ.api.loki.detected import detect_fields, determine_type
from observ.logql.results import LogEntry, StreamResult


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("42", "int"), ("-7", "int"), ("3.5", "float"), ("1e3", "float"), ("NaN", "float"), ("true", "boolean"),
        ("F", "boolean"), ("250ms", "duration"), ("1h2m3.5s", "duration"), ("20MB", "bytes"), ("1.5 KiB", "bytes"),
        ("hello", "string"), ("", "string"), ("99999999999999999999", "float"), ("1d", "string"),
    ],
)  # fmt: skip
def test_determine_type(value: str, kind: str) -> None:
    assert determine_type(value) == kind


def _json(line: str) -> dict[str, str] | None:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return {k: str(v) for k, v in doc.items()} if isinstance(doc, dict) else None


def _logfmt(line: str) -> dict[str, str] | None:
    pairs = [p.split("=", 1) for p in line.split() if "=" in p]
    return {k: v for k, v in pairs} or None


def test_fields_from_json_logfmt_metadata_and_parsed() -> None:
    streams = [
        StreamResult(
            {"app": "a", "trace_id": "t1"},
            [
                LogEntry(3, '{"status": 200, "took": "15ms", "app": "x"}', {"trace_id": "t1"}),
                LogEntry(2, '{"status": 500, "took": "2s"}', {"trace_id": "t2"}),
            ],
        ),
        StreamResult({"app": "b", "user": "u1"}, [LogEntry(1, "user=u1 bytes=10KB", {}, {"user": "u1"})]),
    ]
    fields = {f["label"]: f for f in detect_fields(streams, 100, _json, _logfmt)}
    assert fields["status"] == {
        "label": "status", "type": "int", "cardinality": 2, "parsers": ["json"], "jsonPath": ["status"]
    }  # fmt: skip
    assert fields["took"]["type"] == "duration"
    assert fields["trace_id"] == {"label": "trace_id", "type": "string", "cardinality": 2, "parsers": None}
    assert fields["bytes"] == {"label": "bytes", "type": "bytes", "cardinality": 1, "parsers": ["logfmt"]}
    assert fields["user"]["parsers"] == ["logfmt"]
    assert "app" not in fields, "a stream label is not a field"


def test_field_limit() -> None:
    streams = [StreamResult({"a": "1"}, [LogEntry(1, '{"x":1,"y":2,"z":3}')])]
    assert [f["label"] for f in detect_fields(streams, 2, _json, _logfmt)] == ["x", "y"]
