"""`observ slo`: validate service definitions, generate rules from them, import Sloth/OpenSLO, print the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from observ.slo.load import DefinitionError, load_definitions
from observ.slo.model import ServiceDefinitions

app = typer.Typer(
    help="SLOs: validate alerts/services.yaml, generate rules, import Sloth/OpenSLO.", no_args_is_help=True
)

FileArg = Annotated[Path, typer.Argument(help="Service definitions, e.g. alerts/services.yaml.")]


def _err() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def _load(file: Path) -> ServiceDefinitions:
    """Definitions, or every problem printed as `file:line:col: field: reason` and exit 1."""
    try:
        return load_definitions(file)
    except DefinitionError as e:
        err = _err()
        for issue in e.issues:
            line = Text()
            line.append(f"{issue.file}:{issue.line}:{issue.column}", style="bold")
            line.append(": ")
            if issue.path:
                line.append(issue.path, style="cyan")
                line.append(": ")
            line.append(issue.message, style="red")
            err.print(line)
        n = len(e.issues)
        err.print(Text(f"{n} error{'s' if n != 1 else ''} in {file}", style="bold red"))
        raise typer.Exit(1) from None


@app.command()
def validate(file: FileArg) -> None:
    """Check a services file; exit 1 with each error's file, line, column and field."""
    defs = _load(file)
    table = Table(title=f"{file}: {sum(len(s.slos) for s in defs.services)} SLOs, valid", title_justify="left")
    for column in ("service", "slo", "sli", "objective", "window", "budget", "group by"):
        table.add_column(column, justify="right" if column in ("objective", "budget") else "left")
    for service in defs.services:
        for slo in service.slos:
            window = f"{slo.window}, calendar {slo.calendar}" if slo.calendar else slo.window
            table.add_row(
                service.name, slo.name, slo.sli.kind, f"{slo.objective:g}%", window, f"{slo.budget:.4%}",
                ", ".join(slo.group_by),
            )  # fmt: skip
    out = Console()
    out = out if out.is_terminal else Console(width=200)  # pipes and CI logs get whole names, not ellipses
    out.print(table)


@app.command()
def generate(
    file: FileArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder of the generated files.")] = Path(
        "alerts/generated"
    ),
    check: Annotated[bool, typer.Option(help="Write nothing; exit 1 if a generated file is missing or stale.")] = False,
) -> None:
    """Prometheus rule files, promtool tests and PrometheusRule CRs for every service."""
    from observ.slo.generate import generate as generate_files
    from observ.slo.generate import write

    try:
        files = generate_files(_load(file))
    except ValueError as e:
        _err().print(Text(f"{file}: {e}", style="red"))
        raise typer.Exit(1) from None
    if check:
        stale = [f.path for f in files if _read(output / f.path) != f.content]
        if stale:
            _err().print(Text(f"stale in {output}: {', '.join(stale)} — run observ slo generate {file}", style="red"))
            raise typer.Exit(1)
        Console().print(f"{len(files)} generated files in {output} are up to date")
        return
    write(files, output)
    out = Console(soft_wrap=True, highlight=False)
    for f in files:
        out.print(str(output / f.path))
    out.print(Text(f"{len(files)} files written to {output}", style="green"))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


@app.command(name="import")
def import_(
    spec: Annotated[Path, typer.Argument(help="A Sloth prometheus/v1 spec or OpenSLO v1 YAML (multi-document).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Services file to write; stdout when not given.")
    ] = None,
    window: Annotated[
        str, typer.Option(help="SLO window of Sloth SLOs (their spec has none): 30d, 28d or 7d.")
    ] = "30d",
    force: Annotated[bool, typer.Option(help="Overwrite --output if it exists.")] = False,
) -> None:
    """Convert a Sloth or OpenSLO spec into our services file; what cannot be converted faithfully is refused."""
    from observ.slo.importers import SpecError, import_spec, to_yaml
    from observ.slo.load import parse_definitions

    err = _err()
    try:
        result = import_spec(spec.read_text(encoding="utf-8"), str(spec), window)
    except (OSError, UnicodeDecodeError) as e:
        err.print(Text(f"{spec}: cannot read: {e}", style="red"))
        raise typer.Exit(1) from None
    except SpecError as e:
        for line in str(e).splitlines():
            err.print(Text(line, style="red"))
        raise typer.Exit(1) from None
    for warning in result.warnings:
        err.print(Text(f"warning: {warning}", style="yellow"))
    text = to_yaml(result.definitions, header=f"# Imported from {spec.name} by `observ slo import`.\n")
    parse_definitions(text, str(output or "<stdout>"))  # what we write must load back as it was validated
    if output is None:
        typer.echo(text, nl=False)
        return
    if output.exists() and not force:
        err.print(Text(f"{output} exists; pass --force to overwrite it", style="red"))
        raise typer.Exit(1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    n = sum(len(s.slos) for s in result.definitions.services)
    err.print(Text(f"{n} SLOs of {len(result.definitions.services)} services written to {output}", style="green"))


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; stdout when not given.")] = None,
) -> None:
    """JSON Schema of the services file (committed as alerts/services.schema.json for editors)."""
    from observ.slo.schema import schema_json

    if output is None:
        typer.echo(schema_json(), nl=False)
    else:
        output.write_text(schema_json(), encoding="utf-8")
