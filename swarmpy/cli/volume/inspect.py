"""`swarmpy volume inspect`: Docker's volume JSON, every volume found, then the missing."""

from __future__ import annotations

import typer

from swarmpy.cli import engine, output
from swarmpy.cli.engine import path_of
from swarmpy.errors import NotFound


def inspect(
    names: list[str] = typer.Argument(..., metavar="VOLUME..."),
    fmt: str = output.inspect_format_option(),
) -> None:
    """Display detailed information on one or more volumes."""
    api = engine.connect()
    docs, missing = [], []
    for name in names:
        try:
            docs.append(api.get(path_of("volumes", name)))
        except NotFound:
            missing.append(f"Error: No such volume: {name}")
    output.print_inspect(docs, fmt)
    for line in missing:
        typer.echo(line, err=True)
    if missing:
        raise typer.Exit(1)
