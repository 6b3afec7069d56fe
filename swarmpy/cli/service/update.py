"""`swarmpy service update`: flags change the current spec; --rollback goes back."""

from __future__ import annotations

import dataclasses

import typer

from swarmpy.cli import specflags
from swarmpy.cli.client import Client, run
from swarmpy.cli.progress import wait_for_convergence
from swarmpy.cli.service.common import get_service, update_service
from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi import validate
from swarmpy.model import FailureAction, ServiceMode, UpdateOrder


def update(
    ref: str = typer.Argument(..., metavar="SERVICE"),
    image: str = typer.Option("", "--image", help="Service image tag"),
    args: str = typer.Option(None, "--args", help="Service command args"),
    replicas: int | None = typer.Option(None, "--replicas", help="Number of tasks"),
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
    limit_pids: int | None = typer.Option(
        None, "--limit-pids", help="Limit maximum number of processes (0 = unlimited)"
    ),
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
    if replicas is not None:
        validate.check_replicas(replicas)  # before asking the daemon anything
    if limit_pids is not None:
        validate.check_pids(limit_pids)

    async def call(c: Client) -> None:
        service = await get_service(c, ref)
        if rollback:
            updated = await update_service(c, service.id, None, rollback=True)
        else:
            spec = service.spec
            container = spec.container
            if image:
                container = dataclasses.replace(container, image=image)
            if args is not None:
                container = dataclasses.replace(container, args=specflags.words(args, "--args"))
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
            if limit_pids is not None:
                limits = dataclasses.replace(limits, pids=limit_pids)
            upd = spec.update
            if update_parallelism is not None:
                upd = dataclasses.replace(upd, parallelism=update_parallelism)
            if update_delay:
                upd = dataclasses.replace(upd, delay_s=specflags.duration(update_delay))
            if update_failure_action:
                upd = dataclasses.replace(
                    upd,
                    failure_action=specflags.choice(
                        update_failure_action, FailureAction, "--update-failure-action"
                    ),
                )
            if update_order:
                upd = dataclasses.replace(
                    upd, order=specflags.choice(update_order, UpdateOrder, "--update-order")
                )
            if replicas is not None and spec.mode != ServiceMode.REPLICATED:
                raise InvalidArgument("replicas can only be used with replicated mode")
            new_spec = dataclasses.replace(
                spec,
                container=container,
                constraints=tuple(constraints),
                labels=tuple(sorted(labels.items())),
                resources=dataclasses.replace(spec.resources, limits=limits),
                update=upd,
                replicas=spec.replicas if replicas is None else replicas,
                # As Docker's CLI: a changed counter has every task replaced.
                force_update=spec.force_update + 1 if force else spec.force_update,
            )
            validate.check_service_spec(new_spec)
            updated = await update_service(c, service.id, new_spec)
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
