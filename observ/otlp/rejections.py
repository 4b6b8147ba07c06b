"""What one OTLP request rejected: the count and the message for its `partial_success`."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_REASONS = 5
"""Reasons quoted in the error message; the rest are only counted."""


@dataclass(slots=True)
class Rejections:
    count: int = 0
    reasons: list[str] = field(default_factory=list)
    """`<where>: <why>` of the first MAX_REASONS rejections, in request order."""
    placeholders: set[str] = field(default_factory=set)
    """Where the OTLP/JSON reader left an empty stand-in for an object it rejected, so that the objects
    after it keep their place in the body; the mappers skip these (already counted)."""
    _quoted: int = 0

    def add(self, where: str, why: str, n: int = 1) -> None:
        if n <= 0:
            return
        self.count += n
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(f"{where}: {why}" + (f" ({n} records)" if n > 1 else ""))
            self._quoted += n

    def stand_in(self, where: str, why: str, n: int = 1) -> None:
        """Reject the object at `where`, whose empty stand-in stays in the parsed request."""
        self.add(where, why, n)
        self.placeholders.add(where)

    def live(self, where: str, key: str, n: int) -> int:
        """How many of the `n` records `<where>.<key>[k]` are not stand-ins (those were counted when read)."""
        return sum(1 for k in range(n) if f"{where}.{key}[{k}]" not in self.placeholders)

    def message(self, what: str) -> str:
        """English, as OTLP asks, or "" when nothing was rejected (partial_success then stays unset).
        `what` is the plural noun: "spans", "log records"."""
        if not self.count:
            return ""
        more = self.count - self._quoted
        tail = f"; and {more} more" if more else ""
        noun = what.removesuffix("s") if self.count == 1 else what
        return f"{self.count} {noun} rejected: " + "; ".join(self.reasons) + tail
