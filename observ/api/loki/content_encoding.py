"""Content-Encoding undone within a size cap: the push API's and OTLP's request bodies (gzip, deflate).

Kept apart from the push decoder so that the sidecar's OTLP ambassador can read bodies without importing the
query language or the store.
"""

from __future__ import annotations

import zlib


class PushError(ValueError):
    """The body could not be read: HTTP 400, nothing stored."""


class BodyTooLarge(PushError):
    """Decompressed body above `max_body_bytes`: HTTP 413."""


def _bounded(decompress: zlib._Decompress, data: bytes, limit: int, what: str) -> bytes:
    try:
        out = decompress.decompress(data, limit + 1)
    except zlib.error as e:
        raise PushError(f"{what}: {e}") from None
    if len(out) > limit:
        raise BodyTooLarge(f"request body too large: more than {limit} bytes after decompression")
    return out


def read_body(body: bytes, content_encoding: str, max_bytes: int) -> bytes:
    """Undo Content-Encoding (gzip, deflate; snappy is the protobuf framing, decoded later)."""
    enc = content_encoding.strip().lower()
    if enc in ("", "snappy", "identity"):
        data = body
    elif enc == "gzip":
        data = _bounded(zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), body, max_bytes, "gzip")
    elif enc == "deflate":
        data = _bounded(zlib.decompressobj(wbits=-zlib.MAX_WBITS), body, max_bytes, "deflate")
    else:
        raise PushError(f'Content-Encoding "{content_encoding}" not supported')
    if len(data) > max_bytes:
        raise BodyTooLarge(f"request body too large: {len(data)} bytes, limit {max_bytes}")
    return data
