"""`swarmpy`: the typer app. One module per noun (a package of one module per command for
`service`); every command is a client of the daemon."""

from __future__ import annotations

import sys

import typer

from swarmpy.cli import client, container, daemon_cmd, image, lab, network, node, service, swarm
from swarmpy.errors import InvalidArgument, SwarmpyError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="swarmpy: a Docker-Swarm-style container orchestrator.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def global_options(
    host: str = typer.Option(
        client.HOST, "-H", "--host", envvar="SWARMPY_HOST", help="Daemon socket to connect to."
    ),
) -> None:
    client.HOST = host


daemon_cmd.register(app)
app.add_typer(swarm.app, name="swarm", help="Manage swarm")
app.add_typer(node.app, name="node", help="Manage swarm nodes")
app.add_typer(service.app, name="service", help="Manage swarm services")
app.add_typer(network.app, name="network", help="Manage networks")
app.add_typer(image.app, name="image", help="Manage images")
app.add_typer(lab.app, name="lab", help="Several hosts on this machine, as network namespaces")
container.register(app)


def check_argv(argv: list[str]) -> None:
    """Every argument must be text: Linux hands over bytes that are not UTF-8 as surrogates,
    which no gRPC request (nor a terminal) can carry."""
    for arg in argv:
        try:
            arg.encode()
        except UnicodeEncodeError:
            raise InvalidArgument(f"invalid argument {arg!r}: not UTF-8 text") from None


def main() -> None:
    try:
        check_argv(sys.argv[1:])
        app()
    except SwarmpyError as exc:
        prefix = "Error response from daemon: " if exc.remote else "Error: "
        typer.echo(prefix + exc.message, err=True)
        sys.exit(1)
