"""`swarmpy container ...`: the top-level container commands under their noun, as docker's
`container` (ls is ps), and prune."""

from __future__ import annotations

import copy

import typer

from swarmpy.cli import container, lifecycle, run
from swarmpy.cli.system.prune import container_prune

app = typer.Typer(no_args_is_help=True)
container.register(app)
run.register(app)
lifecycle.register(app)
for info in list(app.registered_commands):
    if info.name == "ps":
        alias = copy.copy(info)
        alias.name = "ls"
        app.registered_commands.append(alias)
app.command("prune")(container_prune)
