"""Capped body reading: refused from Content-Length before reading, else as soon as the count passes the cap."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.types import Message

from observ.api.loki import body

CHUNK = b"x" * 1000


END: Message = {"type": "http.request", "body": b"", "more_body": False}
GONE: Message = {"type": "http.disconnect"}


def request(
    chunks: Iterator[bytes], headers: dict[str, str], method: str = "POST", end: Message = END
) -> tuple[Request, list[int]]:
    """A request whose body arrives chunk by chunk, then `end`; the list counts the chunks the server pulled."""
    pulled = [0]

    async def receive() -> Message:
        chunk = next(chunks, None)
        if chunk is None:
            return end
        pulled[0] += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    scope = {
        "type": "http", "method": method, "path": "/", "query_string": b"q=2",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    return Request(scope, receive), pulled


def endless() -> Iterator[bytes]:
    while True:
        yield CHUNK


def test_declared_length_over_the_cap_is_refused_unread() -> None:
    req, pulled = request(endless(), {"Content-Length": str(10**12)})
    with pytest.raises(body.BodyTooLarge, match=r"1000000000000 bytes, limit: 5000 bytes"):
        asyncio.run(body.read_capped(req, 5000))
    assert pulled == [0]


def test_undeclared_length_stops_reading_past_the_cap() -> None:
    req, pulled = request(endless(), {"Transfer-Encoding": "chunked"})
    with pytest.raises(body.BodyTooLarge, match="more than 5000 bytes"):
        asyncio.run(body.read_capped(req, 5000))
    assert pulled == [6]


def test_a_client_gone_mid_body_is_a_client_error() -> None:
    req, _ = request(iter([CHUNK]), {}, end=GONE)
    with pytest.raises(body.BodyIncomplete, match="unexpected EOF"):
        asyncio.run(body.read_capped(req, 5000))


def test_body_at_the_cap_is_read() -> None:
    req, _ = request(iter([CHUNK] * 5), {})
    assert asyncio.run(body.read_capped(req, 5000)) == CHUNK * 5


def test_form_body_first_then_query_string() -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    req, _ = request(iter([b"q=1&e="]), headers)
    assert asyncio.run(body.read_form(req)) == {"q": ["1", "2"], "e": [""]}


def test_form_over_gos_10_mb_is_refused() -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    req, pulled = request(endless(), headers)
    with pytest.raises(body.BodyTooLarge):
        asyncio.run(body.read_form(req))
    assert pulled[0] == body.MAX_FORM_BYTES // len(CHUNK) + 1


def test_other_bodies_are_not_read_as_forms() -> None:
    for method, ctype in (("POST", "application/json"), ("GET", "application/x-www-form-urlencoded")):
        req, pulled = request(endless(), {"Content-Type": ctype}, method)
        assert asyncio.run(body.read_form(req)) == {"q": ["2"]} and pulled == [0]
