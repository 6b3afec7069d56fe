"""`swarmpy service inspect`: Docker's JSON document, or --pretty text."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy.cli import engine, output
from swarmpy.cli.engine import path_of
from swarmpy.humanize import go_duration


def print_pretty(doc: dict[str, Any]) -> None:
    """A Service document as text, as docker's ``service inspect --pretty``."""
    spec = doc.get("Spec", {})
    template = spec.get("TaskTemplate", {})
    container = template.get("ContainerSpec", {})
    update = spec.get("UpdateConfig")
    typer.echo(f"\nID:\t\t{doc['ID']}\nName:\t\t{spec.get('Name', '')}")
    if spec.get("Labels"):
        typer.echo("Labels:")
        for k, v in sorted(spec["Labels"].items()):
            typer.echo(f" {k}={v}")
    mode = spec.get("Mode", {})
    if "Global" in mode:
        typer.echo("Service Mode:\tGlobal")
    elif "Replicated" in mode:
        typer.echo("Service Mode:\tReplicated")
        typer.echo(f" Replicas:\t{mode.get('Replicated', {}).get('Replicas', 0)}")
    else:
        typer.echo("Service Mode:")  # a job: Docker's template names no mode for it
    update_status = doc.get("UpdateStatus")
    if update_status:
        typer.echo(f"UpdateStatus:\n State:\t\t{update_status.get('State', '')}")
        typer.echo(f" Message:\t{update_status.get('Message', '')}")
    constraints = template.get("Placement", {}).get("Constraints") or []
    if constraints:
        typer.echo("Placement:\n Constraints:\t" + ", ".join(constraints))
    if update is not None:  # a job has none
        typer.echo(f"UpdateConfig:\n Parallelism:\t{update.get('Parallelism', 0)}")
        typer.echo(f" On failure:\t{update.get('FailureAction', '')}")
        typer.echo(f" Update order:\t{update.get('Order', '')}")
    typer.echo("ContainerSpec:")
    typer.echo(f" Image:\t\t{container.get('Image', '')}")
    if container.get("Args"):
        typer.echo(f" Args:\t\t{' '.join(container['Args'])}")
    if container.get("Env"):
        typer.echo(" Env:\t\t" + " ".join(container["Env"]))
    for key, title in (("Configs", "Config"), ("Secrets", "Secret")):
        if container.get(key):
            typer.echo(f"{key}:")
            for ref in container[key]:
                target = (ref.get("File") or {}).get("Name", "")
                typer.echo(f" Target:\t{target}\n  Source:\t{ref.get(title + 'Name', '')}")
    log_driver = template.get("LogDriver")
    if log_driver is not None:
        typer.echo("Log Driver:")
        if log_driver.get("Name"):
            typer.echo(f" Name:\t\t{log_driver['Name']}")
        if log_driver.get("Options"):
            typer.echo(" LogOpts:")
            for k, v in sorted(log_driver["Options"].items()):
                typer.echo(f"  {k}:       {v}" if v else f"  {k}")
        typer.echo("")  # docker's template ends the block with an empty line
    networks = [n.get("Target", "") for n in template.get("Networks") or []]
    if networks:
        typer.echo("Networks:\t" + " ".join(networks))
    typer.echo(f"Endpoint Mode:\t{spec.get('EndpointSpec', {}).get('Mode', 'vip')}")
    for vip in doc.get("Endpoint", {}).get("VirtualIPs") or []:
        typer.echo(f" VirtualIP:\t{vip['Addr']} ({vip['NetworkID'][:12]})")
    if container.get("Healthcheck"):
        typer.echo(healthcheck_text(container["Healthcheck"]))


def healthcheck_text(hc: dict[str, Any]) -> str:
    """The Healthcheck lines of docker's --pretty template, its tabs and trailing space too."""

    def duration(key: str) -> str:
        return go_duration(int(hc.get(key) or 0) / 1e9)

    lines = [
        " Healthcheck:",
        f"  Interval = {duration('Interval')}",
        f"  Retries = {hc.get('Retries') or 0}",
        f"  StartPeriod =\t{duration('StartPeriod')}",
        f"  Timeout =\t{duration('Timeout')}",
    ]
    if hc.get("Test"):
        lines += ["  Tests:", *(f"\t Test = {t}" for t in hc["Test"])]
        lines[-1] += " "
    return "\n".join(lines)


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
