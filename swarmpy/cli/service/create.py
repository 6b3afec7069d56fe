"""`swarmpy service create`: the flags become a ServiceSpec."""

from __future__ import annotations

import dataclasses
import secrets

import typer

from swarmpy import codec
from swarmpy.api import objects_pb2
from swarmpy.cli import specflags
from swarmpy.cli.client import Client, run
from swarmpy.cli.progress import wait_for_convergence
from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi import validate
from swarmpy.model import (
    ContainerSpec,
    EndpointMode,
    FailureAction,
    ResourceRequirements,
    Resources,
    RestartCondition,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    UpdateConfig,
    UpdateOrder,
)


def create(
    image: str = typer.Argument(..., metavar="IMAGE"),
    args: list[str] = typer.Argument(None, metavar="[COMMAND] [ARG...]"),
    name: str = typer.Option("", "--name", help="Service name"),
    replicas: int | None = typer.Option(None, "--replicas", help="Number of tasks"),
    mode: str = typer.Option(
        "replicated", "--mode", help='Service mode ("replicated" or "global")'
    ),
    env: list[str] = typer.Option([], "--env", "-e", help="Set environment variables"),
    label: list[str] = typer.Option([], "--label", "-l", help="Service labels"),
    container_label: list[str] = typer.Option([], "--container-label", help="Container labels"),
    constraint: list[str] = typer.Option([], "--constraint", help="Placement constraints"),
    network: list[str] = typer.Option([], "--network", help="Network attachments"),
    endpoint_mode: str = typer.Option(
        "vip", "--endpoint-mode", help="Endpoint mode (vip or dnsrr)"
    ),
    hostname: str = typer.Option("", "--hostname", help="Container hostname"),
    workdir: str = typer.Option(
        "", "--workdir", "-w", help="Working directory inside the container"
    ),
    user: str = typer.Option(
        "", "--user", "-u", help="Username or UID (format: <name|uid>[:<group|gid>])"
    ),
    entrypoint: str = typer.Option(
        "", "--entrypoint", help="Overwrite the default ENTRYPOINT of the image"
    ),
    mount: list[str] = typer.Option([], "--mount", help="Attach a filesystem mount to the service"),
    cap_add: list[str] = typer.Option([], "--cap-add", help="Add Linux capabilities"),
    cap_drop: list[str] = typer.Option([], "--cap-drop", help="Drop Linux capabilities"),
    limit_cpu: str = typer.Option("", "--limit-cpu", help="Limit CPUs"),
    limit_memory: str = typer.Option("", "--limit-memory", help="Limit Memory"),
    limit_pids: int = typer.Option(
        0, "--limit-pids", help="Limit maximum number of processes (default 0 = unlimited)"
    ),
    reserve_cpu: str = typer.Option("", "--reserve-cpu", help="Reserve CPUs"),
    reserve_memory: str = typer.Option("", "--reserve-memory", help="Reserve Memory"),
    restart_condition: str = typer.Option(
        "any",
        "--restart-condition",
        help='Restart when condition is met ("none", "on-failure", "any")',
    ),
    restart_delay: str = typer.Option(
        "5s", "--restart-delay", help="Delay between restart attempts"
    ),
    restart_max_attempts: int = typer.Option(
        0, "--restart-max-attempts", help="Maximum number of restarts before giving up"
    ),
    update_parallelism: int = typer.Option(
        1,
        "--update-parallelism",
        help="Maximum number of tasks updated simultaneously (0 to update all at once)",
    ),
    update_delay: str = typer.Option("0s", "--update-delay", help="Delay between updates"),
    update_failure_action: str = typer.Option(
        "pause",
        "--update-failure-action",
        help='Action on update failure ("pause", "continue", "rollback")',
    ),
    update_monitor: str = typer.Option(
        "5s", "--update-monitor", help="Duration after each task update to monitor for failure"
    ),
    update_order: str = typer.Option(
        "stop-first", "--update-order", help='Update order ("start-first", "stop-first")'
    ),
    stop_grace_period: str = typer.Option(
        "10s", "--stop-grace-period", help="Time to wait before force killing a container"
    ),
    detach: bool = typer.Option(
        False,
        "--detach",
        "-d",
        help="Exit immediately instead of waiting for the service to converge",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Suppress progress output"),
) -> None:
    """Create a new service."""
    service_mode = specflags.choice(mode, ServiceMode, "--mode")
    if service_mode == ServiceMode.GLOBAL and replicas is not None:
        raise InvalidArgument("replicas can only be used with replicated mode")
    if replicas is not None:
        validate.check_replicas(replicas)
    spec = ServiceSpec(
        name=name,
        container=ContainerSpec(
            image=image,
            command=(entrypoint,) if entrypoint else (),
            args=tuple(args or ()),
            env=specflags.env_list([], env, []),
            labels=specflags.key_values(container_label, "label"),
            hostname=hostname,
            workdir=workdir,
            user=user,
            mounts=tuple(specflags.mount(m) for m in mount),
            cap_add=tuple(cap_add),
            cap_drop=tuple(cap_drop),
            stop_grace_s=specflags.duration(stop_grace_period),
        ),
        labels=specflags.key_values(label, "label"),
        mode=service_mode,
        replicas=0 if service_mode == ServiceMode.GLOBAL else (1 if replicas is None else replicas),
        restart=RestartPolicy(
            condition=specflags.choice(restart_condition, RestartCondition, "--restart-condition"),
            delay_s=specflags.duration(restart_delay),
            max_attempts=restart_max_attempts,
        ),
        update=UpdateConfig(
            parallelism=update_parallelism,
            delay_s=specflags.duration(update_delay),
            failure_action=specflags.choice(
                update_failure_action, FailureAction, "--update-failure-action"
            ),
            monitor_s=specflags.duration(update_monitor),
            order=specflags.choice(update_order, UpdateOrder, "--update-order"),
        ),
        constraints=tuple(constraint),
        resources=ResourceRequirements(
            limits=Resources(
                nano_cpus=specflags.nano_cpus(limit_cpu) if limit_cpu else 0,
                memory_bytes=specflags.memory_bytes(limit_memory) if limit_memory else 0,
                pids=limit_pids,
            ),
            reservations=Resources(
                nano_cpus=specflags.nano_cpus(reserve_cpu) if reserve_cpu else 0,
                memory_bytes=specflags.memory_bytes(reserve_memory) if reserve_memory else 0,
            ),
        ),
        networks=tuple(network),
        endpoint_mode=specflags.choice(endpoint_mode, EndpointMode, "--endpoint-mode"),
    )
    if not spec.name:
        spec = dataclasses.replace(spec, name=_random_name())
    validate.check_service_spec(spec)

    async def call(c: Client) -> None:
        reply = await c.control.CreateService(codec.to_proto(spec, objects_pb2.ServiceSpec()))
        typer.echo(reply.id)
        if not detach:
            await wait_for_convergence(c, reply.id, quiet=quiet)

    run(call)


def _random_name() -> str:
    left = ["brave", "calm", "eager", "happy", "jolly", "keen", "lucid", "nifty", "quirky", "zen"]
    right = ["turing", "hopper", "lovelace", "ritchie", "thompson", "pike", "knuth", "liskov"]
    return f"{secrets.choice(left)}_{secrets.choice(right)}"
