"""`swarmpy secret ...`: one module per command, as docker/cli's cli/command/secret; what
they share with the other kind is in swarmpy.cli.fileobjects."""

from __future__ import annotations

import typer

from swarmpy.cli.secret import create, inspect, ls, rm

app = typer.Typer(no_args_is_help=True)
app.command("create")(create.create)
app.command("inspect")(inspect.inspect)
app.command("ls")(ls.ls)
app.command("list", hidden=True)(ls.ls)
app.command("rm")(rm.rm)
app.command("remove", hidden=True)(rm.rm)
