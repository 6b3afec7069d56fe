"""`swarmpy service ...`: one module per command, as docker/cli's cli/command/service.

Flags shared by create and update are parsed in swarmpy.cli.specflags, the calls several
commands make in common.py.
"""

from __future__ import annotations

import typer

from swarmpy.cli.service import create, inspect, logs, ls, ps, rm, rollback, scale, update

app = typer.Typer(no_args_is_help=True)
# After the image, every argument is the container's, flags included (as `docker service create
# IMAGE sh -c ...`).
POSITIONAL = {"allow_interspersed_args": False}

# `service --help` lists the commands in this order.
app.command("create", context_settings=POSITIONAL)(create.create)
app.command("ls")(ls.ls)
app.command("ps")(ps.ps)
app.command("inspect")(inspect.inspect)
app.command("scale")(scale.scale)
app.command("update", context_settings=POSITIONAL)(update.update)
app.command("rollback")(rollback.rollback)
app.command("rm")(rm.rm)
app.command("logs")(logs.logs)
