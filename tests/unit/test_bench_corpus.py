"""bench/corpus.py's structured replay: the JSON and logfmt services' lines carry fields that observ's own parsers
read (so `| json`, `| logfmt` and `unwrap` benchmarks mean something), while rows, timestamps and trace IDs match
the plain replay and plain services' lines are unchanged."""

from __future__ import annotations

import orjson
import pytest

from observ.logql.log.logfmt import parse_logfmt
from observ.model import DecodedBatch
from tests.unit.bench_modules import load_bench

corpus = load_bench("corpus")

ONE_ROUND = 32_000


@pytest.fixture(scope="module")
def replays() -> tuple[list[DecodedBatch], list[DecodedBatch]]:
    plain = [b for r in corpus.Replay().rounds(ONE_ROUND + 4000) for b in r]
    structured = [b for r in corpus.Replay(structured=True).rounds(ONE_ROUND + 4000) for b in r]
    return plain, structured


def test_rows_times_and_traces_are_those_of_the_plain_replay(
    replays: tuple[list[DecodedBatch], list[DecodedBatch]],
) -> None:
    plain, structured = replays
    assert [(b.stream, b.ts, b.trace_id, b.span_id) for b in plain] == [
        (b.stream, b.ts, b.trace_id, b.span_id) for b in structured
    ]
    for p, s in zip(plain, structured, strict=True):
        if p.stream.service not in (*corpus.JSON_SERVICES, *corpus.LOGFMT_SERVICES):
            assert p.line == s.line and p.level == s.level


def test_json_services_log_objects_with_status_duration_and_their_message(
    replays: tuple[list[DecodedBatch], list[DecodedBatch]],
) -> None:
    plain, structured = replays
    statuses: list[int] = []
    for p, s in zip(plain, structured, strict=True):
        if p.stream.service not in corpus.JSON_SERVICES:
            continue
        for line, original, level, trace in zip(s.line, p.line, s.level, s.trace_id, strict=True):
            doc = orjson.loads(line)
            assert original.startswith(doc["msg"]), "the message is the replayed line (its trace suffix aside)"
            assert doc["level"] == level and doc.get("trace_id", "") == trace
            assert isinstance(doc["duration_ms"], float) and doc["duration_ms"] >= 0
            statuses.append(doc["status"])
    assert {200, 500} <= set(statuses)
    share_5xx = sum(s >= 500 for s in statuses) / len(statuses)
    assert 0.01 < share_5xx < 0.3, share_5xx


def test_openstack_keeps_the_status_and_time_its_access_lines_report(
    replays: tuple[list[DecodedBatch], list[DecodedBatch]],
) -> None:
    _, structured = replays
    lines = [orjson.loads(x) for b in structured if b.stream.service == "openstack" for x in b.line]
    access = [d for d in lines if '" status: ' in d["msg"]]
    assert access
    # a shifted round changes the message's digits, never the fields taken from the original line
    assert all(d["status"] in (200, 202, 204, 400, 404) for d in access)
    assert all(d["duration_ms"] < 10_000 for d in access)


def test_logfmt_services_log_pairs_observ_parses_back(replays: tuple[list[DecodedBatch], list[DecodedBatch]]) -> None:
    plain, structured = replays
    checked = 0
    for p, s in zip(plain, structured, strict=True):
        if p.stream.service not in corpus.LOGFMT_SERVICES:
            continue
        for line, original, trace in zip(s.line[:50], p.line, s.trace_id, strict=False):
            fields = parse_logfmt(line, strict=True)
            assert original.startswith(fields["msg"])
            assert fields["status"].isdigit() and float(fields["duration_ms"]) >= 0
            assert fields.get("trace_id", "") == trace
            checked += 1
    assert checked > 500
