"""Upload generated dashboards to a running Grafana through its HTTP API (grafana-client).

For Grafanas that cannot mount `dashboards/` as a file provider. Dashboards go into one folder, created on first
push, and overwrite earlier versions with the same uid so pushing is idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError

MESSAGE = "observ dashboards push"


@dataclass(frozen=True)
class Pushed:
    uid: str
    title: str
    url: str
    version: int


def connect(url: str, token: str | None = None, user: str | None = None, password: str | None = None) -> GrafanaApi:
    """A client for `url`; a token wins over user/password. A path prefix (`/grafana`) is kept."""
    parts = urlsplit(url)
    if parts.path and not parts.path.endswith("/"):
        url = urlunsplit(parts._replace(path=parts.path + "/"))
    credential: str | tuple[str, str] | None = token or ((user, password or "") if user else None)
    return GrafanaApi.from_url(url, credential=credential, timeout=10.0)


def ensure_folder(api: GrafanaApi, uid: str, title: str) -> str:
    """The folder's uid, creating the folder when Grafana does not have it yet."""
    try:
        return str(api.folder.get_folder(uid)["uid"])
    except GrafanaClientError as e:
        if e.status_code != 404:
            raise
    return str(api.folder.create_folder(title, uid=uid)["uid"])


def push(api: GrafanaApi, dashboards: Iterable[dict[str, Any]], folder_uid: str, folder_title: str) -> list[Pushed]:
    folder = ensure_folder(api, folder_uid, folder_title)
    pushed = []
    for dashboard in dashboards:
        body = {"dashboard": {**dashboard, "id": None}, "folderUid": folder, "overwrite": True, "message": MESSAGE}
        reply = api.dashboard.update_dashboard(body)
        pushed.append(Pushed(reply["uid"], dashboard.get("title", ""), reply.get("url", ""), reply.get("version", 0)))
    return pushed


def load_dir(path: Path) -> list[dict[str, Any]]:
    """Every dashboard JSON directly in `path` (provisioning YAML beside them is not a dashboard)."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(path.glob("*.json"))]
