"""prometheus-operator `PrometheusRule` custom resource wrapping the same rule groups as the plain rule file."""

from __future__ import annotations

import re

from observ.slo.model import Service
from observ.slo.rules import service_groups


def resource_name(service: Service) -> str:
    """A DNS-1123 name: Kubernetes refuses the underscores our service names may have."""
    return "slo-" + re.sub(r"[^a-z0-9-]", "-", service.name.lower()).strip("-")


def prometheus_rule(service: Service) -> dict[str, object]:
    labels = {"app.kubernetes.io/managed-by": "observ", "app.kubernetes.io/component": "slo"}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": resource_name(service), "labels": labels},
        "spec": {"groups": service_groups(service)},
    }
