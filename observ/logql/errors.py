"""Errors a query can end with; the API answers each with a Loki-style status and message."""

from __future__ import annotations


class LogQLError(ValueError):
    """The query is at fault: HTTP 400 with `str(error)` as the message."""


class ParseError(LogQLError):
    """Loki's wording, which Grafana shows verbatim: `parse error at line 1, col 5: <reason>`, and for a
    fault of the whole expression (no position) `parse error : <reason>` (logqlmodel.ParseError.Error)."""

    def __init__(self, reason: str, line: int = 0, col: int = 0) -> None:
        self.reason, self.line, self.col = reason, line, col
        where = f" at line {line}, col {col}" if line or col else " "
        super().__init__(f"parse error{where}: {reason}")


class LimitError(LogQLError):
    """A configured limit refused the query (entries, range, series)."""


def series_limit_error(limit: int) -> LimitError:
    """Loki's NewSeriesLimitError."""
    return LimitError(
        f"maximum number of series ({limit}) reached for a single query; consider reducing query cardinality by "
        "adding more specific stream selectors, reducing the time range, or aggregating results with functions "
        "like sum(), count() or topk()"
    )


class PipelineError(LogQLError):
    """A metric query met a sample carrying `__error__`, which Loki refuses rather than guess."""


class QueryTimeout(Exception):
    """The query ran past `query_timeout`: HTTP 504 as Loki's querier answers."""
