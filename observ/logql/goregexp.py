"""Go's regexp package as LogQL runs it, on RE2: compiling with Go's error wording (as LogQLError), `$1`/`${name}`
expansion, FindAll and ReplaceAll with the query's limits. The other Go behaviour LogQL leans on (strconv, durations,
go-humanize) is in `observ.gocompat`."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import re2

from observ.logql.errors import LimitError, LogQLError

# --- RE2 ------------------------------------------------------------------------------------------

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_GO_CODES = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large",
}
"""RE2's (C++) error codes in Go's regexp/syntax wording; the others are spelled alike."""


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> Any:
    """Compile a Go regexp with RE2 (linear time, as Go's engine): Go's syntax and Go's error messages.

    Go is RE2's syntax minus `\\C` (any byte), which Go refuses.
    """
    _refuse_any_byte(pattern)
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as e:
        raise LogQLError(_go_error(e, pattern)) from None


def _go_error(e: Exception, pattern: str) -> str:
    raw = e.args[0] if e.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    code, _, fragment = text.partition(": ")
    if fragment.startswith("(?<") and code == "invalid perl operator":
        # Go 1.22+ reads `(?<` as a named group (`(?<!x)` included) and shows it up to its `>`
        rest = pattern[pattern.find(fragment) :]
        end = rest.find(">")
        code, fragment = "invalid named capture group", rest if end < 0 else rest[: end + 1]
    return f"error parsing regexp: {_GO_CODES.get(code, code)}: `{fragment}`"


def _refuse_any_byte(pattern: str) -> None:
    i = pattern.find("\\")
    while 0 <= i < len(pattern) - 1:
        c = pattern[i + 1]
        if c == "C":
            raise LogQLError("error parsing regexp: invalid escape sequence: `\\C`")
        if c == "Q":
            end = pattern.find("\\E", i + 2)
            if end < 0:
                return
            i = end
        i = pattern.find("\\", i + 2)


_EXPAND_NAME = re.compile(r"[A-Za-z0-9_]+")


def go_expand(template: str, m: Any) -> str:
    """Go's Regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`; unknown references expand to nothing."""
    if "$" not in template:
        return template
    out: list[str] = []
    i = 0
    while True:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            return "".join(out)
        out.append(template[i:j])
        if template.startswith("$$", j):
            out.append("$")
            i = j + 2
            continue
        if template.startswith("${", j):
            end = template.find("}", j + 2)
            name = template[j + 2 : end] if end > 0 else ""
            nxt = end + 1
            if not name or _EXPAND_NAME.fullmatch(name) is None:
                out.append("$")
                i = j + 1
                continue
        else:
            nm = _EXPAND_NAME.match(template, j + 1)
            if nm is None:
                out.append("$")
                i = j + 1
                continue
            name, nxt = nm.group(0), nm.end()
        out.append(_group(m, name))
        i = nxt


def _group(m: Any, name: str) -> str:
    if name.isdigit():
        idx = int(name)
        return (m.group(idx) or "") if idx <= (m.re.groups) else ""
    return (m.group(name) or "") if name in m.re.groupindex else ""


def go_find_all(rx: Any, s: str, check: Callable[[], None] = lambda: None) -> list[Any]:
    """Go's FindAll: an empty match right after the previous match is skipped (Python keeps it).

    `check` (the query's deadline) runs every 1024 matches: a long line can hold a great many.
    """
    out: list[Any] = []
    prev_end = -1
    for n, m in enumerate(rx.finditer(s)):
        if not n & 1023:
            check()
        if m.start() == m.end() == prev_end:
            continue
        out.append(m)
        prev_end = m.end()
    return out


def go_replace_all(
    rx: Any, s: str, repl: str, literal: bool, max_size: int | None = None, check: Callable[[], None] = lambda: None
) -> str:
    """ReplaceAllString / ReplaceAllLiteralString; LimitError as soon as the result would pass `max_size`."""
    out: list[str] = []
    last = size = 0
    for m in go_find_all(rx, s, check):
        piece = repl if literal else go_expand(repl, m)
        size += m.start() - last + len(piece)
        if max_size is not None and size > max_size:
            raise LimitError(
                f"template output of more than {max_size} bytes exceeds the max line size ({max_size} bytes)"
            )
        out.append(s[last : m.start()])
        out.append(piece)
        last = m.end()
    out.append(s[last:])
    return "".join(out)
