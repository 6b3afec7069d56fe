"""`swarmpy volume prune`: every local volume no container uses (API 1.41's meaning, which
swarmpy serves), as docker's CLI reports it."""

from __future__ import annotations

import typer

from swarmpy.cli import engine, opts, output
from swarmpy.cli.system.prune import prune_volumes, report_total

WARNING = """WARNING! This will remove all local volumes not used by at least one container.
Are you sure you want to continue?"""


def prune(
    filters: list[str] = opts.filter_option(
        "Provide filter values (e.g. 'label=<label>')", short=False
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Do not prompt for confirmation"),
) -> None:
    """Remove all unused local volumes."""
    wanted = opts.parse_filter_flags(filters)
    space, text = 0, ""
    if force or output.confirm(WARNING):
        space, text = prune_volumes(engine.connect(), wanted)
    if text:
        typer.echo(text)
    report_total(space)
