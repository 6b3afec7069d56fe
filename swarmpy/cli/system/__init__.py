"""`swarmpy system ...`: df, events, info, prune; one module per command, as docker/cli's
cli/command/system (events and info are also top-level commands)."""

from __future__ import annotations

import typer

from swarmpy.cli import events, info
from swarmpy.cli.system import df, prune

app = typer.Typer(no_args_is_help=True)

app.command("df")(df.df)
app.command("events")(events.events)
app.command("info")(info.info)
app.command("prune")(prune.prune)
