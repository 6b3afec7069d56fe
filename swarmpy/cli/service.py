"""`swarmpy service ...`: create, ls, ps, inspect, scale, update, rollback, rm."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any

import typer

from swarmpy import codec
from swarmpy.api import control_pb2, dispatcher_pb2, objects_pb2
from swarmpy.cli import output, specflags
from swarmpy.cli.client import Client, run
from swarmpy.cli.progress import wait_for_convergence
from swarmpy.errors import InvalidArgument
from swarmpy.model import (
    ContainerSpec,
    EndpointMode,
    FailureAction,
    Node,
    ResourceRequirements,
    Resources,
    RestartCondition,
    RestartPolicy,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskState,
    UpdateConfig,
    UpdateOrder,
    UpdateStatus,
)

app = typer.Typer(no_args_is_help=True)
POSITIONAL = {"allow_interspersed_args": False}


async def _get(c: Client, ref: str) -> Service:
    return codec.from_proto(Service, await c.control.GetService(control_pb2.GetRequest(ref=ref)))


async def _tasks(c: Client, services: Sequence[str] = ()) -> tuple[list[Task], dict[str, Node]]:
    reply = await c.control.ListTasks(control_pb2.ListTasksRequest(services=list(services)))
    nodes = {n.id: codec.from_proto(Node, n) for n in reply.nodes}
    return [codec.from_proto(Task, t) for t in reply.tasks], nodes


def _choice(value: str, enum: Any, flag: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise InvalidArgument(f"invalid argument {value!r} for {flag}: use {allowed}") from None


# ---------------------------------------------------------------------- create


@app.command("create", context_settings=POSITIONAL)
def create(
    image: str = typer.Argument(..., metavar="IMAGE"),
    args: list[str] = typer.Argument(None, metavar="[COMMAND] [ARG...]"),
    name: str = typer.Option("", "--name", help="Service name"),
    replicas: int = typer.Option(None, "--replicas", help="Number of tasks"),
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
    service_mode = _choice(mode, ServiceMode, "--mode")
    if service_mode == ServiceMode.GLOBAL and replicas is not None:
        raise InvalidArgument("replicas can only be used with replicated mode")
    if replicas is not None and replicas < 0:
        raise InvalidArgument(f"invalid replicas value {replicas}: must be >= 0")
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
            condition=_choice(restart_condition, RestartCondition, "--restart-condition"),
            delay_s=specflags.duration(restart_delay),
            max_attempts=restart_max_attempts,
        ),
        update=UpdateConfig(
            parallelism=update_parallelism,
            delay_s=specflags.duration(update_delay),
            failure_action=_choice(update_failure_action, FailureAction, "--update-failure-action"),
            monitor_s=specflags.duration(update_monitor),
            order=_choice(update_order, UpdateOrder, "--update-order"),
        ),
        constraints=tuple(constraint),
        resources=ResourceRequirements(
            limits=Resources(
                nano_cpus=specflags.nano_cpus(limit_cpu) if limit_cpu else 0,
                memory_bytes=specflags.memory_bytes(limit_memory) if limit_memory else 0,
            ),
            reservations=Resources(
                nano_cpus=specflags.nano_cpus(reserve_cpu) if reserve_cpu else 0,
                memory_bytes=specflags.memory_bytes(reserve_memory) if reserve_memory else 0,
            ),
        ),
        networks=tuple(network),
        endpoint_mode=_choice(endpoint_mode, EndpointMode, "--endpoint-mode"),
    )
    if not spec.name:
        spec = dataclasses.replace(spec, name=_random_name())

    async def call(c: Client) -> None:
        reply = await c.control.CreateService(codec.to_proto(spec, objects_pb2.ServiceSpec()))
        typer.echo(reply.id)
        if not detach:
            await wait_for_convergence(c, reply.id, quiet=quiet)

    run(call)


def _random_name() -> str:
    import secrets

    left = ["brave", "calm", "eager", "happy", "jolly", "keen", "lucid", "nifty", "quirky", "zen"]
    right = ["turing", "hopper", "lovelace", "ritchie", "thompson", "pike", "knuth", "liskov"]
    return f"{secrets.choice(left)}_{secrets.choice(right)}"


# ---------------------------------------------------------------------- ls / ps


@app.command("ls")
def ls(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display IDs"),
    fmt: str = typer.Option("", "--format", help="Format output: json or '{{json .}}'"),
) -> None:
    """List services."""

    async def call(c: Client) -> tuple[list[Service], list[Task]]:
        reply = await c.control.ListServices(control_pb2.Empty())
        tasks, _nodes = await _tasks(c)
        return [codec.from_proto(Service, s) for s in reply.services], tasks

    services, tasks = run(call)
    rows = []
    for s in services:
        mine = [t for t in tasks if t.service_id == s.id]
        running = sum(
            1
            for t in mine
            if t.status.state == TaskState.RUNNING and t.desired_state == TaskState.RUNNING
        )
        if s.spec.mode == ServiceMode.GLOBAL:
            wanted = sum(1 for t in mine if t.desired_state == TaskState.RUNNING)
        else:
            wanted = s.spec.replicas
        rows.append(
            {
                "ID": s.id[:12],
                "Name": s.spec.name,
                "Mode": str(s.spec.mode),
                "Replicas": f"{running}/{wanted}",
                "Image": s.spec.container.image,
                "Ports": "",
            }
        )
    output.emit(
        [
            ("ID", "ID"),
            ("NAME", "Name"),
            ("MODE", "Mode"),
            ("REPLICAS", "Replicas"),
            ("IMAGE", "Image"),
            ("PORTS", "Ports"),
        ],
        rows,
        fmt,
        quiet,
    )


def _state_text(task: Task) -> str:
    return f"{task.status.state.label} {output.ago(task.status.timestamp or task.created_at)}"


def ps_rows(tasks: Sequence[Task], nodes: dict[str, Node], no_trunc: bool) -> list[dict[str, Any]]:
    """Docker's service ps: newest task of a slot first, older ones marked with \\_."""
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], list[Task]] = {}
    for t in tasks:
        key = (t.service_name, str(t.slot) if t.slot else t.node_id)
        groups.setdefault(key, []).append(t)
    for (service_name, slot), members in sorted(groups.items()):
        members.sort(key=lambda t: t.created_at, reverse=True)
        for i, t in enumerate(members):
            name = f"{service_name}.{slot if t.slot else t.node_id}"
            node = nodes.get(t.node_id)
            err = t.status.err
            rows.append(
                {
                    "ID": t.id if no_trunc else t.id[:12],
                    "Name": name if i == 0 else f" \\_ {name}",
                    "Image": t.spec.container.image,
                    "Node": node.hostname if node else "",
                    "DesiredState": t.desired_state.label,
                    "CurrentState": _state_text(t),
                    "Error": err if no_trunc or len(err) <= 40 else f'"{err[:37]}…"',
                    "Ports": "",
                }
            )
    return rows


PS_COLUMNS = [
    ("ID", "ID"),
    ("NAME", "Name"),
    ("IMAGE", "Image"),
    ("NODE", "Node"),
    ("DESIRED STATE", "DesiredState"),
    ("CURRENT STATE", "CurrentState"),
    ("ERROR", "Error"),
    ("PORTS", "Ports"),
]


def _filter_tasks(tasks: list[Task], filters: Sequence[str]) -> list[Task]:
    for f in filters:
        key, _, value = f.partition("=")
        if key == "desired-state":
            tasks = [t for t in tasks if t.desired_state.name.lower() == value.lower()]
        elif key == "node":
            tasks = [t for t in tasks if t.node_id.startswith(value)]
        elif key == "id":
            tasks = [t for t in tasks if t.id.startswith(value)]
        elif key == "name":
            tasks = [t for t in tasks if t.name.startswith(value)]
        else:
            raise InvalidArgument(f"invalid filter {key!r}")
    return tasks


@app.command("ps")
def ps(
    services: list[str] = typer.Argument(..., metavar="SERVICE..."),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Do not truncate output"),
    filters: list[str] = typer.Option(
        [], "--filter", "-f", help="Filter output based on conditions provided"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display task IDs"),
    fmt: str = typer.Option("", "--format", help="Format output: json or '{{json .}}'"),
) -> None:
    """List the tasks of one or more services."""

    async def call(c: Client) -> tuple[list[Task], dict[str, Node]]:
        return await _tasks(c, services)

    tasks, nodes = run(call)
    tasks = _filter_tasks(tasks, filters)
    output.emit(PS_COLUMNS, ps_rows(tasks, nodes, no_trunc or quiet), fmt, quiet)


# ---------------------------------------------------------------------- inspect


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


@app.command("inspect")
def inspect(
    refs: list[str] = typer.Argument(..., metavar="SERVICE..."),
    pretty: bool = typer.Option(False, help="Print the information in a human friendly format"),
) -> None:
    """Display detailed information on one or more services."""

    async def call(c: Client) -> list[Service]:
        return [await _get(c, r) for r in refs]

    services = run(call)
    if not pretty:
        output.print_json([inspect_doc(s) for s in services])
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


# ---------------------------------------------------------------------- changes


async def _update(
    c: Client, ref: str, spec: ServiceSpec | None, rollback: bool = False, force: bool = False
) -> Service:
    request = control_pb2.UpdateServiceRequest(ref=ref, rollback=rollback, force=force)
    if spec is not None:
        request.spec.CopyFrom(codec.to_proto(spec, objects_pb2.ServiceSpec()))
    return codec.from_proto(Service, await c.control.UpdateService(request))


@app.command("scale")
def scale(
    pairs: list[str] = typer.Argument(..., metavar="SERVICE=REPLICAS..."),
    detach: bool = typer.Option(
        False, "--detach", "-d", help="Exit immediately instead of waiting"
    ),
) -> None:
    """Scale one or multiple replicated services."""
    parsed = specflags.scale_pairs(pairs)

    async def call(c: Client) -> None:
        baselines: dict[str, UpdateStatus | None] = {}
        for name, replicas in parsed:
            service = await _get(c, name)
            if service.spec.mode != ServiceMode.REPLICATED:
                raise InvalidArgument(f"{name}: scale can only be used with replicated mode")
            scaled = await _update(
                c, service.id, dataclasses.replace(service.spec, replicas=replicas)
            )
            baselines[name] = scaled.update_status
            typer.echo(f"{name} scaled to {replicas}")
        if not detach:
            for name, _ in parsed:
                await wait_for_convergence(c, name, baseline=baselines[name])

    run(call)


@app.command("update", context_settings=POSITIONAL)
def update(
    ref: str = typer.Argument(..., metavar="SERVICE"),
    image: str = typer.Option("", "--image", help="Service image tag"),
    args: str = typer.Option(None, "--args", help="Service command args"),
    replicas: int = typer.Option(None, "--replicas", help="Number of tasks"),
    env_add: list[str] = typer.Option(
        [], "--env-add", help="Add or update an environment variable"
    ),
    env_rm: list[str] = typer.Option([], "--env-rm", help="Remove an environment variable"),
    constraint_add: list[str] = typer.Option(
        [], "--constraint-add", help="Add or update a placement constraint"
    ),
    constraint_rm: list[str] = typer.Option([], "--constraint-rm", help="Remove a constraint"),
    label_add: list[str] = typer.Option([], "--label-add", help="Add or update a service label"),
    label_rm: list[str] = typer.Option([], "--label-rm", help="Remove a label by its key"),
    limit_cpu: str = typer.Option("", "--limit-cpu", help="Limit CPUs"),
    limit_memory: str = typer.Option("", "--limit-memory", help="Limit Memory"),
    update_parallelism: int = typer.Option(
        None, "--update-parallelism", help="Maximum number of tasks updated simultaneously"
    ),
    update_delay: str = typer.Option("", "--update-delay", help="Delay between updates"),
    update_failure_action: str = typer.Option(
        "",
        "--update-failure-action",
        help='Action on update failure ("pause", "continue", "rollback")',
    ),
    update_order: str = typer.Option(
        "", "--update-order", help='Update order ("start-first", "stop-first")'
    ),
    stop_grace_period: str = typer.Option(
        "", "--stop-grace-period", help="Time to wait before force killing a container"
    ),
    force: bool = typer.Option(False, "--force", help="Force update even if no changes require it"),
    rollback: bool = typer.Option(False, "--rollback", help="Rollback to previous specification"),
    detach: bool = typer.Option(
        False, "--detach", "-d", help="Exit immediately instead of waiting"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Suppress progress output"),
) -> None:
    """Update a service."""

    async def call(c: Client) -> None:
        service = await _get(c, ref)
        if rollback:
            updated = await _update(c, service.id, None, rollback=True)
        else:
            spec = service.spec
            container = spec.container
            if image:
                container = dataclasses.replace(container, image=image)
            if args is not None:
                import shlex

                container = dataclasses.replace(container, args=tuple(shlex.split(args)))
            if env_add or env_rm:
                container = dataclasses.replace(
                    container, env=specflags.env_list(container.env, env_add, env_rm)
                )
            if stop_grace_period:
                container = dataclasses.replace(
                    container, stop_grace_s=specflags.duration(stop_grace_period)
                )
            constraints = [x for x in spec.constraints if x not in constraint_rm]
            constraints += [x for x in constraint_add if x not in constraints]
            labels = dict(spec.labels)
            labels.update(dict(specflags.key_values(label_add, "label")))
            for key in label_rm:
                labels.pop(key, None)
            limits = spec.resources.limits
            if limit_cpu:
                limits = dataclasses.replace(limits, nano_cpus=specflags.nano_cpus(limit_cpu))
            if limit_memory:
                limits = dataclasses.replace(
                    limits, memory_bytes=specflags.memory_bytes(limit_memory)
                )
            upd = spec.update
            if update_parallelism is not None:
                upd = dataclasses.replace(upd, parallelism=update_parallelism)
            if update_delay:
                upd = dataclasses.replace(upd, delay_s=specflags.duration(update_delay))
            if update_failure_action:
                upd = dataclasses.replace(
                    upd,
                    failure_action=_choice(
                        update_failure_action, FailureAction, "--update-failure-action"
                    ),
                )
            if update_order:
                upd = dataclasses.replace(
                    upd, order=_choice(update_order, UpdateOrder, "--update-order")
                )
            if replicas is not None:
                if spec.mode != ServiceMode.REPLICATED:
                    raise InvalidArgument("replicas can only be used with replicated mode")
                if replicas < 0:
                    raise InvalidArgument(f"invalid replicas value {replicas}: must be >= 0")
            new_spec = dataclasses.replace(
                spec,
                container=container,
                constraints=tuple(constraints),
                labels=tuple(sorted(labels.items())),
                resources=dataclasses.replace(spec.resources, limits=limits),
                update=upd,
                replicas=spec.replicas if replicas is None else replicas,
            )
            updated = await _update(c, service.id, new_spec, force=force)
        typer.echo(ref)
        if not detach:
            await wait_for_convergence(
                c,
                service.id,
                quiet=quiet,
                baseline=updated.update_status,
                rollback_requested=rollback,
            )

    run(call)


@app.command("rollback")
def rollback(
    ref: str = typer.Argument(..., metavar="SERVICE"),
    detach: bool = typer.Option(
        False, "--detach", "-d", help="Exit immediately instead of waiting"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Suppress progress output"),
) -> None:
    """Revert changes to a service's configuration."""

    async def call(c: Client) -> None:
        service = await _update(c, ref, None, rollback=True)
        typer.echo(ref)
        if not detach:
            await wait_for_convergence(
                c, service.id, quiet=quiet, baseline=service.update_status, rollback_requested=True
            )

    run(call)


@app.command("rm")
def rm(refs: list[str] = typer.Argument(..., metavar="SERVICE...")) -> None:
    """Remove one or more services."""

    async def call(c: Client) -> None:
        for ref in refs:
            await c.control.RemoveService(control_pb2.RemoveRequest(ref=ref))
            typer.echo(ref)

    run(call)


# ---------------------------------------------------------------------- logs


def log_context(task: Task, node_name: str, no_task_ids: bool, slot_width: int) -> str:
    """Docker's line prefix, ``<service>.<slot>.<task id>@<node>``, padded so that lines of
    slots of different widths (9 and 10) stay aligned."""
    slot = str(task.slot) if task.slot else task.node_id
    name = f"{task.service_name}.{slot}"
    if not no_task_ids:
        name += "." + task.id[:12]
    return f"{name}@{node_name}" + " " * max(0, slot_width - len(slot))


def format_log_line(context: str, data: bytes, raw: bool) -> bytes:
    """One output line; the agents send lines without their newline."""
    return data + b"\n" if raw else context.encode() + b"    | " + data + b"\n"


def slot_width(tasks: Sequence[Task]) -> int:
    return max((len(str(t.slot) if t.slot else t.node_id) for t in tasks), default=0)


async def _log_target(c: Client, ref: str) -> dispatcher_pb2.SubscribeLogsRequest:
    """A service by id, name or prefix, else a task by id or prefix (as docker accepts)."""
    import grpc

    try:
        service = await _get(c, ref)
        return dispatcher_pb2.SubscribeLogsRequest(service_ids=[service.id])
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        tasks, _nodes = await _tasks(c)
        matches = [t for t in tasks if t.id == ref] or [t for t in tasks if t.id.startswith(ref)]
        if len(matches) != 1:
            raise
        return dispatcher_pb2.SubscribeLogsRequest(task_ids=[matches[0].id])


@app.command("logs")
def logs(
    ref: str = typer.Argument(..., metavar="SERVICE|TASK"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Follow log output"),
    tail: str = typer.Option(
        "all", "--tail", "-n", help="Number of lines to show from the end of the logs"
    ),
    no_task_ids: bool = typer.Option(False, "--no-task-ids", help="Do not include task IDs"),
    raw: bool = typer.Option(False, "--raw", help="Do not neatly format logs"),
) -> None:
    """Fetch the logs of a service or task."""
    import sys

    from swarmpy.cli.container import parse_tail

    lines_wanted = parse_tail(tail)

    async def call(c: Client) -> None:
        request = await _log_target(c, ref)
        request.follow = follow
        request.tail = lines_wanted
        known: dict[str, Task] = {}
        nodes: dict[str, Node] = {}
        width = 0
        out = sys.stdout.buffer
        async for message in c.control.ServiceLogs(request):
            if not message.task_id:
                typer.echo(f"warning: {message.data.decode(errors='replace')}", err=True)
                continue
            if message.task_id not in known:
                # A task that started since (with --follow): look again.
                tasks, nodes = await _tasks(c)
                known = {t.id: t for t in tasks}
                width = slot_width([t for t in tasks if t.service_id == message.service_id])
            task = known.get(message.task_id)
            context = ""
            if task is not None:
                node = nodes.get(message.node_id)
                context = log_context(
                    task, node.hostname if node else message.node_id, no_task_ids, width
                )
            out.write(format_log_line(context, message.data, raw))
            out.flush()

    # Ctrl-C is how -f ends, as with docker: no traceback.
    with contextlib.suppress(KeyboardInterrupt):
        run(call)
