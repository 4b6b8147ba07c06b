"""The fault switch: its HTTP route on the observ up app, and the client `observ demo fault` uses."""

from __future__ import annotations

import socket

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from collectors.demo.control import FaultSwitchError, fault_router, switch_fault
from collectors.demo.faults import FaultMode, Faults
from observ.api.auth import Tenancy
from observ.api.config import AuthConfig
from observ.cli.main import app as cli

SERVICES = ("frontend", "checkout", "payments", "inventory")


def _client(auth: AuthConfig | None = None) -> tuple[TestClient, Faults]:
    faults = Faults(SERVICES)
    app = FastAPI()
    app.include_router(fault_router(faults, Tenancy(auth or AuthConfig())))
    return TestClient(app), faults


def test_put_switches_one_service_and_answers_every_mode() -> None:
    client, faults = _client()
    resp = client.put("/demo/faults/payments", json={"mode": "error"})
    assert resp.status_code == 200
    assert resp.json() == {"frontend": "off", "checkout": "off", "payments": "error", "inventory": "off"}
    assert faults.mode("payments") is FaultMode.error
    assert client.get("/demo/faults").json()["payments"] == "error"
    client.put("/demo/faults/payments", json={"mode": "off"})
    assert faults.mode("payments") is FaultMode.off


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"mode": "broken"}', "bad fault: mode: Input should be 'off', 'error' or 'slow'"),
        (b'{"mode": "error", "extra": 1}', "bad fault: extra: Extra inputs are not permitted"),
        (b"{not json", "bad fault: body: Invalid JSON"),
        (b"", "bad fault: body: Invalid JSON"),
        (b'{"mode": 7}', "bad fault: mode: Input should be 'off', 'error' or 'slow'"),
        (b'["error"]', "bad fault: body: Input should be an object"),
    ],
)
def test_bad_bodies_are_400_saying_what_was_wrong_and_where(body: bytes, message: str) -> None:
    client, faults = _client()
    resp = client.put("/demo/faults/payments", content=body)
    assert resp.status_code == 400
    assert resp.text.startswith(message) and resp.text.rstrip().endswith('expected {"mode": "off"|"error"|"slow"}')
    assert faults.mode("payments") is FaultMode.off


def test_an_unknown_service_is_404_naming_the_ones_that_exist() -> None:
    client, _ = _client()
    resp = client.put("/demo/faults/" + "x" * 300, json={"mode": "slow"})
    assert resp.status_code == 404
    assert resp.text.strip().endswith("the demo runs checkout, frontend, inventory, payments")


def test_with_tokens_configured_the_switch_needs_one() -> None:
    client, faults = _client(AuthConfig(tokens={"s3cret": ["default"]}))
    assert client.put("/demo/faults/payments", json={"mode": "error"}).status_code == 401
    assert client.get("/demo/faults").status_code == 401
    assert faults.mode("payments") is FaultMode.off
    ok = client.put("/demo/faults/payments", json={"mode": "error"}, headers={"authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and faults.mode("payments") is FaultMode.error


def test_the_client_says_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FaultSwitchError, match=rf"cannot reach http://127.0.0.1:{port}: .*observ up --demo"):
        switch_fault(f"http://127.0.0.1:{port}", "payments", FaultMode.error)


def test_the_cli_refuses_an_unknown_mode_before_sending_anything() -> None:
    result = CliRunner().invoke(cli, ["demo", "fault", "payments", "--mode", "explode", "--addr", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "Invalid value for '--mode'" in result.output and "'explode' is not one of 'off'," in result.output


def test_the_cli_prints_a_failure_in_one_line() -> None:
    result = CliRunner().invoke(cli, ["demo", "fault", "payments", "--mode", "error", "--addr", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output.startswith("observ demo fault: cannot reach http://127.0.0.1:9")
