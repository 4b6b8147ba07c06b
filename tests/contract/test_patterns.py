"""`/loki/api/v1/patterns` on a real server: lines pushed, templates and counts per step back in Loki's shape.

`max_entries` is 7 here, so every answer is read from the engine in many pages (lines sharing a nanosecond
across streams included) and counts are exact only if the paging neither loses nor repeats a line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from observ.api.config import ApiConfig
from tests.contract.conftest import start_server, stop_server

NS = 10**9
T0 = 1_699_999_980 * NS
"""A multiple of 60 s, years back: push keeps old lines by default."""
TENANT = {"X-Scope-OrgID": "patterns"}
OTHER = {"X-Scope-OrgID": "patterns-other"}
WINDOW = {"start": str(T0), "end": str(T0 + 3600 * NS)}


def values(template: str, n: int, every_s: int, offset_s: int = 0, meta: dict[str, str] | None = None) -> list[list]:
    rows: list[list] = []
    for i in range(n):
        row: list = [str(T0 + (offset_s + i * every_s) * NS), template.format(i=i)]
        if meta is not None:
            row.append(meta)
        rows.append(row)
    return rows


def corpus() -> dict[str, object]:
    web = values("GET /api/users/{i} 200 took {i}ms", 40, every_s=3)  # 0 .. 117 s
    web2 = values("GET /api/users/{i} 200 took {i}ms", 20, every_s=3)  # same instants, another stream
    return {
        "streams": [
            {"stream": {"service": "web", "pod": "web-1"}, "values": web},
            {"stream": {"service": "web", "pod": "web-2"}, "values": web2},
            {"stream": {"service": "web", "pod": "web-1", "level": "error"},
             "values": values("failed to connect to db-{i} after 3 retries", 35, every_s=2, offset_s=1)},
            {"stream": {"service": "web", "pod": "web-3"},
             "values": values("cache warmed in {i} s for shard alpha", 31, every_s=1, offset_s=600,
                              meta={"detected_level": "WARNING"})},
            {"stream": {"service": "web", "pod": "web-4"},
             "values": values("rare line number {i} seen here", 29, every_s=1)},
            {"stream": {"service": "db"},
             "values": values('ts=2023-11-14T22:13:{i:02d}Z msg="query done" rows={i}', 30, every_s=1)},
        ]
    }  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    config = ApiConfig.model_validate({"limits": {"max_entries": 7}})
    srv, thread, url, store = start_server(Path(tmp_path_factory.mktemp("patterns")), config)
    try:
        with httpx.Client(base_url=url, timeout=60) as c:
            r = c.post("/loki/api/v1/push", json=corpus(), headers=TENANT)
            assert r.status_code == 204, r.text
            other = {
                "streams": [{"stream": {"service": "web"}, "values": values("secret {i} of another tenant", 40, 1)}]
            }
            assert c.post("/loki/api/v1/push", json=other, headers=OTHER).status_code == 204
            yield c
    finally:
        stop_server(srv, thread, store)


def patterns(client: httpx.Client, query: str, **params: str) -> list[dict[str, object]]:
    r = client.get("/loki/api/v1/patterns", params={"query": query, **WINDOW, **params}, headers=TENANT)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    doc = orjson.loads(r.content)
    assert list(doc) == ["status", "data"] and doc["status"] == "success"
    for series in doc["data"]:
        assert list(series) == ["pattern", "level", "samples"]
    return doc["data"]


def totals(data: list[dict[str, object]]) -> list[tuple[object, object, int]]:
    return [(s["pattern"], s["level"], sum(n for _, n in s["samples"])) for s in data]  # type: ignore[attr-defined]


def test_templates_levels_and_counts(client: httpx.Client) -> None:
    """Both pods' GET lines merge into one series; levels from the `level` label and from detected_level
    metadata (normalized); the 29-line template is under Loki's 30-line minimum and left out."""
    assert totals(patterns(client, '{service="web"}', step="60s")) == [
        ("GET <_> 200 took <_>", "unknown", 60),
        ("failed to connect to <_> after 3 retries", "error", 35),
        ("cache warmed in <_> s for shard alpha", "warn", 31),
    ]


def test_samples_are_unix_seconds_per_step_with_zeros_between(client: httpx.Client) -> None:
    data = patterns(client, '{service="web", pod="web-1"}', step="30s")
    get = next(s for s in data if str(s["pattern"]).startswith("GET"))
    t = T0 // NS
    assert get["samples"] == [[t, 10], [t + 30, 10], [t + 60, 10], [t + 90, 10]]
    failed = next(s for s in data if s["level"] == "error")
    assert failed["samples"] == [[t, 15], [t + 30, 15], [t + 60, 5]]


def test_a_logfmt_stream_is_mined_by_its_pairs(client: httpx.Client) -> None:
    assert totals(patterns(client, '{service="db"}')) == [('ts=<_> msg="query done" rows=<_>', "unknown", 30)]


def test_a_pipeline_narrows_the_lines_mined(client: httpx.Client) -> None:
    assert totals(patterns(client, '{service="web"} |= "retries"')) == [
        ("failed to connect to <_> after 3 retries", "error", 35)
    ]


def test_post_form_and_default_step(client: httpx.Client) -> None:
    """The step is 3600 s / 250 = 14 s; counts are kept per 10 s first, so the 10 s bucket at T0 + 10 s falls in
    the step starting at T0 (Loki's ForRange truncates the 10 s sample, not the line's time)."""
    r = client.post("/loki/api/v1/patterns", data={"query": '{service="db"}', **WINDOW}, headers=TENANT)
    assert r.status_code == 200
    [series] = r.json()["data"]
    assert series["samples"] == [[T0 // NS, 20], [T0 // NS + 14, 10]]


def test_another_tenant_and_nothing_selected(client: httpx.Client) -> None:
    assert patterns(client, '{service="nope"}') == []
    r = client.get("/loki/api/v1/patterns", params={"query": '{service="web"}', **WINDOW}, headers=OTHER)
    assert [s["pattern"] for s in r.json()["data"]] == ["secret <_> of another tenant"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"query": 'count_over_time({service="web"}[1m])'}, "only log queries"),
        ({"query": "{service="}, "parse error"),
        ({"query": '{service="web"}', "step": "-5"}, "zero or negative query resolution step"),
        ({"query": '{service="web"}', "step": "50ms"}, "exceeded maximum resolution of 11,000 points"),
        ({"query": '{service="web"}', "start": str(T0 + 10 * NS), "end": str(T0)}, "end timestamp must not be before"),
    ],
)
def test_bad_requests_are_400_plain_text(client: httpx.Client, params: dict[str, str], message: str) -> None:
    r = client.get("/loki/api/v1/patterns", params={**WINDOW, **params}, headers=TENANT)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/plain")
    assert message in r.text
