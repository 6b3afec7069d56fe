"""`swarmpy secret create NAME [FILE|-]`: the data from a file or stdin (at most 500 KiB,
which the daemon checks)."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy.cli import fileobjects
from swarmpy.errors import InvalidArgument


def create(
    name: str = typer.Argument(..., metavar="SECRET"),
    file: str = typer.Argument("", metavar="[file|-]"),
    label: list[str] = typer.Option([], "--label", "-l", help="Secret labels"),
    driver: str = typer.Option("", "--driver", "-d", help="Secret driver"),
    template_driver: str = typer.Option("", "--template-driver", help="Template driver"),
) -> None:
    """Create a secret from a file or STDIN as content."""
    if driver and file:
        raise InvalidArgument("When using secret driver secret data must be empty")
    extra: dict[str, Any] = {}
    if driver:
        extra["Driver"] = {"Name": driver}
    if template_driver:
        extra["Templating"] = {"Name": template_driver}
    fileobjects.create("secret", name, file, label, extra)
