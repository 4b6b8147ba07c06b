"""What a TraceQL query can fail with; the API answers each with 400 and `str(error)`, as Tempo does."""

from __future__ import annotations


class TraceQLError(ValueError):
    """The query is at fault."""


class ParseError(TraceQLError):
    """Tempo's wording, which Grafana shows verbatim: `parse error at line 1, col 5: <reason>`."""

    def __init__(self, reason: str, line: int = 0, col: int = 0) -> None:
        self.reason, self.line, self.col = reason, line, col
        super().__init__(f"parse error at line {line}, col {col}: {reason}" if line else f"parse error : {reason}")


class Unsupported(TraceQLError):
    """Valid TraceQL that observ's subset does not run: says what and where."""

    def __init__(self, what: str, line: int = 0, col: int = 0) -> None:
        self.what, self.line, self.col = what, line, col
        where = f" at line {line}, col {col}" if line else ""
        super().__init__(f"unsupported TraceQL{where}: {what}")


class InvalidQuery(TraceQLError):
    """Parses, but means nothing: wrong operand types, a filter that is not a boolean, a bad regex."""

    def __init__(self, reason: str, line: int = 0, col: int = 0) -> None:
        self.reason, self.line, self.col = reason, line, col
        where = f" at line {line}, col {col}" if line else ""
        super().__init__(f"invalid TraceQL query{where}: {reason}")
