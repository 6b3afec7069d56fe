"""`swarmpy service rm`: removes services."""

from __future__ import annotations

import typer

from swarmpy.cli import engine
from swarmpy.cli.engine import for_each, path_of


def rm(refs: list[str] = typer.Argument(..., metavar="SERVICE...")) -> None:
    """Remove one or more services."""
    api = engine.connect()

    def one(ref: str) -> None:
        api.delete(path_of("services", ref))
        typer.echo(ref)

    for_each(refs, one, kind="service")
