"""`/drilldown-limits`' body: observ's settings in Loki's `DrilldownConfigResponse` shape and spelling."""

from __future__ import annotations

import orjson

from observ.api.config import ApiConfig
from observ.api.loki.drilldown_limits import drilldown_limits, encode

OTLP_DEFAULT = {
    "resource_attributes": {
        "attributes_config": [
            {
                "action": "index_label",
                "attributes": [
                    "service.name", "service.namespace", "service.instance.id", "deployment.environment",
                    "deployment.environment.name", "cloud.region", "cloud.availability_zone", "k8s.cluster.name",
                    "k8s.namespace.name", "k8s.pod.name", "k8s.container.name", "container.name",
                    "k8s.replicaset.name", "k8s.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name",
                    "k8s.cronjob.name", "k8s.job.name",
                ],
                "regex": "",
            }
        ]
    }
}  # fmt: skip
"""Loki's default `otlp_config` as JSON (otlplabels/config.go DefaultOTLPResourceAttributesAsIndexLabels;
relabel.Regexp writes "" when unset)."""

LOKI_DEFAULT_LIMITS = {
    "discover_log_levels": True,
    "discover_service_name": ["service", "app", "application", "app_name", "name", "app_kubernetes_io_name",
                              "container", "container_name", "k8s_container_name", "component", "workload", "job",
                              "k8s_job_name"],
    "log_level_fields": ["level", "LEVEL", "Level", "log.level", "severity", "SEVERITY", "Severity", "SeverityText",
                         "lvl", "LVL", "Lvl", "severity_text", "Severity_Text", "SEVERITY_TEXT"],
    "max_entries_limit_per_query": 5000,
    "max_line_size_truncate": False,
    "max_query_bytes_read": "0B",
    "max_query_length": "30d1h",
    "max_query_lookback": "0s",
    "max_query_range": "0s",
    "max_query_series": 500,
    "metric_aggregation_enabled": False,
    "otlp_config": OTLP_DEFAULT,
    "pattern_persistence_enabled": False,
    "query_timeout": "1m",
    "retention_period": "0s",
    "volume_enabled": True,
    "volume_max_series": 1000,
}  # fmt: skip
"""A default Loki's answer: the fields of `tenant_limits_allow_publish`'s default (pkg/loki/loki.go) with the
defaults of pkg/validation/limits.go, as Go's JSON writes them (`retention_stream` omitted when empty)."""


def test_defaults_are_lokis_but_the_range_limit() -> None:
    body = orjson.loads(encode(drilldown_limits(ApiConfig(), "0.1.0")))
    assert list(body) == ["limits", "pattern_ingester_enabled", "version"]
    assert body["pattern_ingester_enabled"] is True and body["version"] == "0.1.0"
    # observ caps a range aggregation's [range] at 721h where Loki's default is unlimited
    assert body["limits"] == {**LOKI_DEFAULT_LIMITS, "max_query_range": "30d1h"}
    assert list(body["limits"]) == sorted(LOKI_DEFAULT_LIMITS), "keys in Go's map order"


def test_settings_are_what_drilldown_reads() -> None:
    """As Loki's TestDrilldownConfigTenantLimitsSource: configured limits come back, spelled as Loki spells them."""
    config = ApiConfig.model_validate({
        "limits": {"max_entries": 2000, "max_series": 1000, "max_query_length_ns": 48 * 3600 * 10**9,
                   "max_query_range_ns": 90 * 60 * 10**9, "query_timeout_s": 90},
        "push": {"discover_log_levels": False, "discover_service_name": ["app"], "log_level_fields": ["lvl"]},
    })  # fmt: skip
    limits = drilldown_limits(config, "0.1.0").limits
    assert (limits.max_entries_limit_per_query, limits.max_query_series) == (2000, 1000)
    assert (limits.max_query_length, limits.max_query_range, limits.query_timeout) == ("2d", "1h30m", "1m30s")
    assert (limits.discover_log_levels, limits.discover_service_name, limits.log_level_fields) == (
        False,
        ["app"],
        ["lvl"],
    )


def test_body_is_one_json_line() -> None:
    """Go's json.Encoder: compact, one trailing newline."""
    body = encode(drilldown_limits(ApiConfig(), "x"))
    assert body.endswith(b"}\n") and body.count(b"\n") == 1 and b": " not in body
