"""`| unpack`: Promtail's `pack` format, read with the JSON parser's scanner."""

from __future__ import annotations

from observ.logql.log.json import STRING, JsonError, JsonScan, quick_decode, unescape, value_text
from observ.logql.log.names import clean_value

_NOT_OBJECT = "expecting json object(6), but it is not"


def unpack(line: str) -> tuple[str | None, list[tuple[str, str]], str | None]:
    """Promtail's `pack` format: (`_entry` or None, the other string fields, error text).

    Only string fields count; the fields are labels only when `_entry` is present.
    """
    if line[:1] != "{":
        return None, [], _NOT_OBJECT
    doc = quick_decode(line)
    entry: str | None = None
    fields: list[tuple[str, str]] = []
    if type(doc) is dict:
        for key, value in doc.items():
            if type(value) is str:
                if key == "_entry":
                    entry = value
                else:
                    fields.append((key, clean_value(value)))
        return entry, fields, None
    scan = JsonScan(line)
    try:
        for key, kind, vs, ve in scan.members(0, len(line)):
            if kind != STRING:
                continue
            if key == "_entry":
                entry = unescape(line[vs:ve])
            else:
                fields.append((key, value_text(line[vs:ve])))
    except JsonError as e:
        return None, [], str(e)
    return entry, fields, None
