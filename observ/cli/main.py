"""The `observ` command."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from collectors.demo.faults import FaultMode
from collectors.log_adapter.cli import ship
from observ.cli.dashboards import app as dashboards_app
from observ.cli.refusal import Refused, refusals
from observ.cli.slo import app as slo_app
from observ.cli.store import app as store_app
from observ.memory_pool import use_jemalloc

app = typer.Typer(help="observ: logs, metrics and traces, correlated.", no_args_is_help=True)
app.command(name="ship")(ship)
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(slo_app, name="slo")
app.add_typer(store_app, name="store")
demo_app = typer.Typer(help="The demo workload of `observ up --demo`.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
console = Console()


@app.callback()
def _process() -> None:
    """What every command's process starts with (no options of its own)."""
    use_jemalloc()


CONFIG_HELP = "YAML settings shared by up and serve (auth tokens, tenants, limits, ...); flags override it."
DATA_HELP = "Data folder: the DuckDB store observ.duckdb and its segments (default ./observ-data)."


@app.command()
def up(
    demo: Annotated[
        bool,
        typer.Option(
            help="Also run the demo: four services calling each other, sending spans, metrics and JSON logs "
            "(and a Prometheus scraping them when `prometheus` is on PATH)."
        ),
    ] = False,
    port: Annotated[int | None, typer.Option(help="HTTP port of the API (default 3100).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    data: Annotated[Path | None, typer.Option(help=DATA_HELP + " Created when missing.")] = None,
    include: Annotated[list[str] | None, typer.Option(help="Extra globs of log files to tail.")] = None,
    demo_rate: Annotated[float, typer.Option(min=0.1, max=1000, help="Demo requests per second (frontend).")] = 20.0,
    prometheus_port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Port of the demo's Prometheus on 127.0.0.1 (default 9090, or a free one if taken)."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help=CONFIG_HELP)] = None,
) -> None:
    """Single node: collectors write straight into DuckDB (no broker), API on :3100."""
    from observ.cli.settings import load_config
    from observ.cli.up import run_up

    with refusals("up"):
        cfg = load_config(config, {"data": data, "port": port, "host": host})
        logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        run_up(cfg, demo, include or [], demo_rate, console, prometheus_port)


@demo_app.command()
def fault(
    service: Annotated[str, typer.Argument(help="A demo service: frontend, checkout, payments or inventory.")],
    mode: Annotated[FaultMode, typer.Option(help="error (every request 503), slow (+1.5 s a request) or off.")],
    addr: Annotated[str, typer.Option(envvar="OBSERV_ADDR", help="observ up --demo's address.")] = (
        "http://127.0.0.1:3100"
    ),
    token: Annotated[str | None, typer.Option(envvar="OBSERV_TOKEN", help="Bearer token.")] = None,
) -> None:
    """Make one demo service fail or slow down, or heal it, while `observ up --demo` runs."""
    from collectors.demo.control import FaultSwitchError, switch_fault

    try:
        modes = switch_fault(addr, service, mode, token)
    except FaultSwitchError as e:
        typer.echo(f"observ demo fault: {e}", err=True)
        raise typer.Exit(1) from None
    console.print(", ".join(f"{name} {m}" for name, m in modes.items()), highlight=False)


@app.command()
def ingest(
    bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers.")] = "127.0.0.1:9092",
    topic: Annotated[str, typer.Option(help="Log topic.")] = "observ.logs",
    spans_topic: Annotated[str, typer.Option(help="Span topic (OTLP ambassadors); '' = logs only.")] = "observ.spans",
    group: Annotated[str, typer.Option(help="Consumer group.")] = "observ-ingester",
    backend: Annotated[str, typer.Option(help="confluent or kafka-python.")] = "confluent",
    data: Annotated[Path, typer.Option(help=DATA_HELP + " Created when missing.")] = Path("./observ-data"),
    metrics_port: Annotated[int, typer.Option(help="Port of /metrics, /healthz, /readyz; 0 = off.")] = 9181,
    metrics_host: Annotated[str, typer.Option(help="Address of the metrics endpoint.")] = "127.0.0.1",
) -> None:
    """Consume the log topic into DuckDB, exactly once (offsets stored with the rows)."""
    from observ.cli.ingest import ingest_config, run_ingest

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with refusals("ingest"):
        config = ingest_config(
            {"bus": {"bootstrap": bootstrap, "backend": backend}, "topic": topic, "spans_topic": spans_topic or None,
             "group_id": group, "data": str(data)}
        )  # fmt: skip
        run_ingest(config, metrics_host, metrics_port, console)


@app.command()
def serve(
    data: Annotated[Path | None, typer.Option(help=DATA_HELP + " It must hold a store unless --create.")] = None,
    create: Annotated[
        bool, typer.Option(help="Start an empty store when the data folder holds none (implied by --bootstrap).")
    ] = False,
    port: Annotated[int | None, typer.Option(help="HTTP port of the Loki API (default 3100).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers: also run the ingester in this process.")
    ] = None,
    topic: Annotated[str, typer.Option(help="Log topic (with --bootstrap).")] = "observ.logs",
    spans_topic: Annotated[
        str | None,
        typer.Option(help="Span topic (with --bootstrap; default: --config's, else observ.spans); '' = none."),
    ] = None,
    group: Annotated[str, typer.Option(help="Consumer group (with --bootstrap).")] = "observ-ingester",
    config: Annotated[Path | None, typer.Option(help=CONFIG_HELP)] = None,
    prometheus_url: Annotated[
        str | None, typer.Option(help="Prometheus the correlation API reads metrics and exemplars from.")
    ] = None,
) -> None:
    """The query service: Loki's HTTP API (query, push, tail, ...) over the DuckDB store."""
    from observ.api.config import KafkaIngestConfig
    from observ.cli.serve import run_serve
    from observ.cli.settings import load_config

    with refusals("serve"):
        cfg = load_config(config, {"data": data, "port": port, "host": host})
        if bootstrap:
            kafka = cfg.kafka or KafkaIngestConfig()
            bus = kafka.bus.model_copy(update={"bootstrap": bootstrap})
            update = {"bus": bus, "topic": topic, "group_id": group}
            if spans_topic is not None:
                update["spans_topic"] = spans_topic or None
            kafka = kafka.model_copy(update=update)
            cfg = cfg.model_copy(update={"kafka": kafka})
        if prometheus_url:
            try:
                cfg = cfg.with_prometheus(prometheus_url)
            except ValueError as e:
                raise Refused(f"--prometheus-url: {e}") from None
        logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        run_serve(cfg, console, create)


@app.command()
def query(
    logql: Annotated[str, typer.Argument(help='A LogQL query, e.g. \'{service="api"} |= "error"\'.')],
    since: Annotated[str, typer.Option(help="Lookback when --from is not given (Prometheus duration).")] = "1h",
    from_: Annotated[str | None, typer.Option("--from", help="Start: RFC3339, unix seconds or ns.")] = None,
    to: Annotated[str | None, typer.Option(help="End (exclusive): RFC3339, unix seconds or ns; default now.")] = None,
    limit: Annotated[int, typer.Option(help="Most log lines to print (fetched in batches of 1000).")] = 30,
    tenant: Annotated[str | None, typer.Option(help="X-Scope-OrgID.")] = None,
    token: Annotated[str | None, typer.Option(envvar="OBSERV_TOKEN", help="Bearer token.")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table, raw (lines only) or jsonl.")] = "table",
    forward: Annotated[bool, typer.Option(help="Oldest lines first.")] = False,
    step: Annotated[str | None, typer.Option(help="Metric query resolution (30s, 1m, or seconds).")] = None,
    instant: Annotated[bool, typer.Option(help="Instant metric query at --to (default now).")] = False,
    addr: Annotated[str, typer.Option(envvar="OBSERV_ADDR", help="Server address.")] = "http://127.0.0.1:3100",
) -> None:
    """Run a LogQL query against a server, like logcli: log lines or metric samples."""
    import time

    from observ.cli.query import LokiClient, QueryFailed, Window, run_query

    if output not in ("table", "raw", "jsonl"):
        raise typer.BadParameter("--output must be table, raw or jsonl")
    err = Console(stderr=True, soft_wrap=True)
    client = LokiClient(addr, tenant, token)
    try:
        window = Window.parse(since, from_, to, time.time_ns())
        n = run_query(
            client, logql, window, limit=limit, direction="forward" if forward else "backward", step=step,
            instant=instant, output=output, out=Console(), err=err,  # type: ignore[arg-type]
        )  # fmt: skip
    except QueryFailed as e:
        err.print(f"[red]query failed:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        client.close()
    if output == "table":
        err.print(f"[dim]{n:,} result{'s' if n != 1 else ''}[/]")


@app.command()
def smoke(
    target: Annotated[str, typer.Option(envvar="OBSERV_ADDR", help="The API to test: http://127.0.0.1:3100.")],
    tenant: Annotated[str | None, typer.Option(help="X-Scope-OrgID.")] = None,
    token: Annotated[str | None, typer.Option(envvar="OBSERV_TOKEN", help="Bearer token.")] = None,
    timeout: Annotated[str, typer.Option(help="How long each check waits for its data (30s, 2m, seconds).")] = "60s",
    otlp_url: Annotated[
        str | None, typer.Option(help="OTLP/HTTP receiver for the span, e.g. a sidecar's :4318 (default: --target).")
    ] = None,
) -> None:
    """Push a marked log line and span into a running observ and read them back; exit 1 with one line if not."""
    from observ.smoke.runner import Settings, run_smoke
    from observ.smoke.target import SmokeFailed

    try:
        settings = Settings.parse(target, tenant, token, timeout, otlp_url)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    try:
        run_smoke(settings, Console(soft_wrap=True))
    except SmokeFailed as e:
        typer.echo(f"observ smoke: {e}", err=True)
        raise typer.Exit(1) from None


if __name__ == "__main__":
    app()
