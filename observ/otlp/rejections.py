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
    _quoted: int = 0

    def add(self, where: str, why: str, n: int = 1) -> None:
        if n <= 0:
            return
        self.count += n
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(f"{where}: {why}" + (f" ({n} records)" if n > 1 else ""))
            self._quoted += n

    def message(self, what: str) -> str:
        """English, as OTLP asks, or "" when nothing was rejected (partial_success then stays unset).
        `what` is the plural noun: "spans", "log records"."""
        if not self.count:
            return ""
        more = self.count - self._quoted
        tail = f"; and {more} more" if more else ""
        noun = what.removesuffix("s") if self.count == 1 else what
        return f"{self.count} {noun} rejected: " + "; ".join(self.reasons) + tail
