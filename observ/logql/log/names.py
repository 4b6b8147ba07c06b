"""Label names and values as Loki's parsers make them: sanitized keys, valid names, no U+FFFD."""

from __future__ import annotations

import re

__all__ = ["append_sanitized", "clean_value", "sanitize_key", "valid_label_name"]

_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def valid_label_name(name: str) -> bool:
    return _LABEL_NAME.match(name) is not None


def append_sanitized(prefix: str, key: str) -> str:
    """Loki's appendSanitized: trim, `_` for anything outside [A-Za-z0-9_], `_` before a leading digit."""
    key = key.strip()
    if not key:
        return prefix
    if not prefix and "0" <= key[0] <= "9":
        prefix = "_"
    return prefix + _NOT_NAME_CHAR.sub("_", key)


def sanitize_key(key: str) -> str:
    """The label name a parser gives a key (`1a.b` -> `_1a_b`); "" when nothing is left."""
    return append_sanitized("", key)


def clean_value(value: str) -> str:
    """Loki replaces U+FFFD with a space: Prometheus refuses label values holding it."""
    return value.replace("\ufffd", " ") if "\ufffd" in value else value
