"""An example definitions set covering every SLI kind, grouping, 28d and 7d periods and routing options."""

from __future__ import annotations

from observ.slo.model import ServiceDefinitions

EXAMPLE = {
    "version": 1,
    "services": [
        {
            "name": "checkout",
            "owner": "alice",
            "team": "payments",
            "labels": {"tier": "1"},
            "slos": [
                {
                    "name": "requests-availability",
                    "objective": 99.9,
                    "sli": {
                        "kind": "events",
                        "error_query": 'sum(rate(http_requests_total{job="checkout", code=~"5.."}[{{window}}]))',
                        "total_query": 'sum(rate(http_requests_total{job="checkout"}[{{window}}]))',
                    },
                    "alerting": {
                        "runbook_url": "https://runbooks.example/checkout",
                        "dashboard_url": "https://grafana.example/d/checkout",
                        "labels": {"team": "payments"},
                    },
                },
                {
                    "name": "latency",
                    "objective": 99,
                    "window": "28d",
                    "group_by": ["route"],
                    "sli": {
                        "kind": "latency",
                        "metric": "http_request_duration_seconds",
                        "threshold": 0.25,
                        "buckets": [0.1, 0.25, 0.5, 1],
                        "selector": 'job="checkout"',
                    },
                },
                {
                    "name": "complex",
                    "objective": 99.5,
                    "sli": {
                        "kind": "events",
                        "error_query": "sum(rate(a_total[{{window}}])) - sum(rate(b_total[{{window}}]))",
                        "total_query": "sum(rate(a_total[{{window}}]))",
                    },
                },
            ],
        },
        {
            "name": "ingest_api",
            "slos": [
                {
                    "name": "log-errors",
                    "objective": 99.5,
                    "window": "7d",
                    "sli": {"kind": "logs"},
                    "alerting": {"name": "IngestLogErrors", "page_labels": {"severity": "critical", "route": "pager"}},
                },
                {
                    "name": "up",
                    "objective": 99.95,
                    "sli": {"kind": "availability", "metric": "up", "selector": 'job="ingest"'},
                    "alerting": {
                        "absent_for": "15m",
                        "annotations": {"summary": "{{ $labels.slo_name }} burns {{ $value | humanizePercentage }}"},
                    },
                },
                {
                    "name": "slow-latency",
                    "objective": 95,
                    "sli": {
                        "kind": "latency",
                        "metric": "rpc_seconds",
                        "threshold": 1,
                        "buckets": [0.5, 1, 2.5],
                    },
                },
                {
                    "name": "rpc-errors",
                    "objective": 99.9,
                    "group_by": ["method"],
                    "labels": {"env": "prod"},
                    "sli": {
                        "kind": "events",
                        "error_query": 'sum(rate(rpc_errors_total{job="ingest",}[{{window}}]))',
                        "total_query": 'sum(rate(rpc_requests_total{job="ingest"}[{{window}}]))',
                    },
                },
            ],
        },
    ],
}


def example() -> ServiceDefinitions:
    return ServiceDefinitions.model_validate(EXAMPLE)
