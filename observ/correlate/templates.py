"""Error lines grouped by message template: what differs between occurrences of one error (numbers, IDs, hex,
addresses) is masked, so `order 1234 failed after 87ms` and `order 99 failed after 5ms` count as one.

`template` is the one place that decides what a template is; a Drain-style miner (learning variable tokens from
the lines themselves) can replace it without touching its callers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from observ.correlate.models import MessageTemplate

MASK = "<*>"
MAX_MESSAGE = 500
"""Characters of a message kept for grouping: long dumps differ somewhere anyway."""
TRACE_IDS_PER_TEMPLATE = 5
MESSAGE_KEYS = ("msg", "message", "error", "err", "event", "exception")
"""JSON fields holding the message, first found wins (Go slog/zap, Python json loggers, pino, ECS)."""

_VARIABLE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUID
    r"|\b0[xX][0-9a-fA-F]+\b"  # 0x hex
    r"|\b(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{8,}\b"  # hex IDs (trace, span, hashes) with a digit
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"  # IPv4[:port]
    r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"  # timestamps
    r"|[-+]?\d+(?:[.,]\d+)*"  # numbers
)
_REPEATED = re.compile(r"<\*>(?:[.:/\-]?<\*>)+")


def message_of(line: str) -> str:
    """The message of a log line: a JSON object's message field, else the first line of the text."""
    text = line.strip()
    if text.startswith("{"):
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict):
            for key in MESSAGE_KEYS:
                value = doc.get(key)
                if isinstance(value, str) and value.strip():
                    text = value.strip()
                    break
                if isinstance(value, dict) and isinstance(value.get("message"), str):
                    text = value["message"].strip()
                    break
    return text.split("\n", 1)[0][:MAX_MESSAGE]


def template(message: str) -> str:
    """`message` with its variable parts masked as `<*>`."""
    return _REPEATED.sub(MASK, _VARIABLE.sub(MASK, message))


@dataclass(slots=True)
class _Group:
    count: int = 0
    example: str = ""
    last_ns: int = -1
    trace_ids: list[str] = field(default_factory=list)


def top_templates(lines: Iterable[tuple[int, str, str]], top: int) -> list[MessageTemplate]:
    """The `top` most frequent templates of (ts_ns, line, trace_id) lines; ties by the newest line first."""
    groups: dict[str, _Group] = {}
    for ts, line, trace_id in lines:
        g = groups.setdefault(template(message_of(line)), _Group())
        g.count += 1
        if ts > g.last_ns:
            g.last_ns, g.example = ts, line
        if trace_id and len(g.trace_ids) < TRACE_IDS_PER_TEMPLATE and trace_id not in g.trace_ids:
            g.trace_ids.append(trace_id)
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1].count, -kv[1].last_ns, kv[0]))[:top]
    return [
        MessageTemplate(template=t, count=g.count, example=g.example, last_ns=g.last_ns, trace_ids=g.trace_ids)
        for t, g in ranked
    ]
