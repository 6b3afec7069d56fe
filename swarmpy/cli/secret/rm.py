"""`swarmpy secret rm`: refused by the daemon while a service uses the secret."""

from __future__ import annotations

import typer

from swarmpy.cli import fileobjects


def rm(refs: list[str] = typer.Argument(..., metavar="SECRET...")) -> None:
    """Remove one or more secrets."""
    fileobjects.rm("secret", refs)
