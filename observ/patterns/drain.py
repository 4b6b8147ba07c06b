"""Drain log-template mining as Loki's pattern ingester does it (`pkg/pattern/drain/drain.go`, MIT, from
faceair/drain, itself after He et al., "Drain: An Online Log Parsing Approach with Fixed Depth Tree", 2017).

A line's tokens walk a prefix tree: first by token count, then by its leading tokens (a token holding a
digit goes to the wildcard branch); the leaf lists candidate clusters and the line joins the most similar
one when at least `sim_th` of its tokens are equal, else starts a cluster of its own. Joining turns every
differing position of the template into the placeholder `<_>`. Clusters live in an LRU of `max_clusters`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from observ.patterns.samples import Chunks
from observ.patterns.tokenize import (
    DEFAULT_JSON_FIELDS,
    FORMAT_UNKNOWN,
    PLACEHOLDER,
    Tokenizer,
    deduplicate_placeholders,
    has_number,
    tokenizer_for,
)

MIN_TOKENS, MAX_TOKENS = 4, 80
"""Lines with fewer or more tokens are not mined (Loki's `too_few_tokens`, `too_many_tokens`)."""
EVICTION_BLOCK_NS = 600 * 10**9
"""After too many evictions Loki stops mining a stream for 10 minutes (of line time here, wall time there)."""


@dataclass(frozen=True, slots=True)
class DrainConfig:
    """Loki's `drain.DefaultConfig()`."""

    log_cluster_depth: int = 30
    sim_th: float = 0.3
    max_children: int = 15
    max_clusters: int = 300
    max_eviction_ratio: float = 0.25
    max_line_bytes: int = 3000
    max_chunk_age_ms: int = 3_600_000
    sample_interval_ms: int = 10_000

    def __post_init__(self) -> None:
        if self.log_cluster_depth < 3:
            raise ValueError("log_cluster_depth must be at least 3")


@dataclass(slots=True, eq=False)
class LogCluster:
    id: int
    tokens: list[str]
    state: object
    tokenizer: Tokenizer
    volume: int = 0
    """Characters of the lines mined into it (Loki counts bytes)."""
    sample_count: int = 0
    """Lines mined into it."""
    samples: Chunks = field(default_factory=Chunks)

    def pattern(self) -> str:
        return deduplicate_placeholders(self.tokenizer.join(self.tokens, self.state))

    def add(self, line: str, ts_ns: int) -> None:
        self.volume += len(line)
        self.sample_count += 1
        self.samples.add(ts_ns // 1_000_000)


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    """Insertion order matters only for the child count, so a dict serves where Loki scans a slice."""
    cluster_ids: list[int] = field(default_factory=list)


class _Limiter:
    """Stops mining while more than `max_ratio` of the lines let through have evicted a cluster."""

    def __init__(self, max_ratio: float) -> None:
        self.max_ratio = max_ratio
        self.added = self.evicted = 0
        self.blocked_until: int | None = None

    def allow(self, now_ns: int) -> bool:
        if self.blocked_until is not None:
            if now_ns < self.blocked_until:
                return False
            self.added = self.evicted = 0
            self.blocked_until = None
        if self.added and self.evicted / self.added > self.max_ratio:
            self.blocked_until = now_ns + EVICTION_BLOCK_NS
            return False
        self.added += 1
        return True


class Drain:
    """One miner: Loki keeps one per stream and detected level; `fmt` picks the tokenizer (`detect_format`)."""

    def __init__(
        self,
        config: DrainConfig | None = None,
        fmt: str = FORMAT_UNKNOWN,
        json_fields: Sequence[str] = DEFAULT_JSON_FIELDS,
    ) -> None:
        self.config = config or DrainConfig()
        self.max_node_depth = self.config.log_cluster_depth - 2
        self.tokenizer = tokenizer_for(fmt, self.config.max_line_bytes, json_fields)
        self.root = _Node()
        self._clusters: OrderedDict[int, LogCluster] = OrderedDict()
        """Least recently used first."""
        self._counter = 0
        self._limiter = _Limiter(self.config.max_eviction_ratio)

    def clusters(self) -> list[LogCluster]:
        """Least recently used first, as Loki's LRU lists them."""
        return list(self._clusters.values())

    def _get(self, cluster_id: int) -> LogCluster | None:
        cluster = self._clusters.get(cluster_id)
        if cluster is not None:
            self._clusters.move_to_end(cluster_id)
        return cluster

    def train(self, line: str, ts_ns: int = 0) -> LogCluster | None:
        """Mine one line (lines of a stream in time order); its cluster, or None when the line was skipped."""
        if not self._limiter.allow(ts_ns):
            return None
        tokenized = self.tokenizer.tokenize(line)
        if tokenized is None:
            return None
        tokens, state = tokenized
        if not MIN_TOKENS <= len(tokens) <= MAX_TOKENS:
            return None
        cluster = self._tree_search(tokens)
        if cluster is None:
            self._counter += 1
            samples = Chunks(self.config.max_chunk_age_ms, self.config.sample_interval_ms)
            cluster = LogCluster(self._counter, tokens, state, self.tokenizer, samples=samples)
            cluster.add(line, ts_ns)
            self._clusters[cluster.id] = cluster
            if len(self._clusters) > self.config.max_clusters:
                self._clusters.popitem(last=False)
                self._limiter.evicted += 1
            self._add_to_tree(cluster)
        else:
            template = cluster.tokens
            for i, token in enumerate(tokens):
                if token != template[i]:
                    template[i] = PLACEHOLDER
            cluster.add(line, ts_ns)
            self._get(cluster.id)
        return cluster

    def _tree_search(self, tokens: list[str]) -> LogCluster | None:
        node = self.root.children.get(str(len(tokens)))
        if node is None:
            return None
        for token in tokens[: min(self.max_node_depth, len(tokens)) - 1]:
            children = node.children
            child = children.get(token) or children.get(PLACEHOLDER)
            if child is None:
                return None
            node = child
        return self._fast_match(node.cluster_ids, tokens)

    def _fast_match(self, cluster_ids: list[int], tokens: list[str]) -> LogCluster | None:
        """The most similar candidate (ties: the one with more placeholders), if similar enough."""
        best: LogCluster | None = None
        best_sim, best_params = -1.0, -1
        for cluster_id in cluster_ids:
            cluster = self._get(cluster_id)
            if cluster is None:
                continue
            same = params = 0
            for mine, theirs in zip(cluster.tokens, tokens, strict=True):
                if mine == PLACEHOLDER:
                    params += 1
                elif mine == theirs:
                    same += 1
            sim = same / len(tokens)
            if sim > best_sim or (sim == best_sim and params > best_params):
                best, best_sim, best_params = cluster, sim, params
        return best if best_sim >= self.config.sim_th else None

    def _add_to_tree(self, cluster: LogCluster) -> None:
        count = len(cluster.tokens)
        node = self.root.children.setdefault(str(count), _Node())
        max_children = self.config.max_children
        for token in cluster.tokens[: min(self.max_node_depth, count) - 1]:
            child = node.children.get(token)
            if child is None:
                wildcard = node.children.get(PLACEHOLDER)
                if has_number(token):
                    if wildcard is None:
                        wildcard = node.children[PLACEHOLDER] = _Node()
                    child = wildcard
                elif wildcard is not None:
                    if len(node.children) < max_children:
                        child = node.children[token] = _Node()
                    else:
                        child = wildcard
                elif len(node.children) + 1 < max_children:
                    child = node.children[token] = _Node()
                else:
                    child = node.children[PLACEHOLDER] = _Node()
            node = child
        # Loki's LRU Get marks every live candidate as used here, which orders later evictions.
        node.cluster_ids = [c for c in node.cluster_ids if self._get(c) is not None] + [cluster.id]
