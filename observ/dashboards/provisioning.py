"""Grafana provisioning files: the three datasources, wired to each other, and the dashboard file provider.

The datasource uids are fixed so generated dashboards can name them without lookups, and so the links between
signals survive a Grafana reinstall: metric exemplars → trace (Prometheus), log line → trace (Loki derived
fields), trace → logs (Tempo tracesToLogsV2). `$$` is Grafana's escape for a literal `$` in provisioning files.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
TEMPO_UID = "tempo"
TRACE_ID_LABEL = "trace_id"
SERVICE_LABEL = "service"
"""The stream label and metric label that carry a span's `service.name`: the sidecar, push and OTLP logs set it on
streams, and the RED metrics of `alerts/services.yaml` are labelled with it."""
TRACE_TO_LOGS_QUERY = (
    '{$${__tags}} | label_format log_line_contains_trace_id=`{{ contains "$${__span.traceId}" __line__ }}` '
    '| log_line_contains_trace_id="true" or trace_id="$${__span.traceId}"'
)
"""Grafana 11's own trace-to-logs query, pinned so every Grafana version sends it: it finds lines whose text
carries the trace ID (JSON/logfmt lines pushed as they are) and lines that carry it as structured metadata (OTLP
logs, lines whose ID the sidecar extracted); Grafana 10 would send only the line filter and miss the latter."""
TRACE_TO_METRICS_QUERIES = {
    "Request rate": "sum by (route) (rate(http_requests_total{$$__tags}[5m]))",
    "Error ratio": (
        'sum(rate(http_requests_total{$$__tags, code=~"5.."}[5m])) / sum(rate(http_requests_total{$$__tags}[5m]))'
    ),
    "p95 latency": "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{$$__tags}[5m])))",
}
"""RED queries of the span's service around the span; `$__tags` becomes `service="<service.name>"`."""
TRACE_ID_IN_LINE = r"""(?:trace_?[iI][dD])["'=:\s]+"?([0-9a-fA-F]{16,32})"""
"""A trace id written into the line itself: JSON `"trace_id":"…"`, logfmt `trace_id=…`, `traceId: …`."""


class ProvisioningConfig(BaseModel):
    """Where Grafana reaches each backend and where it finds the dashboard files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prometheus_url: str = "http://prometheus:9090"
    loki_url: str = "http://observ:3100"
    tempo_url: str = ""
    """observ serves the Tempo API on the same port as the Loki API; empty means `loki_url`."""
    dashboards_path: str = "/var/lib/grafana/dashboards/observ"
    folder: str = "observ"
    folder_uid: str = "observ"


def datasources(cfg: ProvisioningConfig) -> dict[str, Any]:
    tempo_url = cfg.tempo_url or cfg.loki_url
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": PROMETHEUS_UID,
                "access": "proxy",
                "url": cfg.prometheus_url,
                "isDefault": True,
                "jsonData": {
                    "httpMethod": "POST",
                    "exemplarTraceIdDestinations": [{"name": TRACE_ID_LABEL, "datasourceUid": TEMPO_UID}],
                },
            },
            {
                "name": "Loki (observ)",
                "type": "loki",
                "uid": LOKI_UID,
                "access": "proxy",
                "url": cfg.loki_url,
                "jsonData": {
                    "maxLines": 1000,
                    "derivedFields": [
                        {
                            "name": "TraceID",
                            "matcherType": "label",
                            "matcherRegex": TRACE_ID_LABEL,
                            "datasourceUid": TEMPO_UID,
                            "url": "$${__value.raw}",
                            "urlDisplayLabel": "View trace",
                        },
                        {
                            "name": "TraceIDInLine",
                            "matcherType": "regex",
                            "matcherRegex": TRACE_ID_IN_LINE,
                            "datasourceUid": TEMPO_UID,
                            "url": "$${__value.raw}",
                            "urlDisplayLabel": "View trace",
                        },
                    ],
                },
            },
            {
                "name": "Tempo (observ)",
                "type": "tempo",
                "uid": TEMPO_UID,
                "access": "proxy",
                "url": tempo_url,
                "jsonData": {
                    "tracesToLogsV2": {
                        "datasourceUid": LOKI_UID,
                        "spanStartTimeShift": "-5m",
                        "spanEndTimeShift": "5m",
                        "filterByTraceID": True,
                        "filterBySpanID": False,
                        "customQuery": True,
                        "query": TRACE_TO_LOGS_QUERY,
                        "tags": [{"key": "service.name", "value": SERVICE_LABEL}],
                    },
                    "tracesToMetrics": {
                        "datasourceUid": PROMETHEUS_UID,
                        "spanStartTimeShift": "-5m",
                        "spanEndTimeShift": "5m",
                        "tags": [{"key": "service.name", "value": SERVICE_LABEL}],
                        "queries": [{"name": name, "query": q} for name, q in TRACE_TO_METRICS_QUERIES.items()],
                    },
                    "lokiSearch": {"datasourceUid": LOKI_UID},
                    "nodeGraph": {"enabled": True},
                },
            },
        ],
    }


def dashboard_providers(cfg: ProvisioningConfig) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "observ",
                "orgId": 1,
                "folder": cfg.folder,
                "folderUid": cfg.folder_uid,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": cfg.dashboards_path, "foldersFromFilesStructure": False},
            }
        ],
    }


def render(doc: dict[str, Any]) -> str:
    return "# Generated by `observ dashboards generate`; do not edit.\n" + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=False, width=120
    )


def defined_uids(datasources_doc: dict[str, Any]) -> set[str]:
    return {ds["uid"] for ds in datasources_doc.get("datasources", [])}
