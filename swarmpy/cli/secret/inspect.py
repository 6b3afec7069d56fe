"""`swarmpy secret inspect`: never the secret's data (the daemon does not show it)."""

from __future__ import annotations

import typer

from swarmpy.cli import fileobjects, output


def inspect(
    refs: list[str] = typer.Argument(..., metavar="SECRET..."),
    fmt: str = output.inspect_format_option(),
    pretty: bool = typer.Option(
        False, "--pretty", help="Print the information in a human friendly format"
    ),
) -> None:
    """Display detailed information on one or more secrets."""
    fileobjects.inspect("secret", refs, fmt, pretty)
