"""`swarmpy service inspect`: Docker's JSON document, or --pretty text."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy.cli import engine, output
from swarmpy.cli.engine import path_of


def print_pretty(doc: dict[str, Any]) -> None:
    """A Service document as text, its spec read back with the Engine API's own converter."""
    from swarmpy.model import ServiceMode
    from swarmpy.server.convert.service import service_spec

    spec, _force = service_spec(doc["Spec"])
    typer.echo(f"\nID:\t\t{doc['ID']}\nName:\t\t{spec.name}")
    if spec.labels:
        typer.echo("Labels:")
        for k, v in spec.labels:
            typer.echo(f" {k}={v}")
    typer.echo("Service Mode:\t" + spec.mode.capitalize())
    if spec.mode == ServiceMode.REPLICATED:
        typer.echo(f" Replicas:\t{spec.replicas}")
    update_status = doc.get("UpdateStatus")
    if update_status:
        typer.echo(f"UpdateStatus:\n State:\t\t{update_status.get('State', '')}")
        typer.echo(f" Message:\t{update_status.get('Message', '')}")
    if spec.constraints:
        typer.echo("Placement:\n Constraints:\t" + ", ".join(spec.constraints))
    typer.echo(f"UpdateConfig:\n Parallelism:\t{spec.update.parallelism}")
    typer.echo(f" On failure:\t{spec.update.failure_action}")
    typer.echo(f" Update order:\t{spec.update.order}")
    typer.echo("ContainerSpec:")
    typer.echo(f" Image:\t\t{spec.container.image}")
    if spec.container.args:
        typer.echo(f" Args:\t\t{' '.join(spec.container.args)}")
    if spec.container.env:
        typer.echo(" Env:\t\t" + " ".join(spec.container.env))
    if spec.networks:
        typer.echo("Networks:\t" + " ".join(spec.networks))
    typer.echo(f"Endpoint Mode:\t{spec.endpoint_mode}")
    for vip in doc.get("Endpoint", {}).get("VirtualIPs") or []:
        typer.echo(f" VirtualIP:\t{vip['Addr']} ({vip['NetworkID'][:12]})")


def inspect(
    refs: list[str] = typer.Argument(..., metavar="SERVICE..."),
    pretty: bool = typer.Option(False, help="Print the information in a human friendly format"),
    fmt: str = output.inspect_format_option(),
) -> None:
    """Display detailed information on one or more services."""
    api = engine.connect()
    docs = [api.get(path_of("services", ref)) for ref in refs]
    if not pretty and fmt != "pretty":
        output.print_inspect(docs, fmt)
        return
    for doc in docs:
        print_pretty(doc)
