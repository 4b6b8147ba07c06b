"""The fault switch over HTTP, mounted on the `observ up --demo` app, and the client `observ demo fault` uses.

`GET /demo/faults` lists every service's mode; `PUT /demo/faults/<service>` with `{"mode": "error"|"slow"|"off"}`
switches one. Tenancy as every other route: with bearer tokens configured, a token is needed.
"""

from __future__ import annotations

import httpx
import orjson
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from collectors.demo.faults import Fault, FaultMode, Faults, UnknownService
from observ.api.auth import AuthError, Tenancy

PATH = "/demo/faults"


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8")


def _modes(faults: Faults) -> Response:
    return Response(orjson.dumps(faults.snapshot()), media_type="application/json")


def fault_router(faults: Faults, tenancy: Tenancy) -> APIRouter:
    router = APIRouter(tags=["demo"])

    @router.get(PATH)
    def modes(request: Request) -> Response:
        """Every demo service's fault mode."""
        try:
            tenancy.tenant(request.headers)
        except AuthError as e:
            return _text(e.status, str(e))
        return _modes(faults)

    @router.put(PATH + "/{service}")
    async def switch(service: str, request: Request) -> Response:
        """Make one service fail (every request 503 with a message), slow (+1.5 s a request) or healthy again."""
        try:
            tenancy.tenant(request.headers)
            fault = Fault.model_validate_json(await request.body())
            faults.set(service, fault.mode)
        except AuthError as e:
            return _text(e.status, str(e))
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors())
            return _text(400, f'bad fault: {problems}; expected {{"mode": "off"|"error"|"slow"}}')
        except UnknownService as e:
            return _text(404, str(e))
        return _modes(faults)

    return router


class FaultSwitchError(Exception):
    """The switch could not be set: the server's answer or why it could not be reached, in one line."""


def switch_fault(addr: str, service: str, mode: FaultMode, token: str | None = None) -> dict[str, str]:
    """PUT the mode to a running `observ up --demo`; every service's mode afterwards."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    url = f"{addr.rstrip('/')}{PATH}/{service}"
    try:
        resp = httpx.put(url, json={"mode": mode.value}, headers=headers, timeout=10.0, trust_env=False)
    except httpx.HTTPError as e:
        raise FaultSwitchError(f"cannot reach {addr}: {e} (is `observ up --demo` running there?)") from None
    if resp.status_code == 404 and not resp.text.startswith("no demo service"):
        raise FaultSwitchError(f"{addr} has no fault switch: it is not `observ up --demo`")
    if resp.status_code != 200:
        raise FaultSwitchError(f"{addr} answered {resp.status_code}: {resp.text.strip()}")
    return dict(resp.json())
