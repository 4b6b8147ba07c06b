"""Detected labels: the cases of Loki's `TestQuerier_DetectedLabels` (pkg/querier/querier_test.go), ported.

Loki's cases feed label → values maps from a mocked store and ingester; here the same maps are the label sets of
streams. Loki returns labels in a Go map's order: observ sorts them by name, so the cases compare sorted lists.
"""

from __future__ import annotations

import orjson
import pytest

from observ.api.loki import detected_labels as dl
from observ.api.loki import params as p
from observ.logql.errors import LogQLError

NS = 1_000_000_000
UUIDS = [
    "751e8ee6-b377-4b2e-b7b5-5508fbe980ef", "6b7e2663-8ecb-42e1-8bdc-0c5de70185b3",
    "2e1e67ff-be4f-47b8-aee1-5d67ff1ddabf", "c95b2d62-74ed-4ed7-a8a1-eb72fc67946e",
]  # fmt: skip


def streams_of(values: dict[str, list[str]]) -> list[dict[str, str]]:
    """One stream per value, each carrying a single label: the label → values map as streams."""
    return [{label: v} for label, vs in values.items() for v in vs]


def test_store_and_ingester_values_are_combined_and_deduplicated() -> None:
    got = dl.detected_labels(streams_of({
        "cluster": ["ingester"], "ingesterLabel": ["abc", "def", "ghi", "abc"], "storeLabel": ["val1", "val2"],
        "commonLabel": ["abc", "def", "ghi", "abc", "def", "xyz", "lmo", "abc"],
    }))  # fmt: skip
    assert got == [("cluster", 1), ("commonLabel", 5), ("ingesterLabel", 3), ("storeLabel", 2)]


def test_id_types_like_uuids_guids_and_numbers_are_not_relevant() -> None:
    values = {"all-ints": ["1", "2", "3", "4"], "all-floats": ["1.2", "2.3", "3.4", "4.5"], "all-uuids": UUIDS}
    assert dl.detected_labels(streams_of(values)) == []


def test_allows_boolean_values_even_if_numeric() -> None:
    got = dl.detected_labels(streams_of({
        "boolean-ints": ["0", "1"], "boolean-bools": ["true", "false"], "boolean-bools-uppercase": ["TRUE", "FALSE"],
        "single-id": [UUIDS[0]], "non-boolean-ints": ["6", "7"],
    }))  # fmt: skip
    assert [name for name, _ in got] == ["boolean-bools", "boolean-bools-uppercase", "boolean-ints"]


def test_static_labels_are_always_returned_no_matter_their_cardinality_or_value_types() -> None:
    many = [f"a{i}" for i in range(60)]
    got = dl.detected_labels(streams_of({"cluster": ["val1"], "namespace": many, "pod": ["1", "2", "3", "4"]}))
    assert got == [("cluster", 1), ("namespace", 60), ("pod", 4)]


@pytest.mark.parametrize(
    ("values", "rejected"),
    [
        ([], True),
        (["0"], False),
        (["1", "0"], False),
        (["0", "1", "1.0"], True),  # three values: no longer read as booleans
        (["2"], True),
        (["x", "1"], False),
        (["inf", "NaN", "-0x1p-2", "1e9"], True),  # strconv.ParseFloat spellings
        (["1e400"], False),  # out of range: ParseFloat fails, and it is no UUID
        (["urn:uuid:751e8ee6-b377-4b2e-b7b5-5508fbe980ef", "{6b7e2663-8ecb-42e1-8bdc-0c5de70185b3}"], True),
        (["URN:UUID:751e8ee6-b377-4b2e-b7b5-5508fbe980ef", "751e8ee6b3774b2eb7b55508fbe980ef"], True),
        (["751e8ee6-b377-4b2e-b7b5-5508fbe980e"], False),  # one hex digit short
        (["751e8ee6_b377_4b2e_b7b5_5508fbe980ef"], False),
    ],
)
def test_should_reject_label(values: list[str], rejected: bool) -> None:
    assert dl.should_reject(values) is rejected


def test_encoding() -> None:
    assert dl.encode([]) == b"{}\n"
    body = orjson.loads(dl.encode([("app", 2)]))
    assert body == {"detectedLabels": [{"label": "app", "cardinality": 2}]}


def test_parameters() -> None:
    q = dl.detected_labels_query({"query": ['{app="a"}'], "start": ["10"], "end": ["20"]}, 100 * NS)
    assert (len(q.selector.matchers), q.start_ns, q.end_ns) == (1, 10 * NS, 20 * NS)
    assert dl.detected_labels_query({}, 7200 * NS).selector.matchers == ()
    with pytest.raises(p.ParamError, match="end timestamp must not be before or equal to start time"):
        dl.detected_labels_query({"start": ["20"], "end": ["10"]}, 100 * NS)
    with pytest.raises(LogQLError, match="only label matchers are supported"):
        dl.detected_labels_query({"query": ['{app="a"} | json']}, 100 * NS)
