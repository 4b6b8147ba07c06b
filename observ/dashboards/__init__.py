"""Grafana dashboards and provisioning generated from `alerts/services.yaml`, and pushing them to a Grafana."""

from observ.dashboards.build import OVERVIEW_UID, overview_dashboard, render_all, service_dashboard, service_uid
from observ.dashboards.provisioning import ProvisioningConfig

__all__ = [
    "OVERVIEW_UID",
    "ProvisioningConfig",
    "overview_dashboard",
    "render_all",
    "service_dashboard",
    "service_uid",
]
