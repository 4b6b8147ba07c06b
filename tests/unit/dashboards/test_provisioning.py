from __future__ import annotations

import json

import pytest
import yaml
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as dm

from observ.dashboards.build import to_json
from observ.dashboards.provisioning import (
    TRACE_ID_IN_LINE,
    ProvisioningConfig,
    dashboard_providers,
    datasources,
    defined_uids,
    render,
)
from tests.unit.dashboards.conftest import REPO
from tests.unit.dashboards.helpers import datasource_uids

COMMITTED = REPO / "dashboards"
register_default_plugins()


def _by_uid(cfg: ProvisioningConfig) -> dict[str, dict]:
    doc = yaml.safe_load(render(datasources(cfg)))
    return {ds["uid"]: ds for ds in doc["datasources"]}


def test_signals_link_to_each_other() -> None:
    ds = _by_uid(ProvisioningConfig())
    assert ds["prometheus"]["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": "tempo"}
    ]
    derived = ds["loki"]["jsonData"]["derivedFields"]
    assert {d["datasourceUid"] for d in derived} == {"tempo"}
    assert {d["url"] for d in derived} == {"$${__value.raw}"}
    to_logs = ds["tempo"]["jsonData"]["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == "loki" and to_logs["filterByTraceID"] is True
    every_link = {ds["tempo"]["jsonData"][k]["datasourceUid"] for k in ("serviceMap", "lokiSearch")}
    assert every_link <= set(ds)


def test_trace_id_in_line_regex() -> None:
    import re

    rx = re.compile(TRACE_ID_IN_LINE)
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    for line in (f'{{"msg":"x","trace_id":"{tid}"}}', f"level=info trace_id={tid} msg=ok", f"traceId: {tid}"):
        m = rx.search(line)
        assert m and m.group(1) == tid, line
    assert rx.search("trace_id=none") is None


def test_urls_are_configurable_and_tempo_defaults_to_observ() -> None:
    ds = _by_uid(ProvisioningConfig(prometheus_url="http://p:9", loki_url="http://o:1"))
    assert (ds["prometheus"]["url"], ds["loki"]["url"], ds["tempo"]["url"]) == (
        "http://p:9",
        "http://o:1",
        "http://o:1",
    )
    assert _by_uid(ProvisioningConfig(tempo_url="http://t:2"))["tempo"]["url"] == "http://t:2"


def test_dashboard_provider_points_at_the_folder() -> None:
    cfg = ProvisioningConfig(dashboards_path="/dash", folder="SLOs")
    provider = yaml.safe_load(render(dashboard_providers(cfg)))["providers"][0]
    assert provider["options"]["path"] == "/dash"
    assert (provider["type"], provider["folder"]) == ("file", "SLOs")


def test_unknown_config_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="extra"):
        ProvisioningConfig.model_validate({"lokiurl": "x"})


@pytest.mark.skipif(not (COMMITTED / "provisioning" / "datasources.yaml").is_file(), reason="not generated yet")
def test_committed_dashboards_use_only_committed_datasources() -> None:
    provisioned = defined_uids(yaml.safe_load((COMMITTED / "provisioning" / "datasources.yaml").read_text()))
    files = sorted(COMMITTED.glob("*.json"))
    assert files
    for path in files:
        dashboard = json.loads(path.read_text())
        assert set(datasource_uids(dashboard)) <= provisioned, path.name
        assert to_json(dm.Dashboard.from_json(dashboard)) == dashboard, path.name
