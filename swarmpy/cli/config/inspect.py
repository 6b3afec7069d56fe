"""`swarmpy config inspect`: with the config's data (base64; in clear with --pretty)."""

from __future__ import annotations

import typer

from swarmpy.cli import fileobjects, output


def inspect(
    refs: list[str] = typer.Argument(..., metavar="CONFIG..."),
    fmt: str = output.inspect_format_option(),
    pretty: bool = typer.Option(
        False, "--pretty", help="Print the information in a human friendly format"
    ),
) -> None:
    """Display detailed information on one or more configs."""
    fileobjects.inspect("config", refs, fmt, pretty)
