"""`GET /loki/api/v1/drilldown-limits` on a real server started from a settings file, as Loki's
pkg/loki/config_handler_test.go drives `tenantLimitsHandler(true)`: the configured limits come back, the
tenant is required where the settings require one, and only GET is routed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from observ.api.config import ApiConfig
from tests.contract.conftest import start_server, stop_server

PATH = "/loki/api/v1/drilldown-limits"
SETTINGS = {
    "auth": {"require_tenant": True},
    "limits": {"max_entries": 2000, "max_series": 1000, "query_timeout_s": 90},
    "push": {"discover_service_name": ["app", "job"], "discover_log_levels": False},
}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    srv, thread, url, store = start_server(
        Path(tmp_path_factory.mktemp("drilldown")), ApiConfig.model_validate(SETTINGS)
    )
    try:
        yield url
    finally:
        stop_server(srv, thread, store)


def test_the_settings_come_back_in_lokis_shape(url: str) -> None:
    r = httpx.get(url + PATH, headers={"X-Scope-OrgID": "team-a"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.text.endswith("}\n")
    body = r.json()
    assert list(body) == ["limits", "pattern_ingester_enabled", "version"]
    limits = body["limits"]
    assert (limits["max_entries_limit_per_query"], limits["max_query_series"], limits["query_timeout"]) == (
        2000, 1000, "1m30s"
    )  # fmt: skip
    assert (limits["discover_service_name"], limits["discover_log_levels"]) == (["app", "job"], False)
    assert (limits["retention_period"], limits["volume_enabled"], body["pattern_ingester_enabled"]) == (
        "0s",
        True,
        True,
    )


def test_every_tenant_reads_the_same_limits(url: str) -> None:
    """observ has no per-tenant overrides: each tenant gets the defaults, as a Loki tenant without overrides does."""
    a = httpx.get(url + PATH, headers={"X-Scope-OrgID": "team-a"})
    b = httpx.get(url + PATH, headers={"X-Scope-OrgID": "team-b"})
    assert a.status_code == b.status_code == 200
    assert a.content == b.content


def test_a_tenant_is_required_when_the_settings_require_one(url: str) -> None:
    r = httpx.get(url + PATH)
    assert (r.status_code, r.text) == (401, "no org id")


def test_only_get_is_routed(url: str) -> None:
    """Loki registers the path with `Methods("GET")`: a POST is refused with 405."""
    assert httpx.post(url + PATH, headers={"X-Scope-OrgID": "team-a"}).status_code == 405
