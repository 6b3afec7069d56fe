"""`swarmpy service ls`: each service with its running and wanted replicas."""

from __future__ import annotations

import typer

from swarmpy import codec
from swarmpy.api import control_pb2
from swarmpy.cli import output
from swarmpy.cli.client import Client, run
from swarmpy.cli.service.common import list_tasks
from swarmpy.model import Service, ServiceMode, Task, TaskState


def ls(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display IDs"),
    fmt: str = output.format_option(),
) -> None:
    """List services."""

    async def call(c: Client) -> tuple[list[Service], list[Task]]:
        reply = await c.control.ListServices(control_pb2.Empty())
        tasks, _nodes = await list_tasks(c)
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
