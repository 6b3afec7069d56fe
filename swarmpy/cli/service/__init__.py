"""`swarmpy service ...`: one module per command, as docker/cli's cli/command/service.

Flags shared by create and update are parsed in swarmpy.cli.specflags, the calls several
commands make in common.py.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand

from swarmpy.cli.lazy import lazy_app

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


# `service --help` lists the commands in this order; each module is imported when its command
# runs (swarmpy.cli.lazy).
app = lazy_app(
    {
        "create": (
            "swarmpy.cli.service.create:create",
            {"context_settings": POSITIONAL, "cls": CreateCommand},
        ),
        "ls": ("swarmpy.cli.service.ls:ls", {}),
        "ps": ("swarmpy.cli.service.ps:ps", {}),
        "inspect": ("swarmpy.cli.service.inspect:inspect", {}),
        "scale": ("swarmpy.cli.service.scale:scale", {}),
        "update": (
            "swarmpy.cli.service.update:update",
            {"context_settings": POSITIONAL, "cls": BoolFlagsCommand},
        ),
        "rollback": ("swarmpy.cli.service.rollback:rollback", {}),
        "rm": ("swarmpy.cli.service.rm:rm", {}),
        "logs": ("swarmpy.cli.service.logs:logs", {}),
    },
    no_args_is_help=True,
)
