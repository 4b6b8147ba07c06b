"""The `observ` command."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from collectors.log_adapter.cli import ship

app = typer.Typer(help="observ: logs, metrics and traces, correlated.", no_args_is_help=True)
app.command(name="ship")(ship)
console = Console()


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Also run a demo workload writing JSON logs with trace IDs.")] = False,
    port: Annotated[int, typer.Option(help="HTTP port of the API.")] = 3100,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    data: Annotated[Path, typer.Option(help="Folder of the DuckDB store and checkpoints.")] = Path("./observ-data"),
    include: Annotated[list[str] | None, typer.Option(help="Extra globs of log files to tail.")] = None,
    demo_rate: Annotated[float, typer.Option(help="Demo requests per second.")] = 50.0,
) -> None:
    """Single node: collectors write straight into DuckDB (no broker), API on :3100."""
    from observ.cli.up import run_up

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not demo and not include:
        console.print("[yellow]nothing to tail: pass --demo or --include GLOB[/]")
    run_up(data, port, host, demo, include or [], demo_rate, console)


@app.command()
def ingest(
    bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers.")] = "127.0.0.1:9092",
    topic: Annotated[str, typer.Option(help="Log topic.")] = "observ.logs",
    group: Annotated[str, typer.Option(help="Consumer group.")] = "observ-ingester",
    backend: Annotated[str, typer.Option(help="confluent or kafka-python.")] = "confluent",
    data: Annotated[Path, typer.Option(help="DuckDB database file.")] = Path("./observ-data/observ.duckdb"),
    metrics_port: Annotated[int, typer.Option(help="Port of /metrics, /healthz, /readyz; 0 = off.")] = 9181,
    metrics_host: Annotated[str, typer.Option(help="Address of the metrics endpoint.")] = "127.0.0.1",
) -> None:
    """Consume the log topic into DuckDB, exactly once (offsets stored with the rows)."""
    from observ.cli.ingest import run_ingest
    from observ.store.ingest import IngestConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = IngestConfig.model_validate(
        {"bus": {"bootstrap": bootstrap, "backend": backend}, "topic": topic, "group_id": group,
         "data": str(data)}
    )  # fmt: skip
    run_ingest(config, metrics_host, metrics_port, console)


if __name__ == "__main__":
    app()
