"""Request bodies read with a cap: a client can never make the server buffer more than the cap.

Go's `r.ParseForm` stops reading a url-encoded body at 10 MB (`http: POST too large`, which
Loki answers with 400); push has its own, configurable, cap (413).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request

MAX_FORM_BYTES = 10 << 20
"""Go's net/http `maxFormSize`: the largest url-encoded body `ParseForm` reads."""
FORM_TOO_LARGE = "http: POST too large"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class BodyTooLarge(ValueError):
    """The body is larger than the cap; `size` is the declared length, or None when it was counted while reading."""

    def __init__(self, limit: int, size: int | None) -> None:
        self.limit = limit
        self.size = size
        shown = f"{size} bytes" if size is not None else f"more than {limit} bytes"
        super().__init__(f"request body too large: {shown}, limit: {limit} bytes")


class BodyIncomplete(ValueError):
    """The client went away before its body ended: Go's reader says `unexpected EOF` (400, not a server bug)."""

    def __init__(self) -> None:
        super().__init__("unexpected EOF")


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, refused before reading when Content-Length exceeds `limit`, else as soon as the count does."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit, None)
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyIncomplete() from None
    return b"".join(chunks)


def is_form(request: Request) -> bool:
    """A url-encoded POST body: the only kind of body Go's ParseForm reads."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return request.method == "POST" and content_type == FORM_CONTENT_TYPE


async def read_form(request: Request) -> dict[str, list[str]]:
    """Go's r.Form: url-encoded body values first, then the query string's; a body over 10 MB is BodyTooLarge."""
    form: dict[str, list[str]] = {}
    if is_form(request):
        body = (await read_capped(request, MAX_FORM_BYTES)).decode("utf-8", errors="replace")
        for k, v in parse_qsl(body, keep_blank_values=True):
            form.setdefault(k, []).append(v)
    for k, v in request.query_params.multi_items():
        form.setdefault(k, []).append(v)
    return form
