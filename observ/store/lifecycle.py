"""Store maintenance off the write path: retention and merging of small segments, on a thread of their own.

Both change the segment catalog in one transaction that also redefines the cold view, so a query started after
the commit no longer names the old files. A query started before it may still read them, since DuckDB binds a
view's file list when a statement starts and opens the files as it scans: the files are therefore unlinked only
`delete_delay_s` later (Loki's `retention_delete_delay`), by which time every such query has ended or hit its
timeout. Files still waiting when the process stops are unregistered, so the next open removes them as orphans.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from observ.store.config import StoreSettings
from observ.store.merge import Merged
from observ.store.retention import Expiry

log = logging.getLogger("observ.store.lifecycle")


class Maintained(Protocol):
    """What a store offers the maintainer (LogStore and SpanStore)."""

    def expire(self, now_ns: int, *, dry_run: bool = False) -> Expiry: ...
    def merge_small(self, *, dry_run: bool = False) -> list[Merged]: ...
    def close(self) -> None: ...


class Graveyard:
    """Unregistered segment files, unlinked once `delay_s` has passed: no reader can still be reading them, nor
    still hold them in a relation it built before the catalog changed (relations name kept files by path)."""

    def __init__(self, delay_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.delay_s = delay_s
        self._clock = clock
        self._due: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def bury(self, paths: Iterable[str]) -> None:
        due = self._clock() + self.delay_s
        with self._lock:
            for p in paths:
                heapq.heappush(self._due, (due, p))

    def sweep(self, *, everything: bool = False) -> list[str]:
        """Unlink the files whose delay has passed (`everything`: all, once no reader is left); returns them."""
        now = self._clock()
        gone = []
        with self._lock:
            while self._due and (everything or self._due[0][0] <= now):
                gone.append(heapq.heappop(self._due)[1])
        for p in gone:
            Path(p).unlink(missing_ok=True)
        return gone

    @property
    def pending(self) -> list[str]:
        with self._lock:
            return sorted(p for _, p in self._due)


class LifecycleMetrics:
    """`observ_store_*` counters of retention and merging, labelled by store (`logs`, `spans`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        labels = ["store", "tenant"]
        self.segments = Counter(
            "observ_store_retention_deleted_segments", "Segments deleted by retention.", labels, registry=r
        )
        self.rows = Counter(
            "observ_store_retention_deleted_rows", "Rows deleted by retention (segments and hot).", labels, registry=r
        )
        self.bytes = Counter(
            "observ_store_retention_deleted_bytes", "Segment bytes deleted by retention.", labels, registry=r
        )
        self.merges = Counter("observ_store_merges", "Segments written by merging smaller ones.", labels, registry=r)
        self.merged = Counter("observ_store_merged_segments", "Segments replaced by a merge.", labels, registry=r)
        self.errors = Counter(
            "observ_store_maintenance_errors", "Failed retention or merge runs.", ["store", "task"], registry=r
        )

    def expired(self, store: str, expiry: Expiry) -> None:
        for d in expiry.deleted:
            self.segments.labels(store, d.tenant).inc(d.segments)
            self.rows.labels(store, d.tenant).inc(d.rows)
            self.bytes.labels(store, d.tenant).inc(d.bytes)

    def merged_into(self, store: str, merged: Merged) -> None:
        self.merges.labels(store, merged.tenant).inc()
        self.merged.labels(store, merged.tenant).inc(len(merged.sources))


@dataclass
class Round:
    """What one maintenance round did, per store."""

    expired: dict[str, Expiry] = field(default_factory=dict)
    merged: dict[str, list[Merged]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    """`store task` of each run that raised (logged and counted; the store is as it was)."""


class Maintainer:
    """Runs retention, then merging, for each store every `interval_s`, on a daemon thread; `run_once` on demand."""

    def __init__(
        self,
        stores: Mapping[str, Maintained],
        graveyard: Graveyard,
        metrics: LifecycleMetrics,
        interval_s: float,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.stores = dict(stores)
        self.graveyard = graveyard
        self.metrics = metrics
        self.interval_s = interval_s
        self._clock_ns = clock_ns
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = threading.Lock()

    def run_once(self) -> Round:
        """One round: each store's retention and merges; files they unregister go to the graveyard, whose due files
        are unlinked. A failing task is logged and counted, and the others still run."""
        done = Round()
        with self._running:
            now = self._clock_ns()
            for name, store in self.stores.items():
                try:
                    expiry = store.expire(now)
                except Exception:
                    log.exception("retention of the %s store failed; it is as it was", name)
                    self.metrics.errors.labels(name, "retention").inc()
                    done.failed.append(f"{name} retention")
                else:
                    self.graveyard.bury(expiry.paths)
                    self.metrics.expired(name, expiry)
                    done.expired[name] = expiry
                try:
                    merged = store.merge_small()
                except Exception:
                    log.exception("merging small segments of the %s store failed; it is as it was", name)
                    self.metrics.errors.labels(name, "merge").inc()
                    done.failed.append(f"{name} merge")
                else:
                    for m in merged:
                        self.graveyard.bury(m.paths)
                        self.metrics.merged_into(name, m)
                    done.merged[name] = merged
            self.graveyard.sweep()
        return done

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="store-maintenance", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.run_once()

    def stop(self) -> None:
        """Wait for a running round; files still in the graveyard are removed as orphans when the store reopens."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def start_maintenance(
    stores: Mapping[str, Maintained], settings: StoreSettings, registry: CollectorRegistry
) -> Maintainer:
    """The services' maintenance thread (`observ serve`, `up`, `ingest`): stop it before closing the stores."""
    maintainer = Maintainer(stores, Graveyard(settings.delete_delay_s), LifecycleMetrics(registry),
                            settings.maintenance_interval_s)  # fmt: skip
    maintainer.start()
    return maintainer
