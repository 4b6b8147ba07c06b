"""What `observ ship` is doing, on stderr: a live table on a terminal, a line every few seconds otherwise.

Everything shown is read from the adapter's self metrics, so the display and /metrics never disagree.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.live import Live
from rich.table import Table


def _total(registry: CollectorRegistry, name: str) -> float:
    """A sample summed over its labels (0 before it was ever set)."""
    return sum(s.value for m in registry.collect() for s in m.samples if s.name == name)


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    files_open: float
    files_waiting: float
    lines_read: float
    entries_shipped: float
    bytes_shipped: float
    lag_bytes: float
    inflight_bytes: float
    checkpoint_age_s: float
    dropped: float
    errors: float
    """Source errors and delivery failures (retried)."""

    @classmethod
    def read(cls, registry: CollectorRegistry, at: float) -> Snapshot:
        def v(name: str) -> float:
            return _total(registry, name)

        return cls(
            at=at,
            files_open=v("observ_adapter_files_open"),
            files_waiting=v("observ_adapter_files_waiting"),
            lines_read=v("observ_adapter_lines_read_total"),
            entries_shipped=v("observ_adapter_entries_shipped_total"),
            bytes_shipped=v("observ_adapter_shipped_bytes_total"),
            lag_bytes=v("observ_adapter_lag_bytes"),
            inflight_bytes=v("observ_adapter_inflight_bytes"),
            checkpoint_age_s=v("observ_adapter_checkpoint_age_seconds"),
            dropped=v("observ_adapter_dropped_entries_total"),
            errors=v("observ_adapter_source_errors_total") + v("observ_adapter_sink_errors_total"),
        )

    def rate(self, before: Snapshot | None) -> float:
        """Entries shipped per second since `before`."""
        if before is None or self.at <= before.at:
            return 0.0
        return (self.entries_shipped - before.entries_shipped) / (self.at - before.at)

    def fields(self, before: Snapshot | None) -> list[tuple[str, str]]:
        files = f"{self.files_open:,.0f} open"
        if self.files_waiting:
            files += f", {self.files_waiting:,.0f} waiting for a handle"
        shipped = f"{self.entries_shipped:,.0f} ({self.rate(before):,.0f}/s, {size(self.bytes_shipped)})"
        return [
            ("files", files),
            ("lines read", f"{self.lines_read:,.0f}"),
            ("entries shipped", shipped),
            ("lag", f"{size(self.lag_bytes)} unread"),
            ("in flight", size(self.inflight_bytes)),
            ("checkpoint", f"saved {self.checkpoint_age_s:.0f}s ago"),
            ("problems", f"{self.dropped:,.0f} dropped, {self.errors:,.0f} errors"),
        ]

    def line(self, before: Snapshot | None) -> str:
        """The plain form: one log line."""
        return "observ ship: " + "; ".join(f"{k} {v}" for k, v in self.fields(before))

    def table(self, before: Snapshot | None, title: str) -> Table:
        table = Table(title=title, title_justify="left", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for k, v in self.fields(before):
            table.add_row(k, v)
        return table


class Progress:
    """A daemon thread showing the adapter's progress until stop()."""

    def __init__(
        self,
        registry: CollectorRegistry,
        title: str,
        console: Console,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.title = title
        self.console = console
        self.interval_s = interval_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        if self.console.is_terminal:
            self._live()
        else:
            self._lines()

    def _live(self) -> None:
        before = Snapshot.read(self.registry, self.clock())
        with Live(console=self.console, refresh_per_second=2, transient=False) as live:
            while not self._stop.wait(1.0):
                now = Snapshot.read(self.registry, self.clock())
                live.update(now.table(before, self.title))
                before = now

    def _lines(self) -> None:
        before: Snapshot | None = None
        while not self._stop.wait(self.interval_s):
            now = Snapshot.read(self.registry, self.clock())
            self.console.print(now.line(before), highlight=False, markup=False, soft_wrap=True)
            before = now
