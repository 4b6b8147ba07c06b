"""What the logs and spans stores share: one DuckDB file with a folder of Parquet segments beside it, one
writer, compaction once the hot table is full, Kafka offsets and rejected records in the rows' transaction."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import duckdb

from observ.store.compact import discard
from observ.store.config import StoreConfig

log = logging.getLogger("observ.store")


class _Placed(Protocol):
    @property
    def path(self) -> str: ...


class Compacted(Protocol):
    """What a compaction returns: the segments it wrote, the rows it moved, how long it took."""

    @property
    def segments(self) -> Sequence[_Placed]: ...
    @property
    def rows(self) -> int: ...
    @property
    def seconds(self) -> float: ...


R = TypeVar("R", bound=Compacted)
"""What one compaction returns."""


class _AbsentPandas(importlib.abc.MetaPathFinder):
    """DuckDB's Python client tries `import pandas` for every bound parameter, to recognise pandas values; pandas
    is not a dependency, and each failed try searched sys.path: 0.18 ms a parameter, ~6 ms of a metric query's
    ~15 ms on a small store. First on `sys.meta_path` when pandas is not installed, this finder fails the import at
    once (leaving `sys.modules` alone: pyarrow reads a `pandas` entry there as the module)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


if importlib.util.find_spec("pandas") is None and not any(isinstance(f, _AbsentPandas) for f in sys.meta_path):
    sys.meta_path.insert(0, _AbsentPandas())


class StoreWriteError(RuntimeError):
    """A transaction could not commit (disk full, I/O error); nothing of it was kept.

    The same prepared append must be written again before any later one: the logs store's holds source
    ranges that later prepares already counted on.
    """


class HotColdStore(Generic[R]):
    """Subclasses define the tables, `compact()` and their own appends; `_hot_rows` counts the hot table."""

    def __init__(self, path: str | Path, config: StoreConfig | None, segments_folder: str) -> None:
        self.path = Path(path)
        self.config = config or StoreConfig()
        in_memory = str(path) == ":memory:"
        self.segments_dir: Path | None = None if in_memory else self.path.parent / segments_folder
        if self.segments_dir is not None:
            self.segments_dir.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(path))
        self._lock = threading.Lock()
        self._compacting = threading.Lock()
        """Held by the one compaction (or merge, or expiry) running; appends take only `_lock`, and only while a
        compaction starts and commits."""
        self._compactor: threading.Thread | None = None
        self._hot_rows = 0
        self._retry_at = 0
        self.write_error: str | None = None
        """Why the last transaction failed, until one commits again: health reports it."""

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for another thread: readers never share the writer's connection."""
        return self._con.cursor()

    def kafka_offsets(self, topic: str) -> dict[int, int]:
        cur = self._con.cursor()
        return dict(cur.execute("SELECT part, next_offset FROM kafka_offsets WHERE topic = ?", [topic]).fetchall())

    def compact(self) -> R | None:
        """Move every hot row into segments, on this thread (None when there is nothing to move or no directory);
        `maybe_compact` runs it on a thread of its own. One at a time (`_compacting`), on a cursor of its own, as
        `_compact_snapshot` describes: appends and queries go on meanwhile."""
        if self.segments_dir is None:
            return None
        with self._compacting:
            cur = self._con.cursor()
            try:
                result = self._compact(cur, self.segments_dir)
            finally:
                cur.close()
        if result is not None:
            log.info("compacted %d rows of %s into %d segment(s) in %.1fs", result.rows, self.path.name,
                     len(result.segments), result.seconds)  # fmt: skip
        return result

    def _compact(self, cur: duckdb.DuckDBPyConnection, directory: Path) -> R | None:
        """The store's compaction on `cur`, through `_compact_snapshot`."""
        raise NotImplementedError

    def maybe_compact(self) -> None:
        """Start a compaction on a thread of its own once the hot table holds `compact_rows` rows; never waits.
        Call after a write. Appends and queries go on while it writes the segments (`compact` says how).

        A failed compaction keeps every row hot and is logged, not raised: ingestion goes on, and the next
        attempt waits for another quarter of `compact_rows`, so a persistent fault does not stall every write.
        """
        if not self._due():
            return
        if self._compactor is None or not self._compactor.is_alive():
            self._compactor = threading.Thread(target=self._compact_due, name=f"compact {self.path.name}", daemon=True)
            self._compactor.start()

    def _due(self) -> bool:
        return self.segments_dir is not None and self._hot_rows >= max(self.config.compact_rows, self._retry_at)

    def _compact_due(self) -> None:
        if not self._due():
            return
        try:
            self.compact()
        except (duckdb.Error, OSError, RuntimeError):
            log.exception("compaction failed (%s); the rows stay in the hot table", self.path.name)
            self._retry_at = self._hot_rows + max(1, self.config.compact_rows // 4)

    def _compact_snapshot(
        self,
        cur: duckdb.DuckDBPyConnection,
        hot: str,
        write: Callable[[], R],
        swap: Callable[[R], None],
    ) -> R | None:
        """A compaction on `cur` (the caller holds `_compacting`): under the writers' lock a transaction opens and its
        snapshot fixes the rows of `hot` that move;
        `write` writes, registers and deletes them inside that transaction while appends and queries go on; the
        commit then happens under the lock again with `swap`, which updates the in-memory catalog, so no append's
        dedup and no query's relation sees a row in both places or in neither. On failure nothing is kept and the
        new files are removed."""
        with self._lock:
            if not self._hot_rows:
                return None
            cur.execute("BEGIN TRANSACTION")
            cur.execute(f"SELECT count(*) FROM {hot}").fetchall()  # the snapshot: the rows hot now, no later ones
        result: R | None = None
        try:
            result = write()
            with self._lock:
                cur.execute("COMMIT")
                swap(result)
                self._settle(cur, result)
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has rolled back already
                cur.execute("ROLLBACK")
            if result is not None:
                discard(s.path for s in result.segments)
            raise
        return result

    def _settle(self, cur: duckdb.DuckDBPyConnection, result: R) -> None:
        """After a compaction's commit, under the writers' lock (no append's transaction is open): its rows are no
        longer hot, retries start over, and a checkpoint moves the catalog's WAL into the file and frees deleted
        rows' blocks for reuse."""
        self._hot_rows -= result.rows
        self._retry_at = 0
        try:
            cur.execute("CHECKPOINT")
        except duckdb.Error as e:
            log.warning("checkpoint after compaction of %s failed (DuckDB retries): %s", self.path.name, e)

    def join_compaction(self) -> None:
        """Wait for the background compaction, if one runs."""
        if self._compactor is not None:
            self._compactor.join()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN ... COMMIT on the writer's connection (the caller holds `_lock`). A DuckDB error rolls back and
        becomes StoreWriteError, kept in `write_error` until a transaction commits again."""
        con = self._con
        try:
            con.execute("BEGIN TRANSACTION")
            yield con
            con.execute("COMMIT")
        except duckdb.Error as e:
            self._rollback()
            self.write_error = f"{type(e).__name__}: {e}"
            raise StoreWriteError(self.write_error) from e
        except BaseException:
            self._rollback()
            raise
        self.write_error = None

    def _write_positions(
        self, offsets: dict[tuple[str, int], int], rejected: list[tuple[str, int, int, str, bytes]], now: int
    ) -> None:
        """Inside the append's transaction: where each Kafka partition resumes, and the records it refused."""
        if offsets:
            self._con.executemany(
                "INSERT OR REPLACE INTO kafka_offsets VALUES (?, ?, ?)", [(t, p, o) for (t, p), o in offsets.items()]
            )
        if rejected:
            self._con.executemany(
                "INSERT INTO rejected_records VALUES (?, ?, ?, ?, ?, ?)", [(*r, now) for r in rejected]
            )

    def _rollback(self) -> None:
        """A failed COMMIT has already rolled back (DuckDB then refuses ROLLBACK): never mask the cause."""
        with contextlib.suppress(duckdb.Error):
            self._con.execute("ROLLBACK")

    def close(self) -> None:
        self.join_compaction()
        with self._lock:
            self._con.close()
