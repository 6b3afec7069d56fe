"""SwarmKit's ResourceAllocator: standalone containers on attachable overlays.

A node's engine (``docker run --network an1`` on a manager or a worker) calls
``AttachNetwork`` over its mutual TLS. As SwarmKit's ``resourceapi``, the managers make a
task with no service whose attachment names the container, assigned to the caller's node
and desired RUNNING, with the network as its only network: the allocator gives it an address
like any task's, the scheduler passes it to that node, the dispatcher ships it and the
network views carry its name and address to every node on the network. ``DetachNetwork``
deletes the task, which frees the address. Every manager serves it (the store forwards the
write to the leader), so the caller need not find the leader first.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc
from swarmpy.errors import NotFound, PermissionDenied
from swarmpy.manager.allocator.network import address_pools, requested_address
from swarmpy.manager.auth import calling_node
from swarmpy.manager.controlapi.common import resolve, serialise
from swarmpy.manager.state.store import NETWORKS, NODES, SERVICES, TASKS, Store, Tx
from swarmpy.model import (
    ContainerSpec,
    NetworkAttachment,
    NetworkAttachmentSpec,
    ServiceSpec,
    Task,
    TaskState,
    TaskStatus,
    new_id,
    now,
)
from swarmpy.rpc import unary

log = logging.getLogger(__name__)

Ctx = grpc.aio.ServicerContext[Any, Any]


def attachment_task(
    network_ref: str,
    network_id: str,
    attachable: bool,
    node_id: str,
    spec: NetworkAttachmentSpec,
    asked: NetworkAttachment | None = None,
) -> Task:
    """The task that holds a container's place on an attachable overlay (with ``asked``, the
    address it asked for, which the allocator keeps), or SwarmKit's refusal of a network no
    container may join by hand."""
    if not attachable:
        raise PermissionDenied(f"network {network_ref} not manually attachable")
    at = now()
    return Task(
        id=new_id(),
        service_id="",
        service_name="",
        spec=ServiceSpec(name="", container=ContainerSpec(image=""), networks=(network_id,)),
        node_id=node_id,
        desired_state=TaskState.RUNNING,
        status=TaskStatus(TaskState.NEW, at, "created"),
        created_at=at,
        updated_at=at,
        attachment=spec,
        networks=(asked,) if asked is not None else (),
    )


class ResourceAllocator(dispatcher_pb2_grpc.ResourceAllocatorServicer):
    def __init__(self, store: Store, ca_pem: str) -> None:
        self.store = store
        self.ca_pem = ca_pem

    def _node_of(self, context: Ctx) -> str:
        return calling_node(
            context, self.ca_pem, self.store.view(), "attach containers to networks"
        )

    @unary
    async def AttachNetwork(
        self, request: dispatcher_pb2.AttachNetworkRequest, context: Ctx
    ) -> dispatcher_pb2.AttachNetworkResponse:
        node_id = self._node_of(context)
        spec = NetworkAttachmentSpec(
            request.container_id, request.container_name, tuple(request.aliases)
        )

        def attach(tx: Tx) -> Task:
            try:
                network = resolve(tx.snapshot, NETWORKS, request.network, lambda n: n.name)
            except NotFound:
                raise NotFound(f"network {request.network} not found") from None
            attachable = network.attachable and not network.ingress
            asked = None
            if attachable and request.addresses:
                snapshot = tx.snapshot
                pools = address_pools(
                    [network],
                    snapshot.all(TASKS),
                    snapshot.all(SERVICES),
                    snapshot.all(NODES),
                )
                asked = requested_address(pools[network.id], request.addresses[0])
                # Two containers asking for one address at once: one commit wins, the other
                # runs again over the winner's task and is refused.
                serialise(tx)
            task = attachment_task(request.network, network.id, attachable, node_id, spec, asked)
            tx.create(TASKS, task)
            return task

        task = await self.store.update(attach)
        log.info(
            "container %s on network %s: task %s", spec.container_id[:12], request.network, task.id
        )
        return dispatcher_pb2.AttachNetworkResponse(
            attachment_id=task.id, network_id=task.spec.networks[0]
        )

    @unary
    async def DetachNetwork(
        self, request: dispatcher_pb2.DetachNetworkRequest, context: Ctx
    ) -> dispatcher_pb2.DetachNetworkResponse:
        node_id = self._node_of(context)

        def detach(tx: Tx) -> None:
            task = tx.get(TASKS, request.attachment_id)
            if task is None:
                return  # gone already: detaching is idempotent
            if not task.is_attachment or task.node_id != node_id:
                # As SwarmKit: a node detaches only its own containers.
                raise PermissionDenied(
                    f"task {request.attachment_id} is not this node's attachment"
                )
            tx.delete(TASKS, task.id)

        await self.store.update(detach)
        return dispatcher_pb2.DetachNetworkResponse()
