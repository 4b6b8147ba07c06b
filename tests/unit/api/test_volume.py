"""Volume: Loki's own test tables, ported.

- `TestInstance_Volume` (pkg/ingester/instance_test.go): the same streams and lines, appended to a real store and
  read through `StreamIndex`; expected names and bytes are Loki's, except the "excludes streams outside of time
  bounds" cases, where Loki apportions a chunk's bytes by the share of its time range that overlaps (45 and 26)
  and observ counts the lines in range exactly (54 and 28).
- `TestForInterval` (pkg/util/time_test.go) and `Test_VolumeMiddleware` (pkg/querier/queryrange/volume_test.go):
  how a window is cut into steps and each step stamped.
- `Test_toPrometheusResponse` (same file): vector or matrix, order, label-name metrics.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from observ.api.loki import params as p
from observ.api.loki import volume as v
from observ.logql.errors import LimitError, LogQLError, ParseError
from observ.logql.limits import QueryLimits
from observ.model import DecodedBatch, Stream
from observ.store.logstore import LogStore
from observ.store.streams import StreamBytes, StreamIndex

MS = 1_000_000
NS = 1_000_000_000


def plan(query: str, targets: tuple[str, ...] = ()) -> v.Plan:
    got = v.plan(query, targets)
    assert got is not None
    return got


def _append(store: LogStore, labels: dict[str, str], entries: list[tuple[int, str]]) -> None:
    stream = Stream(tenant="fake", stream="", labels=tuple(sorted(labels.items())))
    n = len(entries)
    store.append(
        [DecodedBatch(stream, "", 0, [t for t, _ in entries], [""] * n, [""] * n, [""] * n, [0] * n,
                      [line for _, line in entries])]
    )  # fmt: skip


@pytest.fixture(scope="module")
def index() -> Iterator[StreamIndex]:
    """insertData and prepareInstance: 160 bytes from `host="agent"` (90 dispatcher, 70 worker), 29 from `other`."""
    store = LogStore(":memory:")
    for i in range(10):
        name = "worker" if i % 2 == 0 else "dispatcher"
        _append(store, {"host": "agent", "log_stream": name, "job": "3"}, [(i * MS, f'msg="{name}_{i}"')])
    _append(store, {"fizz": "buzz", "host": "other"}, [(MS, 'msg="other"')])
    _append(store, {"foo": "bar", "host": "other", "log_stream": "worker"}, [(MS, 'msg="other worker"')])
    yield StreamIndex(store, QueryLimits())
    store.close()


def volumes(
    index: StreamIndex, query: str, aggregate_by: str, *, start_ms: int = 0, end_ms: int = 1100, limit: int = 5,
    targets: tuple[str, ...] = (),
) -> list[tuple[str, int]]:  # fmt: skip
    """GetVolume's answer as (name, bytes): one step over [from, through]."""
    chosen = plan(query, targets)
    start, end = start_ms * MS, end_ms * MS
    steps = v.steps(start, end, 0)
    rows = index.volumes(chosen.selector, tenant="fake", start_ns=start, end_ns=end, origin_ns=steps.origin_ns,
                         step_ns=steps.step_ns)  # fmt: skip
    return [(v._sort_key(name), n) for name, n in v.aggregate(rows, chosen, aggregate_by, limit).get(0, [])]


AGENT_DISPATCHER = '{host="agent", job="3", log_stream="dispatcher"}'
AGENT_WORKER = '{host="agent", job="3", log_stream="worker"}'
OTHER_WORKER = '{foo="bar", host="other", log_stream="worker"}'
OTHER_FIZZ = '{fizz="buzz", host="other"}'

SERIES_CASES = [
    ("no matchers", "{}", {}, [(AGENT_DISPATCHER, 90), (AGENT_WORKER, 70), (OTHER_WORKER, 18), (OTHER_FIZZ, 11)]),
    ("with matchers", '{log_stream="dispatcher"}', {}, [('{log_stream="dispatcher"}', 90)]),
    ("excludes streams outside of time bounds", "{}", {"start_ms": 5}, [(AGENT_DISPATCHER, 54), (AGENT_WORKER, 28)]),
    ("enforces the limit", "{}", {"end_ms": 11000, "limit": 1}, [(AGENT_DISPATCHER, 90)]),
    ("all targetLabels are added to matchers", "{}", {"targets": ("log_stream",)},
     [('{log_stream="dispatcher"}', 90), ('{log_stream="worker"}', 88)]),
    ("targets with a specific equals matcher", '{log_stream="dispatcher"}', {"targets": ("host",)},
     [('{host="agent"}', 90)]),
    ("targets with a specific regexp matcher", '{log_stream=~".+"}', {"targets": ("host", "job")},
     [('{host="agent", job="3"}', 160)]),
]  # fmt: skip

LABELS_CASES = [
    ("no matchers", "{}", {}, [("host", 189), ("log_stream", 178), ("job", 160), ("foo", 18), ("fizz", 11)]),
    ("with matchers it returns intersecting labels", '{log_stream="worker"}', {},
     [("host", 88), ("log_stream", 88), ("job", 70), ("foo", 18)]),
    ("excludes streams outside of time bounds", "{}", {"start_ms": 5}, [("host", 82), ("job", 82), ("log_stream", 82)]),
    ("enforces the limit", "{}", {"end_ms": 11000, "limit": 1}, [("host", 189)]),
    ("all targetLabels are added to matchers", "{}", {"targets": ("host",)}, [("host", 189)]),
    ("targets with a specific equals matcher", '{log_stream="dispatcher"}', {"targets": ("host",)}, [("host", 90)]),
    ("targets with a specific regexp matcher", '{log_stream=~".+"}', {"targets": ("host", "job")},
     [("host", 160), ("job", 160)]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "query", "kw", "want"), SERIES_CASES, ids=[c[0] for c in SERIES_CASES])
def test_instance_volume_aggregate_by_series(
    index: StreamIndex, case: str, query: str, kw: dict[str, object], want: list[tuple[str, int]]
) -> None:
    assert volumes(index, query, v.SERIES, **kw) == want  # type: ignore[arg-type]


@pytest.mark.parametrize(("case", "query", "kw", "want"), LABELS_CASES, ids=[c[0] for c in LABELS_CASES])
def test_instance_volume_aggregate_by_labels(
    index: StreamIndex, case: str, query: str, kw: dict[str, object], want: list[tuple[str, int]]
) -> None:
    assert volumes(index, query, v.LABELS, **kw) == want  # type: ignore[arg-type]


def test_volume_reads_one_tenant(index: StreamIndex) -> None:
    assert index.volumes(plan("{}").selector, tenant="other", start_ns=0, end_ns=NS, origin_ns=0, step_ns=NS) == []


def test_steps_are_cut_by_step_and_bucketed_by_time(index: StreamIndex) -> None:
    """Step 2 ms over [0, 10 ms): five steps, each holding one worker and one dispatcher line."""
    chosen = plan('{host="agent"}', ("log_stream",))
    steps = v.steps(0, 10 * MS, 2 * MS)
    assert steps.stamps_ms == [1, 3, 5, 7, 10]
    rows = index.volumes(chosen.selector, tenant="fake", start_ns=0, end_ns=10 * MS, origin_ns=steps.origin_ns,
                         step_ns=steps.step_ns)  # fmt: skip
    per_step = v.aggregate(rows, chosen, v.SERIES, 100)
    assert sorted(per_step) == [0, 1, 2, 3, 4]
    assert per_step[0] == [((("log_stream", "dispatcher"),), 18), ((("log_stream", "worker"),), 14)]


# --- util.ForInterval and the volume middleware ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start_s", "end_s", "step_s", "stamps_s"),
    [
        (5, 8, 10, [8]),  # range smaller than split interval
        (10, 20, 10, [20]),  # range exactly equal and aligned to split interval
        (5, 28, 10, [9.999, 19.999, 28]),  # multiple splits with end time inclusive
    ],
)
def test_for_interval(start_s: int, end_s: int, step_s: int, stamps_s: list[float]) -> None:
    steps = v.steps(start_s * NS, end_s * NS, step_s * NS)
    assert [ms / 1000 for ms in steps.stamps_ms] == stamps_s
    assert steps.origin_ns == start_s // step_s * step_s * NS


def test_volume_middleware_splits_by_step() -> None:
    assert len(v.steps(10 * MS, 20 * MS, 1 * MS).stamps_ms) == 10  # "breaks query up into subqueries"
    assert v.steps(10 * MS, 20 * MS, 20 * MS).stamps_ms == [20]  # "only returns one datapoint when step > range"
    # "when requested time range is not evenly divisible by step, an extra datapoint is added"
    assert len(v.steps(1698830441000 * MS, 1698830498000 * MS, 60_000 * MS).stamps_ms) == 2
    # "timestamps are aligned with the end of steps"
    aligned = v.steps(1000000000000 * MS, 1000000005000 * MS, 1000 * MS).stamps_ms
    assert (aligned[0], aligned[4], len(aligned)) == (1000000000999, 1000000005000, 5)


def test_instant_volume_is_one_step_stamped_with_the_end() -> None:
    """Step 0 (the instant endpoint): ForInterval's callback(start, end); the end rounded up to a millisecond."""
    steps = v.steps(3 * NS + 1, 7 * NS + 1, 0)
    assert (steps.origin_ns, steps.step_ns, steps.stamps_ms) == (3 * NS + 1, 4 * NS, [7001])


def test_sub_millisecond_step_is_the_instant_form() -> None:
    """Loki sends `Step` in whole ms: a step under 1 ms becomes 0, one sample over the window."""
    assert v.steps(0, 10 * MS, MS // 2).stamps_ms == [10]


# --- ToPrometheusResponse --------------------------------------------------------------------------------------


def _prom(per_step: v.Volumes, stamps: list[int]) -> dict[str, object]:
    data = orjson.loads(v.encode(per_step, stamps))
    assert data["status"] == "success" and "stats" in data["data"]
    return data["data"]


FOO_BAZ, FOO_BAR = (("foo", "baz"),), (("fizz", "buzz"), ("foo", "bar"))


def test_series_volumes_with_several_steps_make_a_matrix() -> None:
    got = _prom({0: [(FOO_BAZ, 100), (FOO_BAR, 50)], 1: [(FOO_BAZ, 50), (FOO_BAR, 25)]}, [1000, 61000])
    assert got["resultType"] == "matrix"
    assert got["result"] == [
        {"metric": {"foo": "baz"}, "values": [[1, "100"], [61, "50"]]},
        {"metric": {"fizz": "buzz", "foo": "bar"}, "values": [[1, "50"], [61, "25"]]},
    ]


def test_series_volumes_with_one_step_make_a_vector() -> None:
    got = _prom({0: [(FOO_BAZ, 100), (FOO_BAR, 50)]}, [1500])
    assert got["resultType"] == "vector"
    assert got["result"] == [
        {"metric": {"foo": "baz"}, "value": [1.5, "100"]},
        {"metric": {"fizz": "buzz", "foo": "bar"}, "value": [1.5, "50"]},
    ]


def test_label_volumes_name_the_label_with_an_empty_value() -> None:
    matrix = _prom({0: [("foo", 100), ("fizz", 50)], 1: [("foo", 50), ("fizz", 25)]}, [1000, 2000])
    assert matrix["result"] == [
        {"metric": {"foo": ""}, "values": [[1, "100"], [2, "50"]]},
        {"metric": {"fizz": ""}, "values": [[1, "50"], [2, "25"]]},
    ]
    vector = _prom({0: [("foo", 100), ("fizz", 50)]}, [1000])
    assert vector["result"] == [
        {"metric": {"foo": ""}, "value": [1, "100"]},
        {"metric": {"fizz": ""}, "value": [1, "50"]},
    ]


def test_no_volume_is_an_empty_vector() -> None:
    assert _prom({}, [1000]) == {"resultType": "vector", "result": [], "stats": _prom({}, [1])["stats"]}


def test_results_are_ordered_by_their_first_sample_then_name() -> None:
    """Only the first sample counts: a series that grows later still comes after one that started larger."""
    a, b = (("a", "1"),), (("b", "1"),)
    got = _prom({0: [(a, 10), (b, 10)], 1: [(b, 99)]}, [1, 2])
    assert [r["metric"] for r in got["result"]] == [{"a": "1"}, {"b": "1"}]  # type: ignore[index]


# --- aggregation edges -----------------------------------------------------------------------------------------


def test_ties_are_broken_by_the_series_string_and_the_limit_cuts_after_sorting() -> None:
    rows = [StreamBytes({"app": a}, 0, 10) for a in ("b", "a", "c")]
    assert v.aggregate(rows, plan('{app=~".+"}'), v.SERIES, 2) == {0: [((("app", "a"),), 10), ((("app", "b"),), 10)]}


def test_too_many_names_in_one_step_is_refused_with_lokis_words() -> None:
    rows = [StreamBytes({"app": str(i)}, 0, 1) for i in range(v.MAX_SERIES + 1)]
    with pytest.raises(LimitError, match=r"^the query hit the max number of series limit \(limit: 1000 series\)$"):
        v.aggregate(rows, plan('{app=~".+"}'), v.SERIES, 100)


def test_plan_names_volumes_by_matchers_or_targets() -> None:
    p1 = plan('{a="1", b=~"x|y"}')
    assert (p1.names, p1.include_all, len(p1.selector.matchers)) == ({"a", "b"}, False, 2)
    p2 = plan('{a="1"}', ("a", "c", "c"))
    assert p2.names == {"a", "c"} and [str(m.value) for m in p2.selector.matchers] == ["1", ".+"]
    assert plan("{}").include_all and plan("{}").selector.matchers == ()


@pytest.mark.parametrize("targets", [("app", ""), ("a.b",), ('a"b',), ("1x",)])
def test_a_target_that_is_no_label_name_matches_nothing(targets: tuple[str, ...]) -> None:
    assert v.plan('{app="a"}', targets) is None


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ('{a="b"} |= "x"', LogQLError, "only label matchers are supported"),
        ('rate({a="b"}[1m])', LogQLError, "only label matchers are supported"),
        ("{ }", ParseError, "empty-compatible"),
        ("", ParseError, "syntax error"),
    ],
)
def test_plan_takes_a_selector_only(query: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        v.plan(query, ())


# --- parameters (ParseVolumeInstantQuery, ParseVolumeRangeQuery) -----------------------------------------------

NOW = 1_700_000_000 * NS


def form(**values: str) -> p.Form:
    return {k: [x] for k, x in values.items()}


def test_instant_parameters_and_defaults() -> None:
    q = v.volume_instant_query(form(query="{}"), NOW)
    assert (q.start_ns, q.end_ns, q.step_ns, q.limit, q.target_labels, q.aggregate_by) == (
        NOW - 3600 * NS, NOW, 0, 100, (), "series",
    )  # fmt: skip
    q = v.volume_instant_query(form(query="{}", limit="0", targetLabels="a,b", aggregateBy="labels",
                                    start="10", end="20"), NOW)  # fmt: skip
    assert (q.start_ns, q.end_ns, q.limit, q.target_labels, q.aggregate_by) == (
        10 * NS,
        20 * NS,
        100,
        ("a", "b"),
        "labels",
    )


def test_range_parameters_take_a_step() -> None:
    q = v.volume_range_query(form(query="{}", start="0", end="1000", step="60"), NOW)
    assert (q.start_ns, q.end_ns, q.step_ns) == (0, 1000 * NS, 60 * NS)
    assert v.volume_range_query(form(query="{}", start="0", end="1000"), NOW).step_ns == 4 * NS


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"limit": "-1"}, "limit must be a positive value"),
        ({"limit": "x"}, 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"limit": "4294967296"}, "limit value 4294967296 is out of range [0, 4294967295]"),
        ({"aggregateBy": "service"}, "invalid aggregation option"),
        ({"start": "20", "end": "10"}, "end timestamp must not be before or equal to start time"),
        ({"time": "x"}, 'strconv.ParseInt: parsing "x": invalid syntax'),
    ],
)
def test_instant_parameter_errors(values: dict[str, str], message: str) -> None:
    with pytest.raises(p.ParamError) as e:
        v.volume_instant_query(form(query="{}", **values), NOW)
    assert str(e.value) == message


def test_range_parameter_errors() -> None:
    with pytest.raises(p.ParamError, match="zero or negative query resolution step"):
        v.volume_range_query(form(query="{}", step="0"), NOW)
    with pytest.raises(p.ParamError, match=r"^invalid aggregation option$"):
        v.volume_range_query(form(query="{}", aggregateBy="nope"), NOW)
