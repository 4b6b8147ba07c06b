from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as dm
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from observ.api.app import create_app
from observ.cli.datadir import open_stores
from observ.dashboards.build import to_json
from observ.dashboards.provisioning import (
    TRACE_ID_IN_LINE,
    ProvisioningConfig,
    dashboard_providers,
    datasources,
    defined_uids,
    render,
)
from observ.slo.load import load_definitions
from tests.unit.dashboards.conftest import REPO, SERVICES_YAML
from tests.unit.dashboards.helpers import datasource_uids
from tests.unit.dashboards.test_build import metric_names, provided_metrics

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
    assert to_logs["datasourceUid"] == "loki" and to_logs["customQuery"] is True
    every_link = {ds["tempo"]["jsonData"][k]["datasourceUid"] for k in ("tracesToMetrics", "lokiSearch")}
    assert every_link <= set(ds)
    assert "serviceMap" not in ds["tempo"]["jsonData"], "no service-graph metrics exist to draw a map from"


def _grafana(template: str, tags: str, trace_id: str = "") -> str:
    """What Grafana sends for a provisioned query: `$$` unescaped, then its span variables interpolated."""
    text = template.replace("$$", "$").replace("${__tags}", tags).replace("$__tags", tags)
    return text.replace("${__span.traceId}", trace_id)


def test_trace_to_logs_finds_lines_with_the_id_in_text_and_in_metadata(tmp_path: Path) -> None:
    store, spans = open_stores(tmp_path, create=True)
    client = TestClient(create_app(store, CollectorRegistry(), lambda: True, spans=spans))
    tid, other = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
    now = time.time_ns()
    values = [
        [str(now), f'{{"msg":"id in the line","trace_id":"{tid}"}}'],
        [str(now + 1), "id as structured metadata", {"trace_id": tid}],
        [str(now + 2), f"level=info trace_id={other} msg=another trace"],
        [str(now + 3), "another trace as metadata", {"trace_id": other}],
    ]
    for service in ("checkout", "payments"):
        push = {"streams": [{"stream": {"service": service}, "values": values}]}
        assert client.post("/loki/api/v1/push", json=push).status_code == 204
    (to_logs,) = [
        d["jsonData"]["tracesToLogsV2"] for d in datasources(ProvisioningConfig())["datasources"] if d["uid"] == "tempo"
    ]
    tags = ", ".join(f'{t["value"]}="checkout"' for t in to_logs["tags"])
    query = _grafana(to_logs["query"], tags, tid)
    got = client.get("/loki/api/v1/query_range", params={"query": query, "start": now - 10**9, "end": now + 10**9})
    assert got.status_code == 200, got.text
    streams = got.json()["data"]["result"]
    assert {s["stream"]["service"] for s in streams} == {"checkout"}
    assert sorted(v[1] for s in streams for v in s["values"]) == sorted([values[0][1], values[1][1]])
    store.close()
    spans.close()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_trace_to_metrics_queries_read_provided_metrics_and_parse(tmp_path: Path) -> None:
    (to_metrics,) = [
        d["jsonData"]["tracesToMetrics"]
        for d in datasources(ProvisioningConfig())["datasources"]
        if d["uid"] == "tempo"
    ]
    tags = ", ".join(f'{t["value"]}="checkout"' for t in to_metrics["tags"])
    exprs = [_grafana(q["query"], tags) for q in to_metrics["queries"]]
    assert exprs and all('service="checkout"' in e for e in exprs)
    provided = provided_metrics(load_definitions(SERVICES_YAML))
    for e in exprs:
        assert metric_names(e) <= provided, e
    rules = [{"record": f"trace_to_metrics:q{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "t2m", "rules": rules}]}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


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
