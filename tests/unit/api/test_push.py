"""Push bodies: JSON, gzip, snappy protobuf; parse errors reject all, validation errors only the bad streams."""

from __future__ import annotations

import gzip
import zlib

import cramjam
import orjson
import pytest

from observ.api.config import PushConfig
from observ.api.loki import push
from observ.api.loki.logproto import PushRequest
from observ.model import Stream

CFG = PushConfig()


def json_body(*streams: dict[str, object]) -> bytes:
    return orjson.dumps({"streams": list(streams)})


def proto_body(*streams: tuple[str, list[tuple[int, str, dict[str, str]]]]) -> bytes:
    req = PushRequest()
    for labels, entries in streams:
        s = req.streams.add(labels=labels)
        for ts, line, md in entries:
            e = s.entries.add(line=line)
            e.timestamp.seconds, e.timestamp.nanos = divmod(ts, 10**9)
            for k, v in md.items():
                e.structuredMetadata.add(name=k, value=v)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def test_json_maps_labels_to_columns_and_metadata() -> None:
    body = json_body(
        {
            "stream": {"service": "api", "namespace": "prod", "level": "error", "env": "eu", "pod": ""},
            "values": [["2", "second", {"trace_id": "t2", "user": "u"}], ["1", "first", {"span_id": "s1"}]],
        }
    )
    plan = push.plan(push.decode(body, "application/json", "", CFG.max_body_bytes), "acme", CFG, now_ns=7)
    assert plan.errors == [] and plan.accepted_lines == 2 and plan.dropped_metadata == 0
    [b] = plan.batches
    assert b.metadata == [{"detected_level": "error"}, {"user": "u", "detected_level": "error"}], "Loki 3 default"
    labels = (("env", "eu"), ("service_name", "api"))  # Loki 3's service_name, from `service`
    assert b.stream == Stream(tenant="acme", service="api", namespace="prod", stream="", labels=labels)
    assert (b.ts, b.line, b.level) == ([1, 2], ["first", "second"], ["error", "error"])
    assert (b.trace_id, b.span_id, b.source, b.observed_ts) == (["", "t2"], ["s1", ""], "", 7)


def test_same_labels_in_two_streams_make_one_batch() -> None:
    body = json_body({"stream": {"a": "1"}, "values": [["5", "x"]]}, {"stream": {"a": "1"}, "values": [["3", "y"]]})
    plan = push.plan(push.decode(body, "application/json; charset=utf-8", "", CFG.max_body_bytes), "t", CFG)
    assert [b.ts for b in plan.batches] == [[3, 5]]


def test_gzip_and_deflate_json() -> None:
    body = json_body({"stream": {"a": "1"}, "values": [["1", "x"]]})
    for data, enc in ((gzip.compress(body), "gzip"), (zlib.compress(body)[2:-4], "deflate")):
        [s] = push.decode(data, "application/json", enc, CFG.max_body_bytes)
        assert s.entries[0].line == "x"


def test_snappy_protobuf() -> None:
    body = proto_body(('{service="api", env="a\\"b"}', [(1_500_000_000, "hello", {"trace_id": "abc"})]))
    [s] = push.decode(body, "application/x-protobuf", "", CFG.max_body_bytes)
    assert s.labels == [("service", "api"), ("env", 'a"b')]
    e = s.entries[0]
    assert (e.ts, e.line, e.metadata) == (1_500_000_000, "hello", [("trace_id", "abc")])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "invalid JSON"),
        (b"[]", "must be a JSON object"),
        (json_body({"stream": {"a": "1"}, "values": [[1, "x"]]}), "streams[0].values[0]: timestamp must be a string"),
        (json_body({"stream": {"a": "1"}, "values": [["x1", "x"]]}), "is not an integer"),
        (json_body({"stream": {"a": 1}, "values": []}), "stream label 'a' must be a string"),
        (json_body({"stream": {"a-b": "1"}, "values": []}), "invalid label name 'a-b'"),
        (json_body({"stream": {"a": "1"}, "values": [["1", 2]]}), "the log line must be a string"),
        (json_body({"stream": {"a": "1"}, "values": [["1"]]}), "an entry is"),
        (json_body({"stream": {"a": "1"}, "values": [["1", "x", {"k": 1}]]}), "structured metadata 'k' must be"),
        (json_body({"stream": {"a": "1"}, "values": [["1", "x"]]}, {"stream": {"b": "1"}, "values": 3}), "streams[1]"),
        (json_body({"stream": {"a": "1"}, "values": [["99999999999999999999", "x"]]}), "out of range"),
    ],
)
def test_json_parse_errors_name_the_place(body: bytes, message: str) -> None:
    with pytest.raises(push.PushError, match=message.replace("[", r"\[").replace("]", r"\]")):
        push.decode(body, "application/json", "", CFG.max_body_bytes)


def test_protobuf_errors() -> None:
    with pytest.raises(push.PushError, match="snappy"):
        push.decode(b"\xff\xff\xff\xff", "application/x-protobuf", "", CFG.max_body_bytes)
    with pytest.raises(push.PushError, match="couldn't parse labels"):
        push.decode(proto_body(("{a=b}", [(1, "x", {})])), "", "snappy", CFG.max_body_bytes)
    not_proto = bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff"))
    with pytest.raises(push.PushError):
        push.decode(not_proto, "application/x-protobuf", "", CFG.max_body_bytes)


def test_unknown_content_encoding() -> None:
    with pytest.raises(push.PushError, match='Content-Encoding "br" not supported'):
        push.decode(b"{}", "application/json", "br", CFG.max_body_bytes)


def test_decompression_bombs_are_refused() -> None:
    big = gzip.compress(b" " * 10_000)
    with pytest.raises(push.BodyTooLarge):
        push.decode(big, "application/json", "gzip", 1000)
    with pytest.raises(push.BodyTooLarge):
        push.decode(zlib.compress(b" " * 10_000)[2:-4], "application/json", "deflate", 1000)
    with pytest.raises(push.BodyTooLarge):
        push.decode(bytes(cramjam.snappy.compress_raw(b"\0" * 10_000)), "", "", 1000)


def test_validation_refuses_bad_streams_and_keeps_good_ones() -> None:
    cfg = PushConfig(max_line_bytes=5, max_label_names_per_series=2, max_label_value_length=8, discover_service_name=[])
    # without service_name discovery: with it (Loki 3's default) `{}` becomes {service_name="unknown_service"}
    streams = push.decode_json(
        json_body(
            {"stream": {}, "values": [["1", "no labels"]]},
            {"stream": {"a": "1", "b": "2", "c": "3"}, "values": [["1", "x"]]},
            {"stream": {"a": "123456789"}, "values": [["1", "x"]]},
            {"stream": {"a": "ok"}, "values": [["1", "fine"], ["2", "too long line"]]},
        )
    )
    plan = push.plan(streams, "t", cfg)
    assert [b.line for b in plan.batches] == [["fine"]]
    assert plan.discarded == {
        "missing_labels": 1, "max_label_names_per_series": 1, "label_value_too_long": 1, "line_too_long": 1,
    }  # fmt: skip
    assert plan.errors[0] == "error at least one label pair is required per stream"
    assert plan.errors[1] == 'entry for stream \'{a="1", b="2", c="3"}\' has 3 label names; limit 2'
    assert "Max entry size '5' bytes exceeded for stream '{a=\"ok\"}'" in plan.errors[3]


def test_duplicate_label_names_in_protobuf_labels() -> None:
    streams = push.decode(proto_body(('{a="1", a="2"}', [(1, "x", {})])), "", "", CFG.max_body_bytes)
    plan = push.plan(streams, "t", CFG)
    quoted = '{a="1", a="2", service_name="unknown_service"}'  # Loki 3 quotes the labels with service_name added
    assert plan.batches == [] and plan.errors == [f"stream '{quoted}' has duplicate label name: 'a'"]


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("{}", []),
        ('{ a = "1" , b="x y" }', [("a", "1"), ("b", "x y")]),
        ('{a="\\u00e9\\n\\t\\\\"}', [("a", "é\n\t\\")]),
        ("{a=`raw \\n`}", [("a", "raw \\n")]),
        ('{a="\\101"}', [("a", "A")]),
    ],
)
def test_parse_labels(text: str, labels: list[tuple[str, str]]) -> None:
    assert push.parse_labels(text) == labels


@pytest.mark.parametrize(
    "text", ["", "a=1", '{a="1",}', '{a="1" b="2"}', '{a="\\q"}', '{1a="x"}', '{a!="x"}', '{a="x"']
)
def test_parse_labels_errors(text: str) -> None:
    with pytest.raises(ValueError):
        push.parse_labels(text)


NOW = 1_700_000_000 * 10**9
"""A fixed `now` handed to plan(): validation is relative to it, never to the calendar."""
MINUTE = 60 * 10**9


def test_entries_over_10_minutes_ahead_are_refused_alone() -> None:
    """Loki's creation_grace_period (10m): reason too_far_in_future, message 'timestamp too new' (RFC3339)."""
    ahead = NOW + 10 * MINUTE + 10**9
    values = [[str(NOW), "now"], [str(NOW + 10 * MINUTE), "at the grace"], [str(ahead), "too new"]]
    plan = push.plan(push.decode_json(json_body({"stream": {"a": "1"}, "values": values})), "t", CFG, now_ns=NOW)
    assert [b.line for b in plan.batches] == [["now", "at the grace"]]
    assert plan.discarded == {"too_far_in_future": 1}
    assert plan.errors == [
        'entry for stream \'{a="1", service_name="unknown_service"}\' has timestamp too new: 2023-11-14T22:23:21Z'
    ]


def test_timestamps_no_query_can_reach_are_refused() -> None:
    """Queries clamp times to ±2**62 ns (1823..2116): an entry outside could be stored but never read."""
    values = [[str(-(2**62) - 1), "before 1824"], [str(-(2**62)), "oldest readable"], [str(2**63 - 1), "2262"]]
    plan = push.plan(push.decode_json(json_body({"stream": {"a": "1"}, "values": values})), "t", CFG, now_ns=NOW)
    assert [b.line for b in plan.batches] == [["oldest readable"]]
    assert plan.discarded == {"greater_than_max_sample_age": 1, "too_far_in_future": 1}
    assert plan.errors == [
        'entry for stream \'{a="1", service_name="unknown_service"}\' has timestamp too old: 1823-11-12T00:06:21Z, '
        "oldest acceptable timestamp is: 1823-11-12T00:06:21Z",
        'entry for stream \'{a="1", service_name="unknown_service"}\' has timestamp too new: 2262-04-11T23:47:16Z',
    ]


def test_reject_old_samples_when_configured() -> None:
    cfg = PushConfig(reject_old_samples=True, reject_old_samples_max_age_s=3600)
    values = [[str(NOW - 61 * MINUTE), "old"], [str(NOW - 60 * MINUTE), "just in time"]]
    plan = push.plan(push.decode_json(json_body({"stream": {"a": "1"}, "values": values})), "t", cfg, now_ns=NOW)
    assert [b.line for b in plan.batches] == [["just in time"]]
    assert plan.errors == [
        'entry for stream \'{a="1", service_name="unknown_service"}\' has timestamp too old: 2023-11-14T21:12:20Z, '
        "oldest acceptable timestamp is: 2023-11-14T21:13:20Z"
    ]
    default = push.plan(push.decode_json(json_body({"stream": {"a": "1"}, "values": values})), "t", CFG, now_ns=NOW)
    assert default.errors == [] and default.accepted_lines == 2
