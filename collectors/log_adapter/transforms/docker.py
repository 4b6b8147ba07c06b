"""Docker json-file lines: `{"log":"...\\n","stream":"stdout","time":"..."}`.

Docker splits messages longer than 16 KiB into pieces whose `log` lacks the
trailing newline; those are partial and merged by the pipeline.
"""

from __future__ import annotations

import orjson

from collectors.log_adapter.transforms.cri import parse_rfc3339

PREFIX = b'{"log":'


def parse_docker(line: bytes) -> tuple[int | None, str, bool, str] | None:
    """(ts_ns or None, stream, partial, content) of a json-file line, or None if it is not one.

    Content is already text: JSON decoding yields `str`, and Docker itself replaced
    any invalid UTF-8 when it wrote the line.
    """
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(d, dict):
        return None
    log = d.get("log")
    if not isinstance(log, str):
        return None
    stream = d.get("stream")
    if stream == "stderr":
        name = "stderr"
    elif stream in ("stdout", None):
        name = "stdout"
    else:
        return None
    ts = d.get("time")
    t = parse_rfc3339(ts.encode()) if isinstance(ts, str) else None
    if log.endswith("\n"):
        return t, name, False, log[:-1]
    return t, name, True, log
