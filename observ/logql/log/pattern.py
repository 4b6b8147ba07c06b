"""Loki's pattern expressions, for `| pattern` and the `|>` / `!>` line filters."""

from __future__ import annotations

import re

from observ.logql.errors import LogQLError

_CAPTURE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


class PatternMatcher:
    """Loki's pattern expressions: literals and `<name>` / `<_>` captures.

    As a parser (`| pattern`) a leading literal anchors the match at the line start and a capture that
    misses its following literal takes the rest of the line; as a line filter (`|>`) the whole line must match.
    """

    def __init__(self, pattern: str, line_filter: bool = False) -> None:
        self.expr: list[tuple[bool, str]] = []  # (is_capture, name-or-literal)
        pos = 0
        for m in _CAPTURE.finditer(pattern):
            if m.start() > pos:
                self.expr.append((False, pattern[pos : m.start()]))
            self.expr.append((True, m.group(1)))
            pos = m.end()
        if pos < len(pattern):
            self.expr.append((False, pattern[pos:]))
        for (cap1, a), (cap2, b) in zip(self.expr, self.expr[1:], strict=False):
            if cap1 and cap2:
                raise LogQLError(f"found consecutive capture '<{a}><{b}>': invalid expression")
        self.names = [name for cap, name in self.expr if cap and name != "_"]
        if line_filter:
            if self.names:
                raise LogQLError(f"named captures are not allowed: found '<{self.names[0]}>'")
            return
        if not self.expr:
            raise LogQLError("syntax error: unexpected $end, expecting IDENTIFIER or LITERAL")
        if not self.names:
            raise LogQLError("at least one capture is required")
        if len(set(self.names)) != len(self.names):
            dup = next(n for n in self.names if self.names.count(n) > 1)
            raise LogQLError(f"duplicate capture name ({dup}): invalid expression")

    def matches(self, line: str) -> list[str]:
        """Values of the named captures, in order; fewer than the names when the line stops matching."""
        expr = self.expr
        if not line or not expr:
            return []
        pos, i, caps = 0, 0, []
        if not expr[0][0]:
            lit = expr[0][1]
            if not line.startswith(lit):
                return []
            pos, i = len(lit), 1
        if i == len(expr):
            return []
        while i < len(expr):
            named = expr[i][1] != "_"
            if i == len(expr) - 1:
                if named:
                    caps.append(line[pos:])
                return caps
            lit = expr[i + 1][1]
            i += 2
            j = line.find(lit, pos)
            if j < 0:
                if named:
                    caps.append(line[pos:])
                return caps
            if named:
                caps.append(line[pos:j])
            pos = j + len(lit)
        return caps

    def test(self, line: str) -> bool:
        """The `|>` test: literals in order, every capture non-empty, nothing left after a final literal."""
        expr = self.expr
        if not line or not expr:
            return not line and not expr
        off = 0
        for i, (cap, lit) in enumerate(expr):
            if cap:
                continue
            j = line.find(lit, off)
            if j < 0 or (i != 0 and j == off):
                return False
            off = j + len(lit)
        return expr[-1][0] == (off != len(line))
