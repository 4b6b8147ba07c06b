"""Go's strconv: Quote, ParseFloat and FormatFloat(f, 'g', -1, 64), with Go's error texts."""

from __future__ import annotations

import math
import re
from decimal import Decimal

__all__ = ["format_float", "go_quote", "parse_float"]

_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9][0-9_]*)?\Z")
_HEX_FLOAT = re.compile(r"([+-]?)0[xX]((?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+)\Z")
_SPECIAL_FLOAT = re.compile(r"[+-]?(?:inf|infinity)\Z|nan\Z", re.IGNORECASE)


def go_quote(s: str) -> str:
    """strconv.Quote: double quotes, Go escapes, printable Unicode kept."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def parse_float(s: str) -> float:
    """strconv.ParseFloat(s, 64): no surrounding spaces, `_` only between digits, hex floats need a `p` exponent."""
    if s and s.isascii() and "0" <= s[-1] <= "9" and s[0] in _PLAIN_START and "x" not in s and "X" not in s:
        # Python's float() agrees with Go on such spellings (underscores included); only overflow differs
        try:
            value = float(s)
        except ValueError:
            pass
        else:
            if not math.isinf(value):
                return value
    return _parse_float_go(s)


_PLAIN_START = frozenset("0123456789+-.")


def _parse_float_go(s: str) -> float:
    invalid = ValueError(f"strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax")
    if _DEC_FLOAT.match(s):
        try:
            value = float(s)  # Python's underscore rule (PEP 515) is Go's underscoreOK
        except ValueError:
            raise invalid from None
    elif _SPECIAL_FLOAT.match(s):
        return float(s)
    elif (h := _HEX_FLOAT.match(s)) and "__" not in s and not s.endswith("_"):
        value = float.fromhex(h.group(1) + "0x" + h.group(2).replace("_", ""))
    else:
        raise invalid
    if math.isinf(value):
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(s)}: value out of range")
    return value


def format_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64), which is how Go's %v prints a float64: `1e+06`, `123456`, `0.0001`."""
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if math.isnan(f):
        return "NaN"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    d = Decimal(repr(abs(f)))
    digits = "".join(map(str, d.as_tuple().digits)).rstrip("0") or "0"
    exp = d.adjusted()
    sign = "-" if f < 0 else ""
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if len(digits) <= exp + 1:
        return sign + digits + "0" * (exp + 1 - len(digits))
    return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"
