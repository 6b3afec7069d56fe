"""Waiting for a service to converge, with Docker's per-task progress view.

The decision part (``assess``) is a pure function of the service and its tasks; the loop
around it only polls the manager and draws.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import typer

from swarmpy import codec
from swarmpy.api import control_pb2
from swarmpy.cli.client import Client
from swarmpy.errors import Conflict, Unavailable
from swarmpy.model import Service, ServiceMode, Task, TaskState, UpdateStatus, outdated

BAR = 50
STABLE_S = 1.0
FAILURES_BEFORE_GIVING_UP = 3


@dataclass(frozen=True)
class Progress:
    lines: tuple[str, ...]
    running: int
    wanted: int
    converged: bool
    error: str = ""


def _bar(state: TaskState) -> str:
    order = [
        TaskState.NEW,
        TaskState.PENDING,
        TaskState.ASSIGNED,
        TaskState.ACCEPTED,
        TaskState.PREPARING,
        TaskState.READY,
        TaskState.STARTING,
        TaskState.RUNNING,
    ]
    step = order.index(state) if state in order else 0
    filled = BAR * step // (len(order) - 1)
    if filled >= BAR:
        return "[" + "=" * (BAR - 1) + ">]"
    return "[" + "=" * filled + ">" + " " * (BAR - filled - 1) + "]"


def assess(service: Service, tasks: Sequence[Task]) -> Progress:
    version = service.spec_version
    current = [t for t in tasks if t.service_id == service.id]
    live = [t for t in current if t.desired_state <= TaskState.RUNNING]
    if service.spec.mode == ServiceMode.REPLICATED:
        wanted = service.spec.replicas
        slots = sorted({t.slot for t in live if 0 < t.slot <= wanted})
        keys = [str(slot) for slot in slots]
        label = {k: f"{k}/{wanted}" for k in keys}
        by_key = {k: [t for t in live if str(t.slot) == k] for k in keys}
    else:
        wanted = len({t.node_id for t in live})
        keys = sorted({t.node_id for t in live})
        label = {k: k[:12] for k in keys}
        by_key = {k: [t for t in live if t.node_id == k] for k in keys}
    lines = []
    running = 0
    for key in keys:
        newest = max(by_key[key], key=lambda t: t.created_at)
        state = newest.status.state
        # A task the manager keeps through an update (the change did not touch it, e.g. an
        # update back to the spec it runs) is as current as a new one.
        ok = state == TaskState.RUNNING and not outdated(newest, service)
        running += ok
        text = state.name.lower()
        if newest.status.err and state.terminal:
            text = newest.status.err
        elif newest.status.err and state == TaskState.PENDING:
            text = f"pending: {newest.status.err}"
        lines.append(f"{label[key]}: {text:<10} {_bar(state)}")
    failures = [
        t
        for t in current
        if t.status.state in (TaskState.FAILED, TaskState.REJECTED) and t.spec_version >= version
    ]
    error = ""
    if len(failures) >= FAILURES_BEFORE_GIVING_UP:
        last = max(failures, key=lambda t: t.status.timestamp)
        error = last.status.err or last.status.state.name.lower()
    return Progress(tuple(lines), running, wanted, running >= wanted and len(keys) >= wanted, error)


# Update states that end a wait: the manager gave up on the spec the user asked for.
_PAUSED = ("paused", "rollback_paused")
_ROLLED_BACK = ("rollback_started", "rollback_completed")


def update_failure(
    service: Service, baseline: UpdateStatus | None, rollback_requested: bool
) -> str:
    """Why the update being waited for failed ("" if it did not): it paused, or the manager
    rolled it back (unless a rollback is what the user asked for)."""
    status = service.update_status
    if status is None or status == baseline:
        return ""
    if status.state in _PAUSED or (status.state in _ROLLED_BACK and not rollback_requested):
        return status.message or status.state
    return ""


async def wait_for_convergence(
    client: Client,
    service_id: str,
    timeout_s: float = 300.0,
    quiet: bool = False,
    baseline: UpdateStatus | None = None,
    rollback_requested: bool = False,
) -> None:
    """Poll until every wanted task runs the current spec, drawing progress as docker does.

    ``baseline`` is the service's update status right after the request, so an older
    paused update is not mistaken for this one failing."""
    tty = sys.stdout.isatty() and not quiet
    drawn = 0
    last_printed: tuple[str, ...] = ()
    deadline = time.monotonic() + timeout_s
    stable_since: float | None = None
    while True:
        service = codec.from_proto(
            Service, await client.control.GetService(control_pb2.GetRequest(ref=service_id))
        )
        reply = await client.control.ListTasks(control_pb2.ListTasksRequest(services=[service.id]))
        tasks = [codec.from_proto(Task, t) for t in reply.tasks]
        progress = assess(service, tasks)
        header = f"overall progress: {progress.running} out of {progress.wanted} tasks"
        lines = (header, *progress.lines)
        if not quiet:
            if tty:
                if drawn:
                    sys.stdout.write(f"\x1b[{drawn}F\x1b[J")
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()
                drawn = len(lines)
            else:
                # No terminal to redraw on (a log, a pipe): print only what changed.
                for line in lines:
                    if line not in last_printed:
                        typer.echo(line)
                last_printed = lines
        failure = update_failure(service, baseline, rollback_requested)
        if failure:
            raise Conflict(f"service {service.spec.name}: {failure}")
        if progress.error:
            raise Conflict(f"service {service.spec.name} could not converge: {progress.error}")
        if progress.converged:
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= STABLE_S:
                if not quiet:
                    typer.echo("verify: Service converged")
                return
        else:
            stable_since = None
        if time.monotonic() > deadline:
            raise Unavailable(
                f"service {service.spec.name} did not converge within {timeout_s:g}s; "
                "see `swarmpy service ps`"
            )
        await asyncio.sleep(0.3)
