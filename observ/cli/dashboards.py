"""`observ dashboards`: generate Grafana dashboards and provisioning from service definitions, push them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Grafana dashboards: generate from alerts/services.yaml, push to a Grafana.", no_args_is_help=True
)


@app.command()
def generate(
    services: Annotated[Path, typer.Option(help="Service definitions.")] = Path("alerts/services.yaml"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder of the dashboards and provisioning/.")] = Path(
        "dashboards"
    ),
    prometheus_url: Annotated[
        str, typer.Option(help="Prometheus URL as Grafana reaches it.")
    ] = "http://prometheus:9090",
    loki_url: Annotated[str, typer.Option(help="observ's Loki API as Grafana reaches it.")] = "http://observ:3100",
    tempo_url: Annotated[str, typer.Option(help="observ's Tempo API; default: the Loki URL.")] = "",
    dashboards_path: Annotated[
        str, typer.Option(help="Where Grafana's file provider finds the JSON files.")
    ] = "/var/lib/grafana/dashboards/observ",
    check: Annotated[bool, typer.Option(help="Write nothing; exit 1 if the files on disk are stale.")] = False,
) -> None:
    """One dashboard per service, an SLO overview, and Grafana provisioning for datasources and dashboards."""
    from observ.dashboards.build import render_all, stale, write
    from observ.dashboards.provisioning import ProvisioningConfig
    from observ.slo.load import DefinitionError, load_definitions

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        defs = load_definitions(services)
    except DefinitionError as e:
        for issue in e.issues:
            err.print(f"[red]{issue}[/]")
        raise typer.Exit(1) from None
    cfg = ProvisioningConfig(
        prometheus_url=prometheus_url, loki_url=loki_url, tempo_url=tempo_url, dashboards_path=dashboards_path
    )
    files = render_all(defs, cfg)
    if check:
        outdated = stale(files, out)
        for rel in outdated:
            err.print(f"[red]stale:[/] {out / rel}")
        if outdated:
            err.print("run `observ dashboards generate` and commit the result")
            raise typer.Exit(1)
        Console().print(f"{len(files)} files in {out} are up to date")
        return
    for path in write(files, out):
        Console().print(f"wrote {path}", highlight=False)


@app.command()
def push(
    grafana_url: Annotated[str, typer.Option(envvar="GRAFANA_URL", help="Grafana base URL.")],
    token: Annotated[str | None, typer.Option(envvar="GRAFANA_TOKEN", help="Service account token.")] = None,
    user: Annotated[str | None, typer.Option(envvar="GRAFANA_USER", help="Basic-auth user.")] = None,
    password: Annotated[str | None, typer.Option(envvar="GRAFANA_PASSWORD", help="Basic-auth password.")] = None,
    folder: Annotated[str, typer.Option(help="Folder title.")] = "observ",
    folder_uid: Annotated[str, typer.Option(help="Folder uid (created if missing).")] = "observ",
    directory: Annotated[Path, typer.Option("--dir", help="Folder of generated dashboard JSON.")] = Path("dashboards"),
) -> None:
    """Upload every dashboard in --dir into one folder, overwriting earlier versions with the same uid."""
    from grafana_client.client import GrafanaException

    from observ.dashboards.push import connect, load_dir
    from observ.dashboards.push import push as push_all

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    dashboards = load_dir(directory)
    if not dashboards:
        err.print(f"[red]no dashboard JSON in {directory}[/]: run `observ dashboards generate` first")
        raise typer.Exit(1)
    api = connect(grafana_url, token=token, user=user, password=password)
    try:
        pushed = push_all(api, dashboards, folder_uid, folder)
    except GrafanaException as e:
        err.print(f"[red]Grafana refused:[/] {e}")
        raise typer.Exit(1) from None
    except OSError as e:
        err.print(f"[red]cannot reach {grafana_url}:[/] {e}")
        raise typer.Exit(1) from None
    out = Console(highlight=False)
    for p in pushed:
        out.print(f"{p.uid}  v{p.version}  {p.url}")
