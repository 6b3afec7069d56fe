"""What several `swarmpy service` commands ask the control API."""

from __future__ import annotations

from collections.abc import Sequence

from swarmpy import codec
from swarmpy.api import control_pb2, objects_pb2
from swarmpy.cli.client import Client
from swarmpy.model import Node, Service, ServiceSpec, Task


async def get_service(c: Client, ref: str) -> Service:
    return codec.from_proto(Service, await c.control.GetService(control_pb2.GetRequest(ref=ref)))


async def list_tasks(c: Client, services: Sequence[str] = ()) -> tuple[list[Task], dict[str, Node]]:
    reply = await c.control.ListTasks(control_pb2.ListTasksRequest(services=list(services)))
    nodes = {n.id: codec.from_proto(Node, n) for n in reply.nodes}
    return [codec.from_proto(Task, t) for t in reply.tasks], nodes


async def update_service(
    c: Client, ref: str, spec: ServiceSpec | None, rollback: bool = False
) -> Service:
    request = control_pb2.UpdateServiceRequest(ref=ref, rollback=rollback)
    if spec is not None:
        request.spec.CopyFrom(codec.to_proto(spec, objects_pb2.ServiceSpec()))
    return codec.from_proto(Service, await c.control.UpdateService(request))
