"""Walk generated dashboard JSON: every query with its datasource, every datasource uid."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(datasource type, query text) of every target and templating variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            ds = target.get("datasource") or panel["datasource"]
            yield ds["type"], target.get("expr") or target.get("query", "")
    for var in dashboard["templating"].get("list", []):
        if var.get("type") == "query":
            yield var["datasource"]["type"], var["query"]


def datasource_refs(node: Any) -> Iterator[tuple[str, str]]:
    """(type, uid) of every datasource reference anywhere in a dashboard."""
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict) and "uid" in ds:
            yield ds.get("type", ""), ds["uid"]
        for value in node.values():
            yield from datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasource_refs(item)


def datasource_uids(node: Any) -> Iterator[str]:
    return (uid for _, uid in datasource_refs(node))
