"""`swarmpy config ls`: the swarm's configs, by name."""

from __future__ import annotations

import typer

from swarmpy.cli import fileobjects, opts, output


def ls(
    filters: list[str] = opts.filter_option("Filter output based on conditions provided"),
    fmt: str = output.format_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display IDs"),
) -> None:
    """List configs."""
    fileobjects.ls("config", filters, fmt, quiet)
