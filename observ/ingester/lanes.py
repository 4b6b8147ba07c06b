"""One Kafka topic as the ingester loop sees it: how its records decode, which store takes them, what is counted.

The loop (ingester.py) is the same for every topic; a lane says the rest. Log batches go to the LogStore and
span batches to the SpanStore, each store keeping its own topic's offsets beside its rows, so each is exactly
once on its own. The lanes' decoders are in records.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from observ.bus import Record

__all__ = ["Counts", "HasInserted", "HasOffsets", "Lane", "Rejected", "Sink"]

Rejected = tuple[str, int, int, str, bytes]
"""A refused record as the stores keep it: topic, partition, offset, reason, payload."""
B = TypeVar("B", bound=Sized)
P = TypeVar("P", bound="HasOffsets")
R = TypeVar("R", bound="HasInserted")
# the protocols' own parameters, with the variance their methods give them
B_contra = TypeVar("B_contra", bound=Sized, contravariant=True)
R_co = TypeVar("R_co", bound="HasInserted", covariant=True)
R_contra = TypeVar("R_contra", bound="HasInserted", contravariant=True)


class HasOffsets(Protocol):
    @property
    def offsets(self) -> dict[tuple[str, int], int]: ...


class HasInserted(Protocol):
    @property
    def inserted(self) -> int: ...


class Sink(Protocol[B_contra, P, R_co]):
    """What the loop needs of a store: LogStore and SpanStore are sinks as they are."""

    write_error: str | None

    def prepare(
        self, batches: Sequence[B_contra], offsets: dict[tuple[str, int], int], rejected: list[Rejected]
    ) -> P: ...

    def write(self, prepared: P) -> R_co: ...

    def kafka_offsets(self, topic: str) -> dict[int, int]: ...

    def maybe_compact(self) -> None: ...


class Counts(Protocol[R_contra]):
    """A lane's own metrics: what one commit stored, and the records refused."""

    def written(self, result: R_contra) -> None: ...

    def rejected_record(self, reason: str) -> None: ...


@dataclass(eq=False)
class Lane(Generic[B, P, R]):
    """A topic, its decoder, its store and its counters, with the records polled but not handed to the writer."""

    topic: str
    decode: Callable[[Record], B]
    sink: Sink[B, P, R]
    counts: Counts[R]
    pending: list[B] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    refused: list[Rejected] = field(default_factory=list)
    inserted: int = 0
    """Rows this lane stored since the process started."""

    def take(self) -> P | None:
        """The pending records prepared for the writer (None when this lane polled nothing since)."""
        if not self.offsets:
            return None
        prepared = self.sink.prepare(self.pending, self.offsets, self.refused)
        self.clear()
        return prepared

    def clear(self) -> None:
        self.pending = []
        self.offsets = {}
        self.refused = []
