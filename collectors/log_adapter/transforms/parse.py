"""Level, trace id, span id and time found in a log line's content (JSON, logfmt or plain text).

Every line goes through `extract`, so cheap substring tests decide whether a
regex or a JSON parse is worth running at all. Levels are normalized to the
values of Loki's `detected_level` (critical folded into fatal), ids to
lowercase hex as the span store keeps them. Garbage yields empty values, never
an exception.
"""

from __future__ import annotations

import re

import orjson

from collectors.log_adapter.transforms.cri import parse_rfc3339

NOTHING: tuple[str, str, str, int | None] = ("", "", "", None)

_NAMES = {
    "trace": "trace",
    "trc": "trace",
    "verbose": "trace",
    "finest": "trace",
    "finer": "trace",
    "debug": "debug",
    "dbg": "debug",
    "fine": "debug",
    "info": "info",
    "inf": "info",
    "information": "info",
    "informational": "info",
    "notice": "info",
    "warn": "warn",
    "wrn": "warn",
    "warning": "warn",
    "error": "error",
    "err": "error",
    "eror": "error",
    "severe": "error",
    "exception": "error",
    "fatal": "fatal",
    "ftl": "fatal",
    "critical": "fatal",
    "crit": "fatal",
    "panic": "fatal",
    "pnc": "fatal",
    "dpanic": "fatal",
    "emerg": "fatal",
    "emergency": "fatal",
    "alert": "fatal",
    "v": "trace",
    "t": "trace",
    "d": "debug",
    "i": "info",
    "w": "warn",
    "e": "error",
    "f": "fatal",
    "c": "fatal",
}

_PINO = ((10, "trace"), (20, "debug"), (30, "info"), (40, "warn"), (50, "error"))
"""pino/bunyan numeric levels: 10 trace ... 60 fatal."""


def normalize_level(value: object) -> str:
    """One of trace, debug, info, warn, error, fatal, or "" when unknown."""
    if isinstance(value, str):
        name = _NAMES.get(value)
        if name is None:
            name = _NAMES.get(value.strip().lower().rstrip("0123456789"), "")
        return name
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 10:
            return ""
        for bound, name in _PINO:
            if value <= bound:
                return name
        return "fatal"
    return ""


_HEX = frozenset("0123456789abcdef")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def normalize_trace_id(value: object) -> str:
    """32 lowercase hex digits; 16-digit (Jaeger, 64-bit) ids are zero-padded; all-zero is invalid."""
    if not isinstance(value, str):
        return ""
    v = value.strip().lower()
    n = len(v)
    if n == 16:
        v = "0" * 16 + v
    elif n != 32:
        return ""
    if v == _ZERO_TRACE or not _HEX.issuperset(v):
        return ""
    return v


def normalize_span_id(value: object) -> str:
    """16 lowercase hex digits; all-zero is invalid."""
    if not isinstance(value, str):
        return ""
    v = value.strip().lower()
    if len(v) != 16 or v == _ZERO_SPAN or not _HEX.issuperset(v):
        return ""
    return v


def parse_traceparent(value: object) -> tuple[str, str]:
    """(trace_id, span_id) of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`)."""
    if not isinstance(value, str):
        return "", ""
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or len(parts[1]) != 32 or len(parts[3]) != 2:
        return "", ""
    trace = normalize_trace_id(parts[1])
    if not trace:
        return "", ""
    return trace, normalize_span_id(parts[2])


def epoch_ns(value: object) -> int | None:
    """A JSON time value in ns: epoch seconds/ms/us/ns told apart by magnitude, or an RFC 3339 string."""
    if isinstance(value, str):
        t = parse_rfc3339(value.encode())
        if t is not None:
            return t
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 1e20:
        return None  # `not 0 < nan` rejects NaN too
    scale = 1_000_000_000 if value < 1e11 else 1_000_000 if value < 1e14 else 1000 if value < 1e17 else 1
    return value * scale if isinstance(value, int) else round(value * scale)


# -- JSON ---------------------------------------------------------------------

_LEVEL, _TRACE, _SPAN, _TIME, _NESTED = "level", "trace", "span", "time", "nested"
_JSON_KIND = {
    **dict.fromkeys(("level", "lvl", "severity", "severity_text", "log.level", "levelname", "severityText"), _LEVEL),
    **dict.fromkeys(("trace_id", "traceId", "traceID", "otelTraceID", "trace.id"), _TRACE),
    **dict.fromkeys(("span_id", "spanId", "spanID", "otelSpanID", "span.id"), _SPAN),
    **dict.fromkeys(("ts", "time", "timestamp", "@timestamp"), _TIME),
    **dict.fromkeys(("log", "trace", "span"), _NESTED),
}
"""Keys that carry a field; `_NESTED` ones are ECS objects (`{"log": {"level": ...}}`)."""


def _from_json(d: dict[str, object]) -> tuple[str, str, str, int | None]:
    """One pass over the keys in document order; per field the first usable key wins."""
    level = trace = span = ""
    ts = None
    for key, v in d.items():
        kind = _JSON_KIND.get(key)
        if kind is None:
            continue
        if kind is _LEVEL:
            if not level:
                level = normalize_level(v)
        elif kind is _TRACE:
            if not trace:
                trace = normalize_trace_id(v)
        elif kind is _SPAN:
            if not span:
                span = normalize_span_id(v)
        elif kind is _TIME:
            if ts is None:
                ts = epoch_ns(v)
        elif not isinstance(v, dict):
            continue
        elif key == "log":
            if not level:
                level = normalize_level(v.get("level"))
        elif key == "trace":
            if not trace:
                trace = normalize_trace_id(v.get("id"))
        elif not span:
            span = normalize_span_id(v.get("id"))
    if not trace and "traceparent" in d:
        trace, from_parent = parse_traceparent(d["traceparent"])
        span = span or from_parent
    if not (level or trace or span or ts is not None):
        return NOTHING
    return level, trace, span, ts


# -- logfmt and plain text --------------------------------------------------------

_KEY_LEVEL = ("level=", "lvl=", "severity=")
_JSON_KEY_LEVEL = ('"level":', '"lvl":', '"severity":')
"""For JSON lines cut at the size bound, which no longer parse."""
_VALUE = re.compile(r'\s*"?([A-Za-z]+[0-9]?)')
_KEY_BOUNDARY = frozenset(' \t,;{[("')

_TRACEPARENT = re.compile(r"(?<![0-9A-Za-z])00-([0-9a-fA-F]{32})-([0-9a-fA-F]{16})-[0-9a-fA-F]{2}(?![0-9A-Za-z])")
_TRACE_KV = re.compile(r"(?i:trace[_.-]?id|oteltraceid)[\"']?\s*[=:]\s*[\"']?([0-9a-fA-F]{16,32})(?![0-9A-Za-z])")
_SPAN_KV = re.compile(r"(?i:span[_.-]?id|otelspanid)[\"']?\s*[=:]\s*[\"']?([0-9a-fA-F]{16})(?![0-9A-Za-z])")

LEVEL_WINDOW = 100
"""Plain-text level words count only this close to the start: past it they are message text."""


def _level_tokens() -> dict[str, str]:
    words = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "critical", "notice", "severe")
    codes = ("ERR", "WRN", "INF", "DBG", "TRC", "FTL", "CRIT", "E", "W", "I", "D")
    wraps = ("{}", "[{}]", "{}:", "[{}]:", "<{}>", "({})", "{},", "{}|", "|{}|")
    out: dict[str, str] = {}
    for w in (*words, "panic"):
        for form in (w, w.upper(), w.capitalize()):
            out.update((wrap.format(form), _NAMES[w]) for wrap in wraps)
    for code in codes:
        out.update((wrap.format(code), _NAMES[code.lower()]) for wrap in wraps[:6])
    del out["trace"], out["Trace"]  # "stack trace": in prose the bare word is no level
    return out


_LEVEL_TOKENS = _level_tokens()
"""Level words as whole whitespace-separated tokens, bare or wrapped: `ERROR`, `[error]`, `Info:`, `D`."""
_LEVEL_TOKEN_SET = frozenset(_LEVEL_TOKENS)
_KLOG = {"I": "info", "W": "warn", "E": "error", "F": "fatal"}
_PYTHON = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error", "CRITICAL": "fatal"}
"""Python logging's default format: `ERROR:root:message`."""


def _word_level(text: str) -> str:
    """The first level token among the first LEVEL_WINDOW characters of plain text.

    Tokens, not substrings: `INFO` counts, `INFORMATION` and `error.go` do not. A klog
    header (`E0102 15:04:05.000000 ...`) and Python's `ERROR:root:...` count too.
    """
    if "A" <= text[:1] <= "Z":
        c = text[0]
        if c in _KLOG and text[1:5].isdigit() and text[5:6] == " ":
            return _KLOG[c]
        colon = text.find(":", 0, 9)
        if colon > 0 and text[:colon] in _PYTHON:
            return _PYTHON[text[:colon]]
    tokens = text[:LEVEL_WINDOW].split()
    if _LEVEL_TOKEN_SET.isdisjoint(tokens):
        return ""
    if len(text) > LEVEL_WINDOW and not (text[LEVEL_WINDOW - 1].isspace() or text[LEVEL_WINDOW].isspace()):
        tokens.pop()  # cut by the window
    for token in tokens:
        found = _LEVEL_TOKENS.get(token)
        if found:
            return found
    return ""


def _kv_level(text: str, keys: tuple[str, ...] = _KEY_LEVEL) -> str:
    """`level=error`, `lvl="warn"`, `severity=E` in logfmt-like text."""
    for key in keys:
        i = text.find(key)
        while i >= 0:
            if i == 0 or text[i - 1] in _KEY_BOUNDARY or text[i - 1] == ".":
                m = _VALUE.match(text, i + len(key))
                if m:
                    level = normalize_level(m.group(1))
                    if level:
                        return level
            i = text.find(key, i + 1)
    return ""


def _ids(text: str) -> tuple[str, str]:
    """A span id alone cannot be joined with anything, so it is only looked for next to a trace id."""
    trace = span = ""
    if "00-" in text:
        m = _TRACEPARENT.search(text)
        if m:
            trace = normalize_trace_id(m.group(1))
            if trace:
                span = normalize_span_id(m.group(2))
    if not trace and "race" in text:
        for m in _TRACE_KV.finditer(text):
            trace = normalize_trace_id(m.group(1))
            if trace:
                break
    if trace and not span and "pan" in text:
        for m in _SPAN_KV.finditer(text):
            span = normalize_span_id(m.group(1))
            if span:
                break
    return trace, span


def extract(text: str) -> tuple[str, str, str, int | None]:
    """(level, trace_id, span_id, ts_ns or None) of one entry's text. Never raises."""
    if text[:1] == "{":
        try:
            d = orjson.loads(text)
        except ValueError:  # orjson.JSONDecodeError, and str with lone surrogates
            d = None
        if isinstance(d, dict):
            return _from_json(d)
        level = _kv_level(text, _JSON_KEY_LEVEL) if d is None else ""
    else:
        level = ""
    if not level and "=" in text:
        level = _kv_level(text)
    if not level:
        level = _word_level(text)
    if "race" in text or "00-" in text:  # trace_id, traceId, TraceId, traceparent; bare W3C
        trace, span = _ids(text)
        if trace:
            return level, trace, span, None
    return (level, "", "", None) if level else NOTHING
