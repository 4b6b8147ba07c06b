"""`push` against a tiny fake Grafana on loopback: what grafana-client sends is what Grafana's API expects."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from observ.cli.dashboards import app
from observ.dashboards.build import render_all, write
from observ.dashboards.provisioning import ProvisioningConfig
from observ.dashboards.push import connect, push
from tests.unit.dashboards.conftest import example


class FakeGrafana(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.folders: dict[str, str] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str | None, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: Any = None) -> None:
        self.server.requests.append((self.command, self.path, self.headers.get("Authorization"), body))

    def do_GET(self) -> None:
        self._record()
        uid = self.path.removeprefix("/api/folders/")
        if uid in self.server.folders:
            self._reply(200, {"uid": uid, "title": self.server.folders[uid]})
        else:
            self._reply(404, {"message": "folder not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._record(body)
        if self.path == "/api/folders":
            self.server.folders[body["uid"]] = body["title"]
            self._reply(200, {"uid": body["uid"], "title": body["title"]})
        elif self.path == "/api/dashboards/db":
            uid = body["dashboard"]["uid"]
            version = self.server.dashboards.get(uid, {}).get("version", 0) + 1
            self.server.dashboards[uid] = {**body, "version": version}
            self._reply(200, {"uid": uid, "url": f"/d/{uid}/x", "version": version, "status": "success"})
        else:
            self._reply(404, {"message": "not found"})


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    write(render_all(example(), ProvisioningConfig()), tmp_path)
    return tmp_path


def test_push_creates_folder_and_overwrites_by_uid(grafana: FakeGrafana, generated: Path) -> None:
    dashboards = [json.loads(p.read_text()) for p in sorted(generated.glob("*.json"))]
    api = connect(grafana.url, token="s3cret")
    first = push(api, dashboards, "observ", "observ")
    second = push(api, dashboards, "observ", "observ")
    assert [p.uid for p in first] == ["observ-checkout", "observ-frontend", "observ-slo-overview"]
    assert [p.version for p in second] == [2, 2, 2]
    posts = [r for r in grafana.requests if r[:2] == ("POST", "/api/dashboards/db")]
    assert len(posts) == 6
    for _, _, auth, body in posts:
        assert auth == "Bearer s3cret"
        assert body["overwrite"] is True and body["folderUid"] == "observ"
        assert body["dashboard"]["id"] is None and body["dashboard"]["uid"].startswith("observ-")
    assert grafana.folders == {"observ": "observ"}
    folder_posts = [r for r in grafana.requests if r[:2] == ("POST", "/api/folders")]
    assert len(folder_posts) == 1


def test_cli_push_with_basic_auth(grafana: FakeGrafana, generated: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["push", "--grafana-url", grafana.url, "--user", "admin", "--password", "pw", "--dir", str(generated),
         "--folder", "SLOs", "--folder-uid", "slos"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "observ-slo-overview  v1" in result.output
    posts = [r for r in grafana.requests if r[:2] == ("POST", "/api/dashboards/db")]
    assert {r[2] for r in posts} == {"Basic YWRtaW46cHc="}
    assert {r[3]["folderUid"] for r in posts} == {"slos"}
    assert grafana.folders == {"slos": "SLOs"}


def test_cli_push_without_dashboards_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["push", "--grafana-url", "http://127.0.0.1:9", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no dashboard JSON" in result.output


def test_cli_push_unreachable_grafana(generated: Path) -> None:
    with FakeGrafana() as closed:
        url = closed.url
    result = CliRunner().invoke(app, ["push", "--grafana-url", url, "--dir", str(generated)])
    assert result.exit_code == 1
    assert "cannot reach" in result.output
