"""The data folder (`--data`) every command shares, opened with one-line refusals instead of tracebacks.

The folder holds the DuckDB store `observ.duckdb`, its `segments/`, the spans store `spans.duckdb`
with its `span-segments/`, and the single node's checkpoints. DuckDB lets one process open a store,
so `up`, `serve` and `ingest` on the same folder exclude each other: the second one says which process
holds the store and exits 1.
"""

from __future__ import annotations

import re
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from observ.cli.refusal import Refused
from observ.store.config import StoreConfig, StoreSettings
from observ.store.logstore import LogStore
from observ.traces.store import SpanStore

STORE_FILE = "observ.duckdb"
SPANS_FILE = "spans.duckdb"
S = TypeVar("S")
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.+?) \(PID (?P<pid>\d+)\)")


def store_path(data: Path, *, create: bool) -> Path:
    """Check the data folder (creating it when `create`) and return its store file."""
    if (data.exists() and not data.is_dir()) or data.suffix == ".duckdb":
        raise Refused(f"--data names the data folder (which holds {STORE_FILE}), not a file: {data}")
    path = data / STORE_FILE
    if not path.exists():
        if not create:
            raise Refused(
                f"{data} holds no observ store (no {STORE_FILE}): check --data, or pass --create to start an empty one"
            )
        try:
            data.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise Refused(f"cannot create the data folder {data}: {e.strerror}") from None
    try:
        with tempfile.TemporaryFile(dir=data):
            pass
    except OSError as e:
        raise Refused(f"the data folder {data} is not writable: {e.strerror}") from None
    return path


def open_store(data: Path, *, create: bool, config: StoreConfig | None = None) -> LogStore:
    """The store of a data folder, or a refusal naming the process that holds it."""
    return _open(store_path(data, create=create), lambda p: LogStore(p, config))


def open_stores(data: Path, *, create: bool, settings: StoreSettings | None = None) -> tuple[LogStore, SpanStore]:
    """The logs store (as `open_store`) and the spans store beside it, created when missing, with the config file's
    `store:` settings."""
    s = settings or StoreSettings()
    logs = open_store(data, create=create, config=s.logs)
    try:
        return logs, _open(data / SPANS_FILE, lambda p: SpanStore(p, s.spans))
    except Refused:
        logs.close()
        raise


def _open(path: Path, store: Callable[[Path], S]) -> S:
    try:
        return store(path)
    except duckdb.IOException as e:
        holder = _LOCK_HOLDER.search(str(e))
        if holder is None:
            raise Refused(f"cannot open {path}: {_first_line(e)}") from None
        pid = int(holder["pid"])
        raise Refused(
            f"{path} is in use by another process (PID {pid}: {_command(pid, holder['exe'])}); "
            "DuckDB lets one process open a store: stop that one, or run the ingester inside `observ serve --bootstrap`"
        ) from None
    except (duckdb.Error, OSError) as e:
        raise Refused(f"cannot open {path}: {_first_line(e)}") from None


def listen(host: str, port: int) -> socket.socket:
    """A bound listening socket for the HTTP server, so a port in use is a refusal before anything starts.

    Made with protocol IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections of such a socket, and
    without it a keep-alive client (Grafana, httpx) waited for its delayed ACK, ~40 ms, between every response's
    headers and body, which uvicorn writes separately."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise Refused(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def _command(pid: int, exe: str) -> str:
    """The holder's command line where /proc shows it (`observ up --data ...`), else its executable."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return exe
    return " ".join(a.decode(errors="replace") for a in argv) or exe


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
