"""`observ store`: run retention or merging of small segments on a data folder now (the services run both on their
own every `store.maintenance_interval_s`). DuckDB lets one process open a store: stop the service first."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from observ.cli.refusal import refusals

if TYPE_CHECKING:  # DuckDB and the stores load only when a command runs: `observ ship` stays lean
    from observ.store.lifecycle import Maintained

app = typer.Typer(help="Store maintenance: retention and merging of small segments, on demand.", no_args_is_help=True)

DataOpt = Annotated[Path, typer.Option(help="Data folder holding observ.duckdb and spans.duckdb.")]
ConfigOpt = Annotated[Path | None, typer.Option(help="The services' YAML settings; its `store:` section applies.")]
DryOpt = Annotated[bool, typer.Option(help="Only say what would go; change nothing.")]


def _stores(data: Path, config: Path | None) -> dict[str, Maintained]:
    """Both stores of `data`, with the `store:` settings of `config` (defaults without one)."""
    from observ.cli.datadir import open_stores
    from observ.cli.settings import load_config

    settings = load_config(config, {"data": data}).store
    logs, spans = open_stores(data, create=False, settings=settings)
    return {"logs": logs, "spans": spans}


def _finish(stores: dict[str, Maintained], paths: list[str]) -> None:
    """Close the stores, then delete the unregistered files: no reader of this process is left."""
    for store in stores.values():
        store.close()
    for p in paths:
        Path(p).unlink(missing_ok=True)


@app.command()
def retention(
    data: DataOpt = Path("./observ-data"),
    config: ConfigOpt = None,
    dry_run: DryOpt = False,
    now_ns: Annotated[int | None, typer.Option(help="Cut off from this time (ns) instead of now.", hidden=True)] = None,
) -> None:
    """Delete segments (and hot rows) older than each tenant's retention period."""
    console = Console(highlight=False)
    with refusals("store retention"):
        stores = _stores(data, config)
        now = now_ns if now_ns is not None else time.time_ns()
        table = Table("store", "tenant", "segments", "rows", "bytes", title="would delete" if dry_run else "deleted")
        paths: list[str] = []
        try:
            for name, store in stores.items():
                expiry = store.expire(now, dry_run=dry_run)
                paths.extend(expiry.paths)
                for d in expiry.deleted:
                    table.add_row(name, d.tenant, f"{d.segments:,}", f"{d.rows:,}", f"{d.bytes:,}")
        finally:
            _finish(stores, paths)
        console.print(table if table.rows else "nothing is older than its tenant's retention period")


@app.command()
def merge(data: DataOpt = Path("./observ-data"), config: ConfigOpt = None, dry_run: DryOpt = False) -> None:
    """Merge each tenant's small segments (up to `merge.max_merges_per_run` merged segments per store)."""
    console = Console(highlight=False)
    with refusals("store merge"):
        stores = _stores(data, config)
        table = Table(
            "store", "tenant", "segments", "into", "rows", "bytes", title="would merge" if dry_run else "merged"
        )
        paths: list[str] = []
        try:
            for name, store in stores.items():
                for m in store.merge_small(dry_run=dry_run):
                    paths.extend(m.paths)
                    into = "" if m.segment is None else str(m.segment)
                    ids = ", ".join(map(str, m.sources))
                    table.add_row(name, m.tenant, ids, into, f"{m.rows:,}", f"{m.bytes:,}")
        finally:
            _finish(stores, paths)
        console.print(table if table.rows else "no small segments to merge")
