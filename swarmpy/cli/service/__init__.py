"""`swarmpy service ...`: one module per command, as docker/cli's cli/command/service.

Flags shared by create and update are parsed in swarmpy.cli.specflags, the calls several
commands make in common.py.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

from swarmpy.cli.service import create, inspect, logs, ls, ps, rm, rollback, scale, update

app = typer.Typer(no_args_is_help=True)
# After the image, every argument is the container's, flags included (as `docker service create
# IMAGE sh -c ...`).
POSITIONAL = {"allow_interspersed_args": False}


class BoolFlagsCommand(TyperCommand):
    """`service update --read-only=false`: Docker's booleans take a value after "="; ours
    are --flag/--no-flag pairs, so the value is read before the parser sees it."""

    # create's first argument is its IMAGE: what follows is the container's, left alone.
    stop_at_argument = False

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from swarmpy.cli.specflags import bool_flag_argv

        takes_value = {
            name
            for param in self.params
            if param.param_type_name == "option" and not getattr(param, "is_flag", False)
            for name in param.opts
        }
        argv = bool_flag_argv(args, takes_value, self.stop_at_argument)
        return list(super().parse_args(ctx, argv))


class CreateCommand(BoolFlagsCommand):
    stop_at_argument = True


# `service --help` lists the commands in this order.
app.command("create", context_settings=POSITIONAL, cls=CreateCommand)(create.create)
app.command("ls")(ls.ls)
app.command("ps")(ps.ps)
app.command("inspect")(inspect.inspect)
app.command("scale")(scale.scale)
app.command("update", context_settings=POSITIONAL, cls=BoolFlagsCommand)(update.update)
app.command("rollback")(rollback.rollback)
app.command("rm")(rm.rm)
app.command("logs")(logs.logs)
