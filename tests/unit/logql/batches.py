"""Store batches for engine tests: one stream's lines at given timestamps, info level, no trace IDs."""

from __future__ import annotations

from observ.model import DecodedBatch, Stream


def plain_batch(stream: Stream, source: str, ts: list[int], lines: list[str]) -> DecodedBatch:
    n = len(ts)
    return DecodedBatch(
        stream=stream, source=source, observed_ts=0, ts=ts, level=["info"] * n, trace_id=[""] * n,
        span_id=[""] * n, end=list(range(1, n + 1)), line=lines,
    )  # fmt: skip
