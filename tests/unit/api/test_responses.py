"""Exact bytes of Loki's response bodies: what Grafana's and logcli's parsers read."""

from __future__ import annotations

import math

import orjson
import pytest

from observ.api.loki.responses import encode_query, encode_tail, go_float, sample_time, thin
from observ.logql.results import (
    LogEntry,
    Matrix,
    QueryResult,
    QueryStats,
    Sample,
    Scalar,
    Series,
    StreamResult,
    Streams,
    Vector,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2"),
        (0.5, "0.5"),
        (1 / 3, "0.3333333333333333"),
        (-0.0, "-0"),
        (1e21, "1000000000000000000000"),
        (1.5e-7, "0.00000015"),
        (123456789.125, "123456789.125"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_go_float_is_strconv_format_float_f_minus_one(value: float, text: str) -> None:
    assert go_float(value) == text


def test_sample_time_is_seconds_with_milliseconds() -> None:
    assert sample_time(1_700_000_000_000_000_000) == 1_700_000_000
    assert isinstance(sample_time(1_700_000_000_000_000_000), int)
    assert sample_time(1_700_000_000_123_999_999) == 1_700_000_000.123


def _body(result: QueryResult, **kw: bool) -> bytes:
    return encode_query(result, categorize=kw.get("categorize", False), backward=kw.get("backward", True))


def test_vector_bytes() -> None:
    body = _body(QueryResult(Vector([Sample({"b": "2", "a": "1"}, 4_000_000_000 * 10**9, 2.0)])))
    assert body.startswith(
        b'{"status":"success","data":{"resultType":"vector","result":'
        b'[{"metric":{"a":"1","b":"2"},"value":[4000000000,"2"]}],"stats":{"summary":'
    )
    assert body.endswith(b"}\n")


def test_matrix_values_are_strings_including_nan_and_inf() -> None:
    s = Series({"level": "error"}, [(1_000_000_000, 1.0), (2_000_000_000, math.nan), (3_500_000_000, math.inf)])
    data = orjson.loads(_body(QueryResult(Matrix([s]))))["data"]
    assert list(data) == ["resultType", "result", "stats"]
    assert data["result"] == [{"metric": {"level": "error"}, "values": [[1, "1"], [2, "NaN"], [3.5, "+Inf"]]}]


def test_scalar() -> None:
    data = orjson.loads(_body(QueryResult(Scalar(5_000_000_000, 0.25))))["data"]
    assert (data["resultType"], data["result"]) == ("scalar", [5, "0.25"])


def test_streams_plain_values_are_pairs_with_ns_strings_newest_first() -> None:
    entries = [LogEntry(1, "one", {"trace_id": "t"}), LogEntry(3, "three", {"trace_id": "t"})]
    s = StreamResult({"app": "a", "trace_id": "t"}, entries)
    body = _body(QueryResult(Streams([s])))
    assert b'"result":[{"stream":{"app":"a","trace_id":"t"},"values":[["3","three"],["1","one"]]}]' in body


def test_streams_forward_are_oldest_first() -> None:
    s = StreamResult({"app": "a"}, [LogEntry(3, "three"), LogEntry(1, "one")])
    data = orjson.loads(_body(QueryResult(Streams([s])), backward=False))["data"]
    assert data["result"][0]["values"] == [["1", "one"], ["3", "three"]]


def test_categorize_labels_splits_stream_metadata_and_parsed() -> None:
    entries = [
        LogEntry(2, '{"status":"500"}', {"trace_id": "t1"}, {"status": "500"}),
        LogEntry(1, '{"status":"200"}', {}, {"status": "200"}),
    ]
    s = [StreamResult({"app": "a", "trace_id": "t1", "status": "500"}, entries[:1]),
         StreamResult({"app": "a", "status": "200"}, entries[1:])]  # fmt: skip
    data = orjson.loads(_body(QueryResult(Streams(s)), categorize=True))["data"]
    assert list(data) == ["resultType", "encodingFlags", "result", "stats"]
    assert data["encodingFlags"] == ["categorize-labels"]
    assert data["result"] == [
        {
            "stream": {"app": "a"},
            "values": [
                ["2", '{"status":"500"}', {"structuredMetadata": {"trace_id": "t1"}, "parsed": {"status": "500"}}],
                ["1", '{"status":"200"}', {"parsed": {"status": "200"}}],
            ],
        }
    ]


def test_categorized_entry_without_extra_labels_has_an_empty_object() -> None:
    data = orjson.loads(_body(QueryResult(Streams([StreamResult({"a": "b"}, [LogEntry(1, "x")])])), categorize=True))
    assert data["data"]["result"][0]["values"] == [["1", "x", {}]]


def test_stats_summary() -> None:
    r = QueryResult(Vector([]), QueryStats(rows_scanned=10, bytes_scanned=100, exec_seconds=0.5))
    summary = orjson.loads(_body(r))["data"]["stats"]["summary"]
    assert summary["totalLinesProcessed"] == 10
    assert summary["bytesProcessedPerSecond"] == 200
    assert summary["execTime"] == 0.5


def test_tail_frame() -> None:
    streams = [StreamResult({"a": "b"}, [LogEntry(2, "y"), LogEntry(1, "x")])]
    frame = orjson.loads(encode_tail(streams, categorize=False))
    assert frame == {"streams": [{"stream": {"a": "b"}, "values": [["1", "x"], ["2", "y"]]}]}


def test_interval_keeps_one_entry_per_interval() -> None:
    entries = [LogEntry(t, str(t)) for t in (0, 1, 4, 5, 9, 10)]
    assert [e.ts for e in thin(entries, 5, backward=False)] == [0, 5, 10]
    assert [e.ts for e in thin(entries[::-1], 5, backward=True)] == [10, 5, 0]
