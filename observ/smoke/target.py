"""The target over HTTP: every way a request can go wrong becomes a `SmokeFailed` whose message is one line."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from observ.smoke.models import ErrorBody

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
FIRST_DELAY_S = 0.1
MAX_DELAY_S = 2.0
BODY_CHARS = 200


class SmokeFailed(Exception):
    """A check failed; the message is the one line the command prints: which check, and why."""


@dataclass(frozen=True, slots=True)
class Clock:
    """Passed in so tests can wait a minute in no time."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True, slots=True)
class Pending:
    """Not there yet: `what` did not come back, `why` is what the target last said."""

    what: str
    why: str


def seconds(s: float) -> str:
    return f"{s:g}s"


def _reason(e: httpx.HTTPError) -> str:
    """`[Errno 111] Connection refused` -> `connection refused`."""
    text = re.sub(r"^\[Errno -?\d+\] ", "", str(e)) or type(e).__name__
    return text[0].lower() + text[1:]


def body_text(r: httpx.Response) -> str:
    """An error body as one short line: its JSON `detail` or `message` if it has one, else the text."""
    try:
        text = ErrorBody.model_validate_json(r.content).text or r.text
    except ValidationError:
        text = r.text
    text = " ".join(text.split())
    return text if len(text) <= BODY_CHARS else text[: BODY_CHARS - 1] + "…"


def answered(what: str, r: httpx.Response) -> str:
    """`GET /readyz answered 503: starting`."""
    body = body_text(r)
    return f"{what} answered {r.status_code}" + (f": {body}" if body else "")


def decode(r: httpx.Response, model: type[M], what: str) -> M:
    try:
        return model.model_validate_json(r.content)
    except ValidationError as e:
        first = e.errors()[0]
        if first["type"] == "json_invalid":
            raise SmokeFailed(f"{what} answered malformed JSON: {body_text(r) or 'an empty body'}") from None
        where = ".".join(str(p) for p in first["loc"]) or "the body"
        raise SmokeFailed(f"{what} answered an unexpected body: {where}: {first['msg']}") from None


def poll(attempt: Callable[[], T | Pending], timeout_s: float, clock: Clock) -> T:
    """Call `attempt` until it returns something other than Pending, backing off from 0.1 s to 2 s between calls;
    at `timeout_s` fail with what the last attempt said."""
    deadline = clock.now() + timeout_s
    delay = FIRST_DELAY_S
    while True:
        got = attempt()
        if not isinstance(got, Pending):
            return got
        left = deadline - clock.now()
        if left <= 0:
            raise SmokeFailed(f"{got.what} within {seconds(timeout_s)} ({got.why})")
        clock.sleep(min(delay, left))
        delay = min(delay * 2, MAX_DELAY_S)


class Target:
    """An observ API: tenant and bearer token on every request, as the Loki API expects them."""

    def __init__(
        self,
        url: str,
        tenant: str | None,
        token: str | None,
        request_timeout_s: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {}
        if tenant:
            headers["X-Scope-OrgID"] = tenant
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url.rstrip("/")
        self.request_timeout_s = request_timeout_s
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=request_timeout_s, transport=transport)

    def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        """`path` is relative to the target, or a whole URL (an OTLP receiver elsewhere)."""
        try:
            return self.http.request(method, path, json=json, params=params)
        except httpx.TimeoutException:
            raise SmokeFailed(f"{method} {path} did not answer within {seconds(self.request_timeout_s)}") from None
        except httpx.ConnectError as e:
            origin = self.url if path.startswith("/") else _origin(path)
            raise SmokeFailed(f"cannot reach {origin}: {_reason(e)}") from None
        except httpx.HTTPError as e:
            raise SmokeFailed(f"{method} {path} failed: {_reason(e)}") from None

    def close(self) -> None:
        self.http.close()


def _origin(url: str) -> str:
    u = httpx.URL(url)
    return f"{u.scheme}://{u.netloc.decode()}"
