"""`swarmpy volume create [NAME]`: a local volume, with labels and the local driver's
options (-o type=tmpfs,device=tmpfs,o=size=64m); prints its name."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy.cli import engine, specflags
from swarmpy.errors import InvalidArgument


def create(
    name: str = typer.Argument("", metavar="[VOLUME]"),
    driver: str = typer.Option("local", "--driver", "-d", help="Specify volume driver name"),
    label: list[str] = typer.Option([], "--label", help="Set metadata for a volume"),
    opt: list[str] = typer.Option([], "--opt", "-o", help="Set driver specific options"),
    name_flag: str = typer.Option("", "--name", hidden=True, help="Specify volume name"),
) -> None:
    """Create a volume."""
    if name and name_flag and name != name_flag:
        raise InvalidArgument(
            "conflicting options: either specify --name or provide positional arg, not both"
        )
    # As docker's CLI: the maps are sent even when empty (inspect then shows {}).
    body: dict[str, Any] = {
        "Name": name or name_flag,
        "Driver": driver,
        "DriverOpts": dict(specflags.key_values(opt, "opt")),
        "Labels": dict(specflags.key_values(label, "label")),
    }
    typer.echo(engine.connect().post("/volumes/create", body)["Name"])
