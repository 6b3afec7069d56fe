"""`swarmpy config create NAME FILE|-`: the data from a file or stdin (under 1000 KiB, which
the daemon checks)."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy.cli import fileobjects


def create(
    name: str = typer.Argument(..., metavar="CONFIG"),
    file: str = typer.Argument(..., metavar="file|-"),
    label: list[str] = typer.Option([], "--label", "-l", help="Config labels"),
    template_driver: str = typer.Option("", "--template-driver", help="Template driver"),
) -> None:
    """Create a config from a file or STDIN."""
    extra: dict[str, Any] = {}
    if template_driver:
        extra["Templating"] = {"Name": template_driver}
    fileobjects.create("config", name, file, label, extra)
