"""An OTLP/HTTP request body as sent -> the bytes to decode: Content-Encoding undone within the size limit."""

from __future__ import annotations

from observ.api.loki.content_encoding import BodyTooLarge as EncodedTooLarge
from observ.api.loki.content_encoding import PushError, read_body
from observ.otlp.errors import BodyTooLarge, OtlpError

ENCODINGS = ("", "identity", "gzip", "deflate")


def decoded_body(data: bytes, content_encoding: str, max_bytes: int) -> bytes:
    """gzip and deflate are undone (decompression stops past `max_bytes`: BodyTooLarge, so a small
    compressed bomb costs nothing); another encoding is an OtlpError."""
    if content_encoding.strip().lower() not in ENCODINGS:
        raise OtlpError(
            f'Content-Encoding "{content_encoding}" not supported: OTLP/HTTP takes gzip (or deflate) or none'
        )
    try:
        return read_body(data, content_encoding, max_bytes)
    except EncodedTooLarge as e:
        raise BodyTooLarge(str(e)) from None
    except PushError as e:
        raise OtlpError(str(e)) from None
