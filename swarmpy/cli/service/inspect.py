"""`swarmpy service inspect`: Docker's JSON document, or --pretty text."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy import codec
from swarmpy.cli import output
from swarmpy.cli.client import Client, run
from swarmpy.cli.service.common import get_service
from swarmpy.model import Service, ServiceMode, ServiceSpec


def inspect_doc(s: Service) -> dict[str, Any]:
    def spec_doc(spec: ServiceSpec) -> dict[str, Any]:
        c = spec.container
        mode: dict[str, Any] = (
            {"Replicated": {"Replicas": spec.replicas}}
            if spec.mode == ServiceMode.REPLICATED
            else {"Global": {}}
        )
        return {
            "Name": spec.name,
            "Labels": dict(spec.labels),
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": c.image,
                    "Command": list(c.command) or None,
                    "Args": list(c.args) or None,
                    "Env": list(c.env) or None,
                    "Labels": dict(c.labels),
                    "Hostname": c.hostname or None,
                    "Dir": c.workdir or None,
                    "User": c.user or None,
                    "Mounts": [codec.to_dict(m) for m in c.mounts] or None,
                    "CapabilityAdd": list(c.cap_add) or None,
                    "CapabilityDrop": list(c.cap_drop) or None,
                    "StopGracePeriod": int(c.stop_grace_s * 1e9),
                },
                "Resources": {
                    "Limits": {
                        "NanoCPUs": spec.resources.limits.nano_cpus,
                        "MemoryBytes": spec.resources.limits.memory_bytes,
                        "Pids": spec.resources.limits.pids,
                    },
                    "Reservations": {
                        "NanoCPUs": spec.resources.reservations.nano_cpus,
                        "MemoryBytes": spec.resources.reservations.memory_bytes,
                    },
                },
                "RestartPolicy": {
                    "Condition": str(spec.restart.condition),
                    "Delay": int(spec.restart.delay_s * 1e9),
                    "MaxAttempts": spec.restart.max_attempts,
                },
                "Placement": {"Constraints": list(spec.constraints) or None},
                "Networks": [{"Target": n} for n in spec.networks] or None,
            },
            "Mode": mode,
            "UpdateConfig": {
                "Parallelism": spec.update.parallelism,
                "Delay": int(spec.update.delay_s * 1e9),
                "FailureAction": str(spec.update.failure_action),
                "Monitor": int(spec.update.monitor_s * 1e9),
                "Order": spec.update.order,
            },
            "EndpointSpec": {"Mode": str(spec.endpoint_mode)},
        }

    doc: dict[str, Any] = {
        "ID": s.id,
        "Version": {"Index": s.spec_version},
        "CreatedAt": output.iso(s.created_at),
        "UpdatedAt": output.iso(s.updated_at),
        "Spec": spec_doc(s.spec),
        "Endpoint": {
            "Spec": {"Mode": str(s.spec.endpoint_mode)},
            "VirtualIPs": [{"NetworkID": v.network_id, "Addr": v.addr} for v in s.virtual_ips],
        },
    }
    if s.previous_spec is not None:
        doc["PreviousSpec"] = spec_doc(s.previous_spec)
    if s.update_status is not None:
        doc["UpdateStatus"] = {
            "State": s.update_status.state,
            "StartedAt": output.iso(s.update_status.started_at),
            "CompletedAt": output.iso(s.update_status.completed_at),
            "Message": s.update_status.message,
        }
    return doc


def inspect(
    refs: list[str] = typer.Argument(..., metavar="SERVICE..."),
    pretty: bool = typer.Option(False, help="Print the information in a human friendly format"),
    fmt: str = output.inspect_format_option(),
) -> None:
    """Display detailed information on one or more services."""

    async def call(c: Client) -> list[Service]:
        return [await get_service(c, r) for r in refs]

    services = run(call)
    if not pretty and fmt != "pretty":
        output.print_inspect([inspect_doc(s) for s in services], fmt)
        return
    for s in services:
        spec = s.spec
        typer.echo(f"\nID:\t\t{s.id}\nName:\t\t{spec.name}")
        if spec.labels:
            typer.echo("Labels:")
            for k, v in spec.labels:
                typer.echo(f" {k}={v}")
        typer.echo("Service Mode:\t" + spec.mode.capitalize())
        if spec.mode == ServiceMode.REPLICATED:
            typer.echo(f" Replicas:\t{spec.replicas}")
        if s.update_status is not None:
            typer.echo(f"UpdateStatus:\n State:\t\t{s.update_status.state}")
            typer.echo(f" Message:\t{s.update_status.message}")
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
        for vip in s.virtual_ips:
            typer.echo(f" VirtualIP:\t{vip.addr} ({vip.network_id[:12]})")
