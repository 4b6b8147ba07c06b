"""`POST /loki/api/v1/push`: JSON (optionally gzip/deflate) or snappy-block protobuf -> store batches.

As Loki: a body that does not parse rejects the whole request (400, nothing stored); streams that
parse but fail validation (no labels, too many, too long, duplicate names) and entries that do
(too new, too old or out of the range queries can reach, line too long, structured metadata over Loki's size
or count limit) are refused one by one
while the valid ones are stored, and the answer is 400 listing what was refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import cramjam
import orjson
from google.protobuf.message import DecodeError

from observ.api.config import PushConfig
from observ.api.loki.content_encoding import BodyTooLarge, PushError, read_body
from observ.api.loki.logproto import parse_push_request
from observ.api.loki.params import NS, TS_MAX, TS_MIN
from observ.gocompat.strconv import go_quote
from observ.ingest_defaults import DETECTED_LEVEL, SERVICE_NAME, detected_level, service_name
from observ.model import STREAM_LABELS, DecodedBatch, Stream

MAX_METADATA_BYTES = 64 * 1024
"""Loki's max_structured_metadata_size default: names plus values of one entry."""
MAX_METADATA_ENTRIES = 128
"""Loki's max_structured_metadata_entries_count default."""

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(slots=True)
class PushEntry:
    ts: int
    line: str
    metadata: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class PushStream:
    labels_text: str
    """The labels as the client wrote them, for error messages (Loki quotes these)."""
    labels: list[tuple[str, str]]
    entries: list[PushEntry]


@dataclass(slots=True)
class PushPlan:
    """What a push stores and what it refuses."""

    batches: list[DecodedBatch]
    errors: list[str]
    accepted_lines: int = 0
    accepted_bytes: int = 0
    discarded: dict[str, int] = field(default_factory=dict)
    """Refused entries by Loki's discard reason (`line_too_long`, `missing_labels`, ...)."""
    dropped_metadata: int = 0
    """Pairs not stored: none since every pair is kept (an entry over the metadata limits is refused whole)."""


# --- body --------------------------------------------------------------------------------------------


def is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


# --- labels -----------------------------------------------------------------------------------------

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_TOKEN = re.compile(
    r'\s*(?:(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<raw>`[^`]*`)|(?P<sym>[{}=,]))'
)


def _unquote(text: str) -> str:
    """A Go double-quoted string literal's value."""
    out: list[str] = []
    i, body = 0, text[1:-1]
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(f"invalid escape \\{nxt}{digits}")
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ValueError(f"invalid code point \\{nxt}{digits}")
            out.append(chr(code))
            i += 2 + width
        elif nxt in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ValueError(f"invalid escape \\{digits}")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError(f"unknown escape sequence \\{nxt}")
    return "".join(out)


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            return
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected character {text[pos:].lstrip()[:1]!r} at {pos}")
        kind = m.lastgroup or ""
        yield kind, m.group(kind)
        pos = m.end()


def parse_labels(text: str) -> list[tuple[str, str]]:
    """`{a="b", c="d"}` as Loki's syntax.ParseLabels reads a protobuf stream's labels."""
    toks = list(_tokens(text))
    if len(toks) < 2 or toks[0] != ("sym", "{") or toks[-1] != ("sym", "}"):
        raise ValueError('labels must be written {name="value", ...}')
    body = toks[1:-1]
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        part = body[i : i + 3]
        if len(part) < 3 or part[0][0] != "name" or part[1] != ("sym", "=") or part[2][0] not in ("str", "raw"):
            raise ValueError(f'expected name="value" at label {len(out) + 1}')
        value = _unquote(part[2][1]) if part[2][0] == "str" else part[2][1][1:-1]
        out.append((part[0][1], value))
        i += 3
        if i < len(body):
            if body[i] != ("sym", ","):
                raise ValueError(f"expected ',' after label {part[0][1]!r}")
            i += 1
            if i == len(body):
                raise ValueError("trailing ','")
    return out


def labels_string(labels: list[tuple[str, str]]) -> str:
    """Loki's LabelSet.String(): sorted, Go-quoted."""
    body = ", ".join(f"{k}={go_quote(v)}" for k, v in sorted(labels))
    return "{" + body + "}"


# --- decoding ---------------------------------------------------------------------------------------


def _json_ts(value: object, where: str) -> int:
    if not isinstance(value, str):
        raise PushError(f"{where}: timestamp must be a string of nanoseconds, got {orjson.dumps(value).decode()}")
    if not re.fullmatch(r"-?[0-9]+", value):
        raise PushError(f"{where}: timestamp {value!r} is not an integer of nanoseconds")
    ts = int(value)
    if not _INT64[0] <= ts <= _INT64[1]:
        raise PushError(f"{where}: timestamp {value!r} is out of range")
    return ts


def _string_pairs(obj: object, where: str, what: str) -> list[tuple[str, str]]:
    if not isinstance(obj, dict):
        raise PushError(f"{where}: {what} must be an object of strings")
    for k, v in obj.items():
        if not isinstance(v, str):
            raise PushError(f"{where}: {what} {k!r} must be a string, got {orjson.dumps(v).decode()}")
    return list(obj.items())


def decode_json(body: bytes) -> list[PushStream]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise PushError(f"invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise PushError('the body must be a JSON object {"streams": [...]}')
    raw_streams = doc.get("streams")
    if raw_streams is None:
        return []
    if not isinstance(raw_streams, list):
        raise PushError('"streams" must be an array')
    out: list[PushStream] = []
    for i, s in enumerate(raw_streams):
        where = f"streams[{i}]"
        if not isinstance(s, dict):
            raise PushError(f'{where}: must be an object with "stream" and "values"')
        labels = _string_pairs(s.get("stream") or {}, where, "stream label")
        for name, _ in labels:
            if not LABEL_NAME.fullmatch(name):
                raise PushError(f"{where}: couldn't parse labels: invalid label name {name!r}")
        values = s.get("values")
        if values is not None and not isinstance(values, list):
            raise PushError(f'{where}: "values" must be an array')
        entries: list[PushEntry] = []
        for j, v in enumerate(values or []):
            if v is None:
                continue
            at = f"{where}.values[{j}]"
            if not isinstance(v, list) or len(v) < 2:
                raise PushError(f'{at}: an entry is ["<unix epoch in nanoseconds>", "<log line>", {{metadata}}?]')
            ts = _json_ts(v[0], at)
            if not isinstance(v[1], str):
                raise PushError(f"{at}: the log line must be a string")
            md = _string_pairs(v[2], at, "structured metadata") if len(v) > 2 else []
            entries.append(PushEntry(ts, v[1], md))
        out.append(PushStream(labels_string(labels), labels, entries))
    return out


def decode_protobuf(body: bytes, max_bytes: int) -> list[PushStream]:
    try:
        size = cramjam.snappy.decompress_raw_len(body)
    except cramjam.DecompressionError as e:
        raise PushError(f"snappy: {e}") from None
    if size > max_bytes:
        raise BodyTooLarge(f"request body too large: {size} bytes after decompression, limit {max_bytes}")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
        req = parse_push_request(raw)
    except (cramjam.DecompressionError, DecodeError) as e:
        raise PushError(f"{e}") from None
    out: list[PushStream] = []
    for i, s in enumerate(req.streams):
        try:
            labels = parse_labels(s.labels)
        except ValueError as e:
            raise PushError(f"streams[{i}]: couldn't parse labels {s.labels!r}: {e}") from None
        entries = []
        for j, entry in enumerate(s.entries):
            ts = entry.timestamp.seconds * 1_000_000_000 + entry.timestamp.nanos
            if not _INT64[0] <= ts <= _INT64[1]:
                raise PushError(f"streams[{i}].entries[{j}]: timestamp out of range")
            entries.append(PushEntry(ts, entry.line, [(p.name, p.value) for p in entry.structuredMetadata]))
        out.append(PushStream(s.labels, labels, entries))
    return out


def decode(body: bytes, content_type: str, content_encoding: str, max_bytes: int) -> list[PushStream]:
    """The streams of a push body; PushError names what was wrong and where."""
    data = read_body(body, content_encoding, max_bytes)
    return decode_json(data) if is_json(content_type) else decode_protobuf(data, max_bytes)


# --- validation and mapping to store batches --------------------------------------------------------


def _validate_labels(s: PushStream, labels: list[tuple[str, str]], cfg: PushConfig) -> tuple[str, str] | None:
    """(reason, message) as Loki's validator words them, or None when the labels are fine."""
    if not labels:
        return "missing_labels", "error at least one label pair is required per stream"
    names = [k for k, _ in labels if k != "service_name"]
    if len(names) > cfg.max_label_names_per_series:
        return "max_label_names_per_series", (
            f"entry for stream '{s.labels_text}' has {len(names)} label names; limit {cfg.max_label_names_per_series}"
        )
    seen: set[str] = set()
    for k, v in labels:
        if len(k) > cfg.max_label_name_length:
            return "label_name_too_long", f"stream '{s.labels_text}' has label name too long: '{k}'"
        if len(v.encode()) > cfg.max_label_value_length:
            return "label_value_too_long", f"stream '{s.labels_text}' has label value too long: '{v}'"
        if k in seen:
            return "duplicate_label_names", f"stream '{s.labels_text}' has duplicate label name: '{k}'"
        seen.add(k)
    return None


def go_rfc3339(ns: int) -> str:
    """Go's `t.Format(time.RFC3339)` of a UTC time: whole seconds, `Z`."""
    return (datetime(1970, 1, 1) + timedelta(seconds=ns // NS)).isoformat() + "Z"


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """The timestamps a push may store, both inclusive, as Loki's validator checks them."""

    oldest: int
    newest: int

    @classmethod
    def at(cls, now_ns: int, cfg: PushConfig) -> TimeBounds:
        """Never outside what a query can reach (params.TS_MIN..TS_MAX, end exclusive), however configured."""
        oldest = TS_MIN
        if cfg.reject_old_samples:
            oldest = max(oldest, now_ns - int(cfg.reject_old_samples_max_age_s * NS))
        return cls(oldest, min(now_ns + int(cfg.creation_grace_period_s * NS), TS_MAX - 1))


def _validate_entry(
    s: PushStream, e: PushEntry, size: int, bounds: TimeBounds, cfg: PushConfig
) -> tuple[str, str] | None:
    """(reason, message) as Loki's ValidateEntry words them, in its order, or None when the entry is fine."""
    if e.ts < bounds.oldest:
        return "greater_than_max_sample_age", (
            f"entry for stream '{s.labels_text}' has timestamp too old: {go_rfc3339(e.ts)}, "
            f"oldest acceptable timestamp is: {go_rfc3339(bounds.oldest)}"
        )
    if e.ts > bounds.newest:
        return "too_far_in_future", f"entry for stream '{s.labels_text}' has timestamp too new: {go_rfc3339(e.ts)}"
    if size > cfg.max_line_bytes:
        return "line_too_long", (
            f"Max entry size '{cfg.max_line_bytes}' bytes exceeded for stream '{s.labels_text}' "
            f"while adding an entry with length '{size}' bytes"
        )
    return _validate_metadata(s, e.metadata)


def _validate_metadata(s: PushStream, metadata: list[tuple[str, str]]) -> tuple[str, str] | None:
    """Loki's structured metadata limits, in its order: size first, then count."""
    if not metadata:
        return None
    size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata)
    if size > MAX_METADATA_BYTES:
        return "structured_metadata_too_large", (
            f"stream '{s.labels_text}' has structured metadata too large: '{size}' bytes, limit: "
            f"'{MAX_METADATA_BYTES}' bytes. Please see `limits_config.max_structured_metadata_size` or contact your "
            "Loki administrator to increase it."
        )
    if len(metadata) > MAX_METADATA_ENTRIES:
        return "structured_metadata_too_many", (
            f"stream '{s.labels_text}' has too many structured metadata labels: '{len(metadata)}', limit: "
            f"'{MAX_METADATA_ENTRIES}'. Please see `limits_config.max_structured_metadata_entries_count` or contact "
            "your Loki administrator to increase it."
        )
    return None


def _with_detected_level(e: PushEntry, labels: dict[str, str], cfg: PushConfig) -> PushEntry:
    """The entry with Loki's `detected_level` pair, added after validation so the metadata limits do not count it."""
    md = dict(e.metadata)
    found = detected_level(labels, md, e.line, cfg)
    if found is None:
        return e
    return replace(e, metadata=[*((k, v) for k, v in e.metadata if k != DETECTED_LEVEL), (DETECTED_LEVEL, found)])


def plan(streams: list[PushStream], tenant: str, cfg: PushConfig, now_ns: int | None = None) -> PushPlan:
    """Validate and turn pushed streams into one store batch per (stream labels), entries in time order."""
    now = time.time_ns() if now_ns is None else now_ns
    bounds = TimeBounds.at(now, cfg)
    result = PushPlan([], [])
    groups: dict[tuple[Stream, str], list[PushEntry]] = {}
    for s in streams:
        labels = [(k, v) for k, v in s.labels if v != ""]
        d = dict(labels)
        name = service_name(d, cfg.discover_service_name)
        if name is not None:  # before validation, so Loki's messages quote the stream with it
            labels.append((SERVICE_NAME, name))
            s = replace(s, labels_text=labels_string(labels))
            d[SERVICE_NAME] = name
        problem = _validate_labels(s, labels, cfg)
        if problem is not None:
            reason, message = problem
            result.discarded[reason] = result.discarded.get(reason, 0) + len(s.entries)
            result.errors.append(message)
            continue
        level = d.get("level", "")
        stream = Stream(
            tenant=tenant,
            **{k: d.get(k, "") for k in STREAM_LABELS},  # `level` is a per-entry column
            labels=tuple(sorted((k, v) for k, v in d.items() if k not in STREAM_LABELS and k != "level")),
        )
        bucket = groups.setdefault((stream, level), [])
        for e in s.entries:
            problem = _validate_entry(s, e, len(e.line.encode()), bounds, cfg)
            if problem is not None:
                reason, message = problem
                result.discarded[reason] = result.discarded.get(reason, 0) + 1
                result.errors.append(message)
                continue
            bucket.append(_with_detected_level(e, d, cfg))
    for (stream, level), entries in groups.items():
        if not entries:
            continue
        entries.sort(key=lambda e: e.ts)
        trace, span, rest = [], [], []
        for e in entries:
            md = dict(e.metadata)
            trace.append(md.pop("trace_id", ""))
            span.append(md.pop("span_id", ""))
            rest.append(md)
            result.accepted_bytes += len(e.line.encode())
        n = len(entries)
        result.accepted_lines += n
        batch = DecodedBatch(
            stream=stream, source="", observed_ts=now, ts=[e.ts for e in entries], level=[level] * n,
            trace_id=trace, span_id=span, end=[0] * n, line=[e.line for e in entries],
            metadata=rest if any(rest) else None,
        )  # fmt: skip
        result.batches.append(batch)
    return result
