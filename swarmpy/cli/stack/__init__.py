"""`swarmpy stack ...`: one module per command, as docker/cli's cli/command/stack. A stack is
the client's notion (as Docker's): the services, networks, secrets and configs labelled
com.docker.stack.namespace=NAME; Compose files are loaded and converted here, by
swarmpy.compose, and the daemon only sees ordinary objects."""

from __future__ import annotations

import typer

from swarmpy.cli.stack import deploy, ls, ps, rm, services

app = typer.Typer(no_args_is_help=True)
app.command("deploy")(deploy.deploy)
app.command("up", hidden=True)(deploy.deploy)
app.command("ls")(ls.ls)
app.command("list", hidden=True)(ls.ls)
app.command("ps")(ps.ps)
app.command("rm")(rm.rm)
app.command("remove", hidden=True)(rm.rm)
app.command("down", hidden=True)(rm.rm)
app.command("services")(services.services)
