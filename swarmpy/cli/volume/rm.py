"""`swarmpy volume rm`: refused by the daemon while a container uses the volume."""

from __future__ import annotations

import typer

from swarmpy.cli import engine
from swarmpy.cli.engine import for_each, path_of


def rm(
    names: list[str] = typer.Argument(..., metavar="VOLUME..."),
    force: bool = typer.Option(
        False, "--force", "-f", help="Force the removal of one or more volumes"
    ),
) -> None:
    """Remove one or more volumes. You cannot remove a volume that is in use by a
    container."""
    api = engine.connect()

    def one(name: str) -> None:
        api.delete(path_of("volumes", name), force=force)
        typer.echo(name)

    for_each(names, one, kind="volume")
