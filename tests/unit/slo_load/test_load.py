"""load_definitions: every refusal names the file, the 1-based line and column, and the field path."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from observ.slo.load import DefinitionError, load_definitions, parse_definitions
from observ.slo.model import LatencySLI

GOOD = """\
version: 1
services:
  - name: checkout
    team: payments
    slos:
      - name: requests
        objective: 99.9
        sli:
          kind: events
          error_query: sum(rate(http_requests_total{code=~"5.."}[{{window}}]))
          total_query: sum(rate(http_requests_total[{{window}}]))
      - name: latency
        objective: 99
        sli:
          kind: latency
          metric: http_request_duration_seconds
          threshold: 0.25
          buckets: [0.1, 0.25, 0.5]
"""


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "services.yaml"
    path.write_text(dedent(text))
    with pytest.raises(DefinitionError) as info:
        load_definitions(path)
    return [str(i) for i in info.value.issues]


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(GOOD)
    defs = load_definitions(path)
    assert [s.name for s in defs.services[0].slos] == ["requests", "latency"]
    assert isinstance(defs.services[0].slos[1].sli, LatencySLI)


def test_objective_100(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("objective: 99\n", "objective: 100\n"))
    assert errors == [
        f"{tmp_path}/services.yaml:13:9: services[0].slos[1].objective: "
        "objective must be strictly between 0 and 100 percent, got 100"
    ]


def test_objective_0(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("objective: 99.9", "objective: 0"))
    assert errors == [
        f"{tmp_path}/services.yaml:7:9: services[0].slos[0].objective: "
        "objective must be strictly between 0 and 100 percent, got 0"
    ]


def test_unknown_sli_kind_points_at_kind(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("kind: events", "kind: ratio"))
    assert errors == [
        f"{tmp_path}/services.yaml:9:11: services[0].slos[0].sli.kind: "
        "unknown SLI kind 'ratio'; expected one of: events, latency, availability, logs"
    ]


def test_missing_sli_kind(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("          kind: events\n", ""))
    assert errors == [
        f"{tmp_path}/services.yaml:8:9: services[0].slos[0].sli: "
        "the SLI needs a kind: one of events, latency, availability, logs"
    ]


def test_latency_threshold_not_a_bucket_points_at_threshold(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("threshold: 0.25", "threshold: 0.3"))
    assert errors == [
        f"{tmp_path}/services.yaml:17:11: services[0].slos[1].sli.threshold: "
        "threshold 0.3s is not a bucket of http_request_duration_seconds (buckets: 0.1, 0.25, 0.5)"
    ]


def test_query_without_window_placeholder(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("http_requests_total[{{window}}]", "http_requests_total[5m]"))
    assert errors == [
        f"{tmp_path}/services.yaml:11:11: services[0].slos[0].sli.total_query: "
        "query must contain the {{window}} placeholder: 'sum(rate(http_requests_total[5m]))'"
    ]


def test_duplicate_slo_name_points_at_the_duplicate(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("name: latency", "name: requests"))
    assert errors == [
        f"{tmp_path}/services.yaml:12:9: services[0].slos[1].name: "
        "duplicate SLO name 'requests' in service 'checkout' (first at line 6)"
    ]


def test_duplicate_slo_name_reported_beside_other_errors(tmp_path: Path) -> None:
    text = GOOD.replace("name: latency", "name: requests").replace("objective: 99.9", "objective: 100")
    errors = _errors(tmp_path, text)
    assert [e.split(": ", 2)[1] for e in errors] == ["services[0].slos[0].objective", "services[0].slos[1].name"]


def test_duplicate_service_name(tmp_path: Path) -> None:
    service = GOOD.split("services:\n", 1)[1]
    errors = _errors(tmp_path, GOOD + service)
    assert errors == [
        f"{tmp_path}/services.yaml:19:5: services[1].name: duplicate service name 'checkout' (first at line 3)"
    ]


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("objective: 99\n", "objective: 99\n        windw: 28d\n"))
    assert errors == [
        f"{tmp_path}/services.yaml:14:9: services[0].slos[1].windw: unknown key 'windw'; did you mean 'window'?"
    ]


def test_unknown_key_inside_sli_lists_allowed(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("          buckets:", "          zzz: 1\n          buckets:"))
    assert errors == [
        f"{tmp_path}/services.yaml:18:11: services[0].slos[1].sli.zzz: "
        "unknown key 'zzz'; allowed: kind, metric, threshold, buckets, selector"
    ]


def test_bad_literal_names_the_value(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("objective: 99\n", "objective: 99\n        window: 14d\n"))
    assert errors == [
        f"{tmp_path}/services.yaml:14:9: services[0].slos[1].window: Input should be '7d', '28d' or '30d', got '14d'"
    ]


def test_malformed_yaml_gives_its_own_position(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("objective: 99\n", "objective: [99\n"))
    assert errors == [
        f"{tmp_path}/services.yaml:14:12: invalid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence at line 13, column 20)"
    ]


def test_tab_indentation_is_malformed(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "version: 1\nservices:\n\t- name: x\n")
    assert errors[0].startswith(f"{tmp_path}/services.yaml:3:1: invalid YAML: ")
    assert "tab" in errors[0]


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("objective: 99\n", "objective: 99\n        objective: 98\n"))
    assert errors == [f"{tmp_path}/services.yaml:14:9: services[0].slos[1].objective: duplicate key 'objective'"]


def test_empty_file(tmp_path: Path) -> None:
    assert _errors(tmp_path, "# nothing\n") == [f"{tmp_path}/services.yaml:1:1: the file is empty"]


def test_missing_required_key_points_at_parent(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("          metric: http_request_duration_seconds\n", ""))
    assert errors[0].startswith(f"{tmp_path}/services.yaml:14:9: services[0].slos[1].sli.metric: ")
    assert "missing required key 'metric'" in errors[0]


def test_all_errors_sorted_by_line(tmp_path: Path) -> None:
    text = GOOD.replace("objective: 99\n", "objective: 0\n").replace("kind: events", "kind: nope")
    errors = _errors(tmp_path, text)
    assert [int(e.split(":")[1]) for e in errors] == [9, 13]


def test_merge_keys_are_not_duplicates() -> None:
    text = GOOD + "x-common: &c {objective: 99}\n"
    with pytest.raises(DefinitionError, match=r"<string>:19:1: x-common: unknown key 'x-common'"):
        parse_definitions(text)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"nope.yaml:1:1: cannot read"):
        load_definitions(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "f.yaml:1:1: expected a mapping, got a list"),
        ("version: 1\nservices:\n", "f.yaml:2:1: services: expected a list, got nothing"),
        (GOOD.replace("objective: 99\n", "objective: 99\n        labels: {team: 7}\n"),
         'f.yaml:14:18: services[0].slos[1].labels.team: Input should be a valid string, got 7: quote it, e.g. "7"'),
        (GOOD.replace("team: payments", "labels: {1: x}"), "f.yaml:4:14: services[0].labels.1: key 1 must be a string"),
        ("a: 1\n---\nb: 2\n",
         "f.yaml:2:1: invalid YAML: but found another document (expected a single document in the stream at line 1, "
         "column 1)"),
    ],
)  # fmt: skip
def test_shape_errors(text: str, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_definitions(text, "f.yaml")
    assert str(info.value) == message
