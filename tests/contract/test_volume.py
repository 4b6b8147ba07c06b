"""`/loki/api/v1/index/volume` and `/index/volume_range` over HTTP, against the shared corpus (conftest.py).

Expected bytes are computed here from the corpus itself: the UTF-8 size of each pushed line.
"""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.contract.conftest import BETA_MARK, NS, Server, alpha_corpus, window


def corpus_bytes(server: Server, *labels: str) -> Counter[tuple[str, ...]]:
    """Bytes of alpha's lines by the values of `labels` (streams lacking one are left out)."""
    out: Counter[tuple[str, ...]] = Counter()
    for s in alpha_corpus(server.t0)["streams"]:  # type: ignore[attr-defined]
        if all(k in s["stream"] for k in labels):
            out[tuple(s["stream"][k] for k in labels)] += sum(len(v[1].encode()) for v in s["values"])
    return out


def volume(client: httpx.Client, path: str = "/loki/api/v1/index/volume", **params: str) -> dict[str, object]:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["status"] == "success" and BETA_MARK not in r.text
    return body["data"]


def test_instant_volume_by_the_selectors_labels(server: Server, alpha: httpx.Client) -> None:
    data = volume(alpha, query='{namespace="prod"}', **window(server))
    prod = sum(n for (ns,), n in corpus_bytes(server, "namespace").items() if ns == "prod")
    end_s = (server.t0 + 60 * NS) // NS
    assert data["resultType"] == "vector"
    assert data["result"] == [{"metric": {"namespace": "prod"}, "value": [end_s, str(prod)]}]


def test_target_labels_name_the_volumes_largest_first(server: Server, alpha: httpx.Client) -> None:
    data = volume(alpha, query='{namespace=~".+"}', targetLabels="service", **window(server))
    want = sorted(corpus_bytes(server, "service").items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(r["metric"], r["value"][1]) for r in data["result"]] == [  # type: ignore[index, union-attr]
        ({"service": s}, str(n)) for (s,), n in want
    ]
    limited = volume(alpha, query='{namespace=~".+"}', targetLabels="service", limit="1", **window(server))
    assert limited["result"] == data["result"][:1]  # type: ignore[index]


def test_aggregate_by_labels(server: Server, alpha: httpx.Client) -> None:
    """Every target label must be present (Loki adds `=~".+"` for each): only `team`'s stream counts for both."""
    by_labels = {"query": '{namespace=~".+"}', "aggregateBy": "labels", **window(server)}
    data = volume(alpha, targetLabels="team,namespace", **by_labels)
    team = str(sum(corpus_bytes(server, "team").values()))
    assert [(r["metric"], r["value"][1]) for r in data["result"]] == [  # type: ignore[index, union-attr]
        ({"namespace": ""}, team), ({"team": ""}, team),
    ]  # fmt: skip
    every = {next(iter(r["metric"])): r["value"][1] for r in volume(alpha, **by_labels)["result"]}  # type: ignore[union-attr]
    assert every["namespace"] == every["service"] == str(sum(corpus_bytes(server).values()))  # no targets: every label
    assert every["team"] == team


def test_volume_range_is_a_matrix_of_steps_summing_to_the_whole(server: Server, alpha: httpx.Client) -> None:
    whole = volume(alpha, query='{service="api"}', **window(server))
    data = volume(alpha, "/loki/api/v1/index/volume_range", query='{service="api"}', step="10", **window(server))
    assert data["resultType"] == "matrix"
    [series] = data["result"]  # type: ignore[misc]
    assert series["metric"] == {"service": "api"}
    stamps = [t for t, _ in series["values"]]
    end_s = (server.t0 + 60 * NS) // NS
    assert stamps == sorted(stamps) and stamps[-1] <= end_s
    assert all(round(t * 1000) % 10_000 == 9_999 for t in stamps[:-1]), stamps  # each step's last ms
    assert sum(int(v) for _, v in series["values"]) == int(whole["result"][0]["value"][1])  # type: ignore[index]


def test_volume_range_with_one_step_per_name_is_a_vector(server: Server, alpha: httpx.Client) -> None:
    hour = 3600 * NS
    start, end = server.t0, server.t0 + 60 * NS
    if start < end - end % hour < end:  # steps are whole hours since the epoch: keep the window in one of them
        start = end - end % hour
    span = {"start": str(start), "end": str(end)}
    data = volume(alpha, "/loki/api/v1/index/volume_range", query='{service="api"}', step="1h", **span)
    assert data["resultType"] == "vector" and len(data["result"]) == 1  # type: ignore[arg-type]


def test_post_form_answers_as_get(server: Server, alpha: httpx.Client) -> None:
    params = {"query": '{namespace="batch"}', **window(server)}
    posted = alpha.post("/loki/api/v1/index/volume", data=params)
    assert posted.status_code == 200 and posted.json() == alpha.get("/loki/api/v1/index/volume", params=params).json()


def test_match_any_reads_every_stream_of_the_tenant_only(server: Server, alpha: httpx.Client) -> None:
    data = volume(alpha, query="{}", **window(server))
    assert sum(int(r["value"][1]) for r in data["result"]) == sum(corpus_bytes(server).values())  # type: ignore[union-attr]


def test_logs_drilldown_service_list(server: Server) -> None:
    """Drilldown's service list: `{service_name=~".+"}`, `targetLabels=service_name`, volumes largest first."""
    streams = [
        {"stream": {"service_name": "checkout", "env": "prod"}, "values": [[str(server.t0), "x" * 300]]},
        {"stream": {"service_name": "checkout", "env": "dev"}, "values": [[str(server.t0), "y" * 50]]},
        {"stream": {"service_name": "cart"}, "values": [[str(server.t0 + NS), "z" * 100]]},
    ]
    with server.client(**{"X-Scope-OrgID": f"drilldown-{uuid.uuid4().hex[:8]}"}) as gamma:
        assert gamma.post("/loki/api/v1/push", json={"streams": streams}).status_code == 204
        params = {"query": '{service_name=~".+"}', "targetLabels": "service_name", "limit": "5000"}
        data = volume(gamma, **params, **window(server))
        assert [(r["metric"], r["value"][1]) for r in data["result"]] == [  # type: ignore[index, union-attr]
            ({"service_name": "checkout"}, "350"), ({"service_name": "cart"}, "100"),
        ]  # fmt: skip
        levels = volume(gamma, query='{service_name="checkout"}', targetLabels="env", **window(server))
        assert [r["metric"] for r in levels["result"]] == [{"env": "prod"}, {"env": "dev"}]  # type: ignore[index, union-attr]


def test_a_target_no_stream_can_carry_counts_nothing(server: Server, alpha: httpx.Client) -> None:
    """`targetLabels=service,` names an empty label too, which every stream lacks: Loki then matches no stream."""
    data = volume(alpha, query='{namespace="prod"}', targetLabels="service,", **window(server))
    assert (data["resultType"], data["result"]) == ("vector", [])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"query": '{service="api"} |= "x"'}, "only label matchers are supported"),
        ({"query": '{service="api"}', "aggregateBy": "streams"}, "invalid aggregation option"),
        ({"query": '{service="api"}', "limit": "-5"}, "limit must be a positive value"),
        ({"query": '{service=~".*"}'}, "queries require at least one regexp or equality matcher"),
        ({"query": "{}", "start": "20", "end": "10"}, "end timestamp must not be before or equal to start time"),
    ],
)
def test_bad_requests_are_400_in_lokis_words(alpha: httpx.Client, params: dict[str, str], message: str) -> None:
    for path in ("/loki/api/v1/index/volume", "/loki/api/v1/index/volume_range"):
        r = alpha.get(path, params=params)
        assert r.status_code == 400 and message in r.text, (path, r.text)
        assert r.headers["content-type"].startswith("text/plain")


def test_requests_are_timed_under_their_route(server: Server, alpha: httpx.Client) -> None:
    volume(alpha, "/loki/api/v1/index/volume_range", query="{}", **window(server))
    text = alpha.get("/metrics").text
    routes = {
        s.labels["route"]
        for f in text_string_to_metric_families(text)
        if f.name == "observ_api_request_duration_seconds"
        for s in f.samples
    }
    assert "loki_api_v1_index_volume_range" in routes
