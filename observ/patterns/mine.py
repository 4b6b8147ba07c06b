"""Many streams' lines -> Loki's `/patterns` series: what the pattern ingester and its querier do together.

Each stream is mined apart, one `Drain` per detected level, with the tokenizer its first line calls for
(`pkg/pattern/stream.go`); series of equal pattern and level are then summed across streams
(`iter.NewMerge`), and the querier keeps those seen at least `min_cluster_size` times, the
`max_patterns` largest first (`ingester_querier.go` `prunePatterns`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from observ.patterns.drain import Drain, DrainConfig
from observ.patterns.tokenize import DEFAULT_JSON_FIELDS, detect_format

LEVELS = ("unknown", "debug", "info", "warn", "error", "fatal", "critical", "trace")
"""Loki's `constants.LogLevels`; any other detected level is mined and reported as `unknown`."""
MIN_CLUSTER_SIZE = 30
MAX_PATTERNS = 300
MIN_STEP_MS = 10_000
"""`drain.TimeResolution`: a smaller step is raised to it."""
MS = 1_000_000


@dataclass(frozen=True, slots=True)
class MinedLine:
    ts: int
    """Nanoseconds since the epoch."""
    line: str
    level: str
    """The line's detected level (`unknown` when it has none)."""


@dataclass(slots=True)
class PatternSeries:
    pattern: str
    level: str
    samples: list[tuple[int, int]]
    """(ms, lines), oldest first."""

    @property
    def total(self) -> int:
        return sum(n for _, n in self.samples)


def _mine_stream(lines: Sequence[MinedLine], config: DrainConfig, json_fields: Sequence[str]) -> dict[str, Drain]:
    drains: dict[str, Drain] = {}
    fmt = detect_format(lines[0].line)
    for entry in sorted(lines, key=lambda e: e.ts):
        level = entry.level.lower()
        if level not in LEVELS:
            level = "unknown"
        drain = drains.get(level)
        if drain is None:
            drain = drains[level] = Drain(config, fmt, json_fields)
        drain.train(entry.line, entry.ts)
    return drains


def mine(
    streams: Iterable[Sequence[MinedLine]],
    start_ns: int,
    end_ns: int,
    step_ns: int,
    *,
    config: DrainConfig | None = None,
    json_fields: Sequence[str] = DEFAULT_JSON_FIELDS,
    min_cluster_size: int = MIN_CLUSTER_SIZE,
    max_patterns: int = MAX_PATTERNS,
) -> list[PatternSeries]:
    """Patterns of `streams` (each one stream's lines) with their counts per step in [start, end), largest first."""
    config = config or DrainConfig()
    start_ms, end_ms = start_ns // MS, -(-end_ns // MS)
    step_ms = max(step_ns // MS, MIN_STEP_MS)
    merged: dict[tuple[str, str], dict[int, int]] = {}
    for lines in streams:
        if not lines:
            continue
        for level, drain in _mine_stream(lines, config, json_fields).items():
            for cluster in drain.clusters():
                pattern = cluster.pattern()
                if not pattern:
                    continue
                counts = merged.setdefault((pattern, level), {})
                for ts, n in cluster.samples.for_range(start_ms, end_ms, step_ms):
                    counts[ts] = counts.get(ts, 0) + n
    series = [
        PatternSeries(pattern, level, sorted(counts.items())) for (pattern, level), counts in merged.items() if counts
    ]
    return prune(series, min_cluster_size, max_patterns)


def prune(series: list[PatternSeries], min_cluster_size: int, max_patterns: int) -> list[PatternSeries]:
    """`prunePatterns`: series of at least `min_cluster_size` lines, largest first, at most `max_patterns`."""
    kept = [s for s in series if s.total >= min_cluster_size]
    kept.sort(key=lambda s: (-s.total, s.pattern, s.level))
    return kept[:max_patterns]
