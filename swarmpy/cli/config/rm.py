"""`swarmpy config rm`: refused by the daemon while a service uses the config."""

from __future__ import annotations

import typer

from swarmpy.cli import fileobjects


def rm(refs: list[str] = typer.Argument(..., metavar="CONFIG...")) -> None:
    """Remove one or more configs."""
    fileobjects.rm("config", refs)
