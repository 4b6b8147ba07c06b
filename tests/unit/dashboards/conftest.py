from __future__ import annotations

from pathlib import Path

import pytest

from observ.slo.load import load_definitions
from observ.slo.model import ServiceDefinitions

REPO = Path(__file__).resolve().parents[3]
SERVICES_YAML = REPO / "alerts" / "services.yaml"

EXAMPLE = {
    "services": [
        {
            "name": "checkout",
            "owner": "alice@example.com",
            "slos": [
                {
                    "name": "availability",
                    "objective": 99.9,
                    "sli": {
                        "kind": "events",
                        "error_query": 'sum(rate(http_requests_total{job="checkout", code=~"5.."}[{{window}}]))',
                        "total_query": 'sum(rate(http_requests_total{job="checkout"}[{{window}}]))',
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
                        "threshold": 0.3,
                        "buckets": [0.1, 0.3, 1],
                        "selector": 'job="checkout"',
                    },
                },
            ],
        },
        {
            "name": "frontend",
            "slos": [
                {"name": "probe", "objective": 99.5, "window": "7d",
                 "sli": {"kind": "availability", "metric": "probe_success", "selector": 'job="blackbox"'}},
                {"name": "error-logs", "objective": 99, "group_by": ["namespace"],
                 "sli": {"kind": "logs", "total_selector": 'stream="stdout"'}},
            ],
        },
    ]
}  # fmt: skip


def example() -> ServiceDefinitions:
    return ServiceDefinitions.model_validate(EXAMPLE)


def definitions() -> list[ServiceDefinitions]:
    """The built-in example, and the repository's services file when it exists."""
    defs = [example()]
    if SERVICES_YAML.is_file():
        defs.append(load_definitions(SERVICES_YAML))
    return defs


@pytest.fixture(params=definitions(), ids=lambda d: "+".join(s.name for s in d.services))
def defs(request: pytest.FixtureRequest) -> ServiceDefinitions:
    return request.param
