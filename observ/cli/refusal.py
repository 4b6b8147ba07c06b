"""Commands that cannot start say why in one line on stderr and exit 1, never with a traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer


class Refused(Exception):
    """A command cannot start; the message is the one line it prints."""


@contextlib.contextmanager
def refusals(command: str) -> Iterator[None]:
    """Print a refusal raised inside as `observ <command>: <why>` on stderr and exit 1."""
    try:
        yield
    except Refused as e:
        typer.echo(f"observ {command}: {e}", err=True)
        raise typer.Exit(1) from None
