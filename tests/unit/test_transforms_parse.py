from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.log_adapter.transforms.parse import (
    epoch_ns,
    extract,
    normalize_level,
    normalize_span_id,
    normalize_trace_id,
    parse_traceparent,
)

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
SID = "00f067aa0ba902b7"
TP = f"00-{TID}-{SID}-01"
T_SEC = 1_700_000_000
NOTHING = ("", "", "", None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("info", "info"),
        ("INFO", "info"),
        ("Information", "info"),
        ("notice", "info"),
        ("warn", "warn"),
        ("WARNING", "warn"),
        ("W", "warn"),
        ("err", "error"),
        ("ERROR", "error"),
        ("severe", "error"),
        ("critical", "fatal"),
        ("CRIT", "fatal"),
        ("panic", "fatal"),
        ("emerg", "fatal"),
        ("fatal", "fatal"),
        ("debug", "debug"),
        ("DBG", "debug"),
        ("trace", "trace"),
        ("verbose", "trace"),
        (" Info ", "info"),
        ("INFO2", "info"),  # OpenTelemetry severity text
        (10, "trace"),  # pino/bunyan numbers
        (20, "debug"),
        (30, "info"),
        (40, "warn"),
        (50, "error"),
        (60, "fatal"),
        (30.0, "info"),
        (3, ""),
        (True, ""),
        ("", ""),
        ("loud", ""),
        (None, ""),
        ({"level": "info"}, ""),
    ],
)
def test_normalize_level(value: object, expected: str) -> None:
    assert normalize_level(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TID, TID),
        (TID.upper(), TID),
        (f" {TID} ", TID),
        ("a3ce929d0e0e4736", "0000000000000000a3ce929d0e0e4736"),  # Jaeger 64-bit
        ("0" * 32, ""),
        ("0" * 16, ""),
        (TID[:-1], ""),
        (TID + "0", ""),
        ("g" * 32, ""),
        ("0x" + TID[2:], ""),
        ("_" * 32, ""),
        (42, ""),
        (None, ""),
    ],
)
def test_normalize_trace_id(value: object, expected: str) -> None:
    assert normalize_trace_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(SID, SID), (SID.upper(), SID), ("0" * 16, ""), (SID[:-1], ""), (TID, ""), ("z" * 16, ""), (1, "")],
)
def test_normalize_span_id(value: object, expected: str) -> None:
    assert normalize_span_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TP, (TID, SID)),
        (TP.upper(), (TID, SID)),
        (f"00-{TID}-{'0' * 16}-01", (TID, "")),
        (f"00-{'0' * 32}-{SID}-01", ("", "")),
        (f"00-{TID}-{SID}", ("", "")),
        (f"0-{TID}-{SID}-01", ("", "")),
        ("garbage", ("", "")),
        (None, ("", "")),
    ],
)
def test_parse_traceparent(value: object, expected: tuple[str, str]) -> None:
    assert parse_traceparent(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T_SEC, T_SEC * 10**9),
        (T_SEC + 0.5, T_SEC * 10**9 + 500_000_000),
        (T_SEC * 1000 + 250, T_SEC * 10**9 + 250_000_000),  # ms (pino)
        (T_SEC * 10**6 + 7, T_SEC * 10**9 + 7000),  # us
        (T_SEC * 10**9 + 1, T_SEC * 10**9 + 1),  # ns
        ("2023-11-14T22:13:20Z", T_SEC * 10**9),
        ("2023-11-15T00:13:20.25+02:00", T_SEC * 10**9 + 250_000_000),
        (str(T_SEC), T_SEC * 10**9),
        ("yesterday", None),
        (0, None),
        (-5, None),
        (float("nan"), None),
        (float("inf"), None),
        (True, None),
        (None, None),
        ([1], None),
    ],
)
def test_epoch_ns(value: object, expected: int | None) -> None:
    assert epoch_ns(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # JSON: every level key, every trace/span key, time keys
        ('{"level":"error","msg":"x"}', ("error", "", "", None)),
        ('{"lvl":"warn"}', ("warn", "", "", None)),
        ('{"severity":"ERROR"}', ("error", "", "", None)),
        ('{"severity_text":"INFO"}', ("info", "", "", None)),
        ('{"log.level":"debug"}', ("debug", "", "", None)),
        ('{"log":{"level":"warning"}}', ("warn", "", "", None)),
        ('{"level":50}', ("error", "", "", None)),
        ('{"level":"bogus","severity":"info"}', ("info", "", "", None)),
        (f'{{"trace_id":"{TID}","span_id":"{SID}"}}', ("", TID, SID, None)),
        (f'{{"traceId":"{TID}","spanId":"{SID}"}}', ("", TID, SID, None)),
        (f'{{"traceID":"{TID.upper()}","spanID":"{SID}"}}', ("", TID, SID, None)),
        (f'{{"otelTraceID":"{TID}","otelSpanID":"{SID}"}}', ("", TID, SID, None)),
        (f'{{"trace.id":"{TID}","span.id":"{SID}"}}', ("", TID, SID, None)),
        (f'{{"trace":{{"id":"{TID}"}},"span":{{"id":"{SID}"}}}}', ("", TID, SID, None)),
        (f'{{"traceparent":"{TP}"}}', ("", TID, SID, None)),
        ('{"trace_id":"a3ce929d0e0e4736"}', ("", "0000000000000000a3ce929d0e0e4736", "", None)),
        (f'{{"trace_id":"{"0" * 32}"}}', NOTHING),
        ('{"ts":1700000000.5}', ("", "", "", T_SEC * 10**9 + 500_000_000)),
        ('{"time":"2023-11-14T22:13:20Z"}', ("", "", "", T_SEC * 10**9)),
        ('{"timestamp":1700000000000}', ("", "", "", T_SEC * 10**9)),
        ('{"@timestamp":"2023-11-14T22:13:20Z"}', ("", "", "", T_SEC * 10**9)),
        ('{"msg":"ERROR inside a message"}', NOTHING),
        ("[1, 2]", NOTHING),
        # logfmt
        ("time=x level=error msg=boom", ("error", "", "", None)),
        ('level="warn" msg="x"', ("warn", "", "", None)),
        ("lvl=dbug msg=x lvl=debug", ("debug", "", "", None)),
        ("severity=E msg=x", ("error", "", "", None)),
        ("loglevel=info", NOTHING),
        ("log.level=info", ("info", "", "", None)),
        (f"level=info trace_id={TID} span_id={SID}", ("info", TID, SID, None)),
        (f'msg="x" traceID="{TID}" spanID="{SID}"', ("", TID, SID, None)),
        (f"traceparent={TP}", ("", TID, SID, None)),
        (f"trace-id: {TID.upper()} span-id: {SID}", ("", TID, SID, None)),
        (f"2000-01-01 x=1 {TID}", NOTHING),
        # plain text
        (f"INFO request done traceparent: {TP}", ("info", TID, SID, None)),
        (f"GET /x 200 {TP}", ("", TID, SID, None)),
        (f"2024-01-01 12:00:00 ERROR boom trace_id={TID}", ("error", TID, "", None)),
        (f"[main] WARN c.e.Foo - slow (TraceId: {TID}, SpanId: {SID})", ("warn", TID, SID, None)),
        (f"span_id={SID} without trace", NOTHING),
        ("2024-01-01 12:00:00,123 INFO [main] org.x.Y: started", ("info", "", "", None)),
        ("[Sun Dec 04 04:47:44 2005] [error] mod_jk child", ("error", "", "", None)),
        ("2015-07-29 17:41:44,747 - WARN  [Quorum] - Cannot open channel", ("warn", "", "", None)),
        ("2016-09-28 04:30:30, Info   CBS    Loaded", ("info", "", "", None)),
        ("03-17 16:13:38.811  1702  2395 D WindowManager: x", ("debug", "", "", None)),
        ("03-17 16:13:38.811  1702  2395 E Foo: x", ("error", "", "", None)),
        ("E0102 15:04:05.000000    1234 main.go:10] failed", ("error", "", "", None)),
        ("W0102 15:04:05.000000    1234 main.go:10] slow", ("warn", "", "", None)),
        ("12:00:00 INF started", ("info", "", "", None)),
        ("WARNING:urllib3.connectionpool:Retrying", ("warn", "", "", None)),
        ("CRITICAL:root:x", ("fatal", "", "", None)),
        ("Note:nothing", NOTHING),
        ("Critical: disk full", ("fatal", "", "", None)),
        ("TRACE entering f()", ("trace", "", "", None)),
        ("[trace] entering f()", ("trace", "", "", None)),
        ("stack trace follows", NOTHING),
        ("INFORMATION is not a level", NOTHING),
        ("see error.go for details", NOTHING),
        ("nothing to see here", NOTHING),
        ("x" * 95 + " ERROR past the window", NOTHING),
        ("x" * 95 + " INFOrmative", NOTHING),  # a token cut by the window does not count
        ("", NOTHING),
        ("{", NOTHING),
        ('{"level": "error", cut', ("error", "", "", None)),  # a JSON line cut at the size bound
        (f'{{"severity":"WARN","trace_id":"{TID}","msg":"cut', ("warn", TID, "", None)),
    ],
)
def test_extract(text: str, expected: tuple[str, str, str, int | None]) -> None:
    assert extract(text) == expected


def test_first_level_word_wins() -> None:
    assert extract("DEBUG retrying after ERROR")[0] == "debug"


@given(st.text(max_size=300))
def test_extract_never_raises(text: str) -> None:
    level, trace, span, ts = extract(text)
    assert level in ("", "trace", "debug", "info", "warn", "error", "fatal")
    assert trace == "" or len(trace) == 32
    assert span == "" or len(span) == 16
    assert ts is None or isinstance(ts, int)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["level", "log", "trace", "span", "ts", "time", "traceparent", "x", "trace_id"]),
                inner,
                max_size=5,
            )
        ),
        max_leaves=12,
    )
)
def test_extract_never_raises_on_json(value: object) -> None:
    try:
        text = json.dumps(value)
    except ValueError:
        return
    extract(text)
