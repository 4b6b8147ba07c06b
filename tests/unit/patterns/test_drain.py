"""Drain's clustering (Loki's drain_test.go tables where it has them, the tree's rules otherwise)."""

from __future__ import annotations

import pytest

from observ.logql.log.pattern import PatternMatcher
from observ.patterns import Drain, DrainConfig

NS = 10**9


def patterns(drain: Drain) -> list[str]:
    return sorted(c.pattern() for c in drain.clusters())


def test_cluster_tracks_volume_and_lines() -> None:
    """Loki's TestLogClusterTracksVolume."""
    drain = Drain()
    lines = [f"server request took {n} ms to complete" for n in (123, 456, 789)]
    for line in lines:
        drain.train(line, 0)
    [cluster] = drain.clusters()
    assert cluster.volume == sum(len(line) for line in lines)
    assert cluster.sample_count == 3
    assert cluster.pattern() == "server request took <_> ms to complete"


SCHEDULER = (
    'ts={ts} caller=scheduler_processor.go:143 level=warn msg="error contacting scheduler" err="rpc error: code = '
    'Unavailable desc = connection error: desc = \\"error reading server preface: EOF\\"" addr={addr}:9095'
)
MATCHABLE = {  # Loki's TestDrain_TrainGeneratesPatternsMatchableByLokiPatternFilter
    "all lines match": [f"test {n} test test" for n in range(1, 5)],
    "lines end with a newline": [f"test {n} test test\n" for n in range(1, 5)],
    "lines end with tabs": [f"test {n} test test\t\t\t" for n in range(1, 5)],
    "lines start with tabs": [f"\t\t\ttest {n} test test" for n in range(1, 5)],
    "scheduler lines": [
        SCHEDULER.format(ts=ts, addr=addr)
        for ts, addr in [
            ("2024-05-30T12:50:36.648377186Z", "10.0.151.101"),
            ("2024-05-30T12:50:36.350575929Z", "10.0.151.101"),
            ("2024-05-30T12:50:36.335784477Z", "10.0.151.101"),
            ("2024-05-30T12:50:36.250406732Z", "10.0.151.101"),
            ("2024-05-30T12:50:36.248030329Z", "10.0.45.239"),
            ("2024-05-30T12:50:36.176344754Z", "10.0.151.101"),
            ("2024-05-30T12:50:36.174730772Z", "10.0.151.101"),
            ("2024-05-30T12:50:36.076517207Z", "10.0.45.239"),
        ]
    ],
    "lines start with spaces": [f"  test {n} test test" for n in range(1, 5)],  # Loki's join loses these spaces
}


@pytest.mark.parametrize("lines", MATCHABLE.values(), ids=MATCHABLE.keys())
def test_one_pattern_that_every_line_matches(lines: list[str]) -> None:
    drain = Drain()
    for line in lines:
        drain.train(line, 0)
    [cluster] = drain.clusters()
    matcher = PatternMatcher(cluster.pattern(), line_filter=True)
    assert all(matcher.test(line) for line in lines), cluster.pattern()


def test_lokis_http_api_example() -> None:
    """docs/sources/reference/loki-http-api.md, "Patterns detection": two logfmt lines, one pattern."""
    drain = Drain(fmt="logfmt")
    for ts, took in (("40", "200ms"), ("41", "500ms")):
        line = f"ts=2024-03-30T23:03:{ts} caller=grpc_logging.go:66 level=info method=/cortex.Ingester/Push "
        drain.train(line + f"duration={took} msg=gRPC", 0)
    assert patterns(drain) == [
        "ts=<_> caller=grpc_logging.go:66 level=info method=/cortex.Ingester/Push duration=<_> msg=gRPC"
    ]


@pytest.mark.parametrize(
    ("sim_th", "want"),
    [(0.5, ["alpha beta gamma <_> <_>"]), (0.7, ["alpha beta gamma d1 e1", "alpha beta gamma d2 e2"])],
)
def test_similarity_threshold_decides_between_joining_and_a_new_cluster(sim_th: float, want: list[str]) -> None:
    """Both lines reach one leaf (digits take the wildcard branch); 3 of their 5 tokens are equal: 0.6."""
    drain = Drain(DrainConfig(sim_th=sim_th))
    drain.train("alpha beta gamma d1 e1", 0)
    drain.train("alpha beta gamma d2 e2", 0)
    assert patterns(drain) == want


def test_token_count_separates_clusters() -> None:
    drain = Drain()
    drain.train("user alice logged in", 0)
    drain.train("user bob logged in now", 0)
    assert patterns(drain) == ["user alice logged in", "user bob logged in now"]


def test_lines_with_too_few_or_too_many_tokens_are_not_mined() -> None:
    drain = Drain()
    assert drain.train("only three tokens", 0) is None
    assert drain.train(" ".join(["w"] * 81), 0) is None
    assert drain.train(" ".join(["w"] * 80), 0) is not None
    assert drain.train("x" * 3001 + " a b c", 0) is None  # longer than max_line_bytes
    assert len(drain.clusters()) == 1


def test_a_token_with_digits_takes_the_wildcard_branch() -> None:
    """`user42` and `user43` share the tree's wildcard node, so the second line finds the first one's cluster."""
    drain = Drain()
    drain.train("login user42 from web ok", 0)
    drain.train("login user43 from web ok", 0)
    assert patterns(drain) == ["login <_> from web ok"]


def test_without_digits_the_prefix_tree_keeps_lines_apart() -> None:
    """Different leading words are different branches: the lines never meet, however similar the rest."""
    drain = Drain()
    drain.train("login alice from web ok", 0)
    drain.train("logout alice from web ok", 0)
    assert patterns(drain) == ["login alice from web ok", "logout alice from web ok"]


def test_a_full_node_sends_new_tokens_to_the_wildcard() -> None:
    """max_children: once a node is full, a new word follows the wildcard branch and joins the cluster there."""
    drain = Drain(DrainConfig(max_children=3))
    for word in ("one", "two", "three", "four"):
        drain.train(f"start {word} middle end tail", 0)
    assert patterns(drain) == ["start <_> middle end tail", "start one middle end tail", "start two middle end tail"]


def test_least_recently_used_cluster_is_evicted() -> None:
    drain = Drain(DrainConfig(max_clusters=2, max_eviction_ratio=1.0))
    drain.train("aaa bbb ccc ddd", 0)
    drain.train("eee fff ggg hhh", 0)
    drain.train("aaa bbb ccc ddd", 0)  # aaa is used again: eee is now the oldest
    drain.train("iii jjj kkk lll", 0)
    assert patterns(drain) == ["aaa bbb ccc ddd", "iii jjj kkk lll"]


def test_too_many_evictions_stop_mining_for_ten_minutes_of_line_time() -> None:
    drain = Drain(DrainConfig(max_clusters=1, max_eviction_ratio=0.25))
    words = ["aaa", "bbb", "ccc", "ddd", "eee", "fff"]
    for i, w in enumerate(words[:3]):
        drain.train(f"{w} x y z", i)
    assert drain.train("ggg x y z", 3) is None  # 2 evictions of 3 lines: blocked
    assert drain.train("ggg x y z", 3 + 599 * NS) is None
    assert drain.train("ggg x y z", 3 + 600 * NS) is not None
    assert patterns(drain) == ["ggg x y z"]


def test_template_keeps_the_first_lines_spacing() -> None:
    drain = Drain()
    drain.train("GET  /a1  took 5ms", 0)
    drain.train("GET  /b2  took 7ms", 0)
    assert patterns(drain) == ["GET  <_>  took <_>"]


def test_samples_are_counted_per_ten_seconds() -> None:
    drain = Drain()
    for ts in (1, 9_999, 10_000, 25_000):
        drain.train(f"request {ts} done ok", ts * 1_000_000)
    [cluster] = drain.clusters()
    assert cluster.samples.for_range(0, 30_000, 10_000) == [(0, 2), (10_000, 1), (20_000, 1)]
