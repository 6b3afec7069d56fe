"""`swarmpy volume ...`: the node's local volumes through the Engine API's /volumes, one
module per command, as docker/cli's cli/command/volume."""

from __future__ import annotations

import typer

from swarmpy.cli.volume import create, inspect, ls, prune, rm

app = typer.Typer(no_args_is_help=True)
app.command("create")(create.create)
app.command("inspect")(inspect.inspect)
app.command("ls")(ls.ls)
app.command("list", hidden=True)(ls.ls)
app.command("rm")(rm.rm)
app.command("remove", hidden=True)(rm.rm)
app.command("prune")(prune.prune)
