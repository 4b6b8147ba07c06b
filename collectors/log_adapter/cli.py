"""`observ ship` and `python -m collectors.log_adapter`: one set of options for both."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from collectors.log_adapter.config import AdapterConfig, ConfigError, load_config


class _CurrentStderr(logging.StreamHandler):
    """Writes to sys.stderr as it is at each record: the live status swaps it to print lines above itself."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _labels(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"label {pair!r} is not key=value", param_hint="--label")
        out[key] = value
    return out


def ship(
    paths: Annotated[list[str] | None, typer.Argument(help="Globs of files to tail; '-' reads stdin.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config (AdapterConfig); flags override it.")] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
    topic: Annotated[str | None, typer.Option(help="Kafka topic.")] = None,
    backend: Annotated[str | None, typer.Option(help="confluent or kafka-python.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant (X-Scope-OrgID) of every stream.")] = None,
    service: Annotated[str | None, typer.Option(help="Service label; default from env, path or file.")] = None,
    label: Annotated[list[str] | None, typer.Option(help="Extra stream label key=value (repeatable).")] = None,
    folder: Annotated[
        Path | None,
        typer.Option("--data", help="Folder of the checkpoints (default ./observ-data); mount it in a container."),
    ] = None,
    checkpoint: Annotated[
        str | None, typer.Option(help="Checkpoint file (default <data>/adapter-checkpoints.json).")
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="auto, cri, docker or raw.")] = None,
    start_at: Annotated[str | None, typer.Option(help="beginning or end, for files never seen.")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Port of /metrics, /healthz, /readyz; 0 = off.")] = None,
    otlp: Annotated[
        bool | None,
        typer.Option("--otlp/--no-otlp", help="OTLP ambassador: take spans and logs on 127.0.0.1:4318 and :4317."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Tail files (or stdin), parse and label them, ship batches to Kafka; checkpoints move on acks.

    With --otlp, also take OTLP spans and logs from the app on localhost and ship them once Kafka acknowledged."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[_CurrentStderr()],
    )
    try:
        cfg = load_config(config) if config else AdapterConfig()
    except ConfigError as e:
        raise typer.BadParameter(str(e), param_hint="--config") from e
    data = cfg.model_dump(exclude_unset=True)
    tail = data.setdefault("tail", {"include": []})
    kafka = data.setdefault("kafka", {})
    bus = kafka.setdefault("bus", {})
    files = [p for p in (paths or []) if p != "-"]
    if files:
        tail["include"] = files
    if paths and "-" in paths:
        data["stdin"] = True
    for target, key, value in (
        (bus, "bootstrap", bootstrap), (bus, "backend", backend), (kafka, "topic", topic),
        (data, "tenant", tenant), (data, "service", service), (data, "data", folder),
        (tail, "checkpoint_path", checkpoint), (tail, "start_at", start_at), (data, "http_port", metrics_port),
    ):  # fmt: skip
        if value is not None:
            target[key] = value
    if fmt is not None:
        data.setdefault("parse", {})["format"] = fmt
    if otlp is not None:
        data.setdefault("otlp", {})["enabled"] = otlp
    if label:
        data["labels"] = {**data.get("labels", {}), **_labels(label)}
    cfg = AdapterConfig.model_validate(data)
    if not cfg.stdin and not cfg.tail.include and not cfg.otlp.enabled:
        raise typer.BadParameter("give at least one path glob, '-' for stdin, tail.include in --config, or --otlp")
    from collectors.log_adapter.main import run
    from collectors.log_adapter.sources.otlp import StartError

    try:
        run(cfg)
    except StartError as e:
        typer.echo(f"observ ship: {e}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    typer.run(ship)
