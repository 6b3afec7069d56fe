"""The typer declarations of the flags several container commands take, with Docker's names
and help, each declared once: ``run`` and ``create`` (one signature), ``exec``, ``start``,
``attach`` and ``logs``. Where a service command takes the very same flag (name, default
and help: Docker's service flags word some as its container flags), ``service create``,
``update`` and ``logs`` take it from here too.

A flag that shares only its name stays with its command: exec's ``--user`` quotes its format
and ``--detach-keys`` names its default, start's ``-i`` attaches STDIN, and the service
commands' ``--workdir`` and ``--user`` are None when not given (``service update`` changes
only what is given).

It imports typer alone, which the CLI has loaded already: a command that loads it starts no
slower (``cli/lazy.py``)."""

from __future__ import annotations

from typing import Any

import typer

ENV: Any = typer.Option([], "--env", "-e", help="Set environment variables")
ENV_FILE: Any = typer.Option([], "--env-file", help="Read in a file of environment variables")
INTERACTIVE: Any = typer.Option(
    False, "--interactive", "-i", help="Keep STDIN open even if not attached"
)
TTY: Any = typer.Option(False, "--tty", "-t", help="Allocate a pseudo-TTY")
WORKDIR: Any = typer.Option("", "--workdir", "-w", help="Working directory inside the container")
ENTRYPOINT: Any = typer.Option(
    None, "--entrypoint", help="Overwrite the default ENTRYPOINT of the image"
)
NO_HEALTHCHECK: Any = typer.Option(
    False, "--no-healthcheck", help="Disable any container-specified HEALTHCHECK"
)
CAP_ADD: Any = typer.Option([], "--cap-add", help="Add Linux capabilities")
CAP_DROP: Any = typer.Option([], "--cap-drop", help="Drop Linux capabilities")


def detach_keys(default: str | None = "", hidden: bool = False) -> Any:
    """--detach-keys; run's defaults to None so that create, which shares its signature with
    the flag hidden, can tell it was given and refuse it."""
    return typer.Option(
        default,
        "--detach-keys",
        help="Override the key sequence for detaching a container",
        hidden=hidden,
    )


# The logs of a container and of a service.
DETAILS: Any = typer.Option(False, "--details", help="Show extra details provided to logs")
FOLLOW: Any = typer.Option(False, "--follow", "-f", help="Follow log output")
SINCE: Any = typer.Option(
    "",
    "--since",
    help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative "
    "(e.g. 42m for 42 minutes)",
)
TAIL: Any = typer.Option(
    "all", "--tail", "-n", help="Number of lines to show from the end of the logs"
)
TIMESTAMPS: Any = typer.Option(False, "--timestamps", "-t", help="Show timestamps")
