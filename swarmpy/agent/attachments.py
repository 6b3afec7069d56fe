"""Standalone containers on attachable overlays, the node's side (SwarmKit's network attacher
controller and moby's daemon/cluster AttachNetwork).

A container's start asks the managers for an attachment (``AttachClient``, the
ResourceAllocator over the node's mutual TLS), then waits for the task the managers made to
arrive here with its address (``Attachments``). The task's controller only makes it known
and holds it RUNNING (its peers program forwarding to it and resolve its name meanwhile):
the container's owner plugs the leg into its sandbox, and unplugs it before it detaches, so
the managers never hand the address on while this node still answers for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from swarmpy import tls
from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc
from swarmpy.errors import NotFound, SwarmpyError, Unavailable
from swarmpy.model import HealthState, PortConfig, Task
from swarmpy.rpc import to_error

CALL_TIMEOUT_S = 10.0


class Attachments:
    """The attachment tasks the managers assigned to this node, by id."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._changed = asyncio.Event()

    def arrived(self, task: Task) -> None:
        self._tasks[task.id] = task
        self._changed.set()
        self._changed = asyncio.Event()

    def gone(self, task_id: str) -> None:
        self._tasks.pop(task_id, None)

    async def wait(self, task_id: str, timeout_s: float) -> Task:
        """The task once it is here with its addresses."""
        async with asyncio.timeout(timeout_s):
            while True:
                task = self._tasks.get(task_id)
                if task is not None and all(a.addresses for a in task.networks):
                    return task
                await self._changed.wait()


class AttachmentController:
    """The Controller of an attachment task: no container of its own."""

    def __init__(self, task: Task, attachments: Attachments) -> None:
        self.task = task
        self._attachments = attachments
        self._stopped = asyncio.Event()
        # Known at once: after a daemon restart the runner of a RUNNING task skips prepare,
        # and the container taken back waits for its task here.
        attachments.arrived(task)

    async def prepare(self) -> None:
        self._attachments.arrived(self.task)

    async def start(self) -> None:
        return None

    async def wait(self) -> int:
        await self._stopped.wait()
        return 0

    async def health_change(self, current: HealthState) -> HealthState:
        if current == HealthState.NONE:
            return HealthState.NONE  # no healthcheck
        await self._stopped.wait()
        return HealthState.UNHEALTHY

    async def shutdown(self, grace_s: float) -> None:
        self._stopped.set()

    async def terminate(self) -> None:
        self._stopped.set()

    async def release(self) -> None:
        return None  # the container's owner unplugs its leg before it detaches

    async def remove(self) -> None:
        self._stopped.set()
        self._attachments.gone(self.task.id)

    def port_status(self) -> tuple[PortConfig, ...]:
        return ()


class AttachClient:
    """The node's calls to the managers' ResourceAllocator: the manager of its session
    first, then the others."""

    def __init__(
        self,
        creds: Callable[[], tls.NodeCredentials],
        managers: Callable[[], list[str]],
        preferred: Callable[[], str | None],
    ) -> None:
        self._creds = creds
        self._managers = managers
        self._preferred = preferred

    async def attach(
        self,
        network: str,
        container_id: str,
        name: str,
        aliases: Sequence[str] = (),
        ip: str = "",
    ) -> tuple[str, str]:
        """(the attachment task's id, the network's id); moby's words when refused."""
        request = dispatcher_pb2.AttachNetworkRequest(
            network=network,
            container_id=container_id,
            container_name=name,
            aliases=aliases,
            addresses=[ip] if ip else [],
        )
        try:
            response = await self._call(
                lambda stub: stub.AttachNetwork(request, timeout=CALL_TIMEOUT_S)
            )
        except grpc.aio.AioRpcError as exc:
            error = to_error(exc)
            if isinstance(error, NotFound):
                raise error from None
            # moby's findAndAttachNetwork wraps the managers' gRPC status as Go prints it.
            go_code = "".join(w.capitalize() for w in exc.code().name.split("_"))
            raise type(error)(
                f"Could not attach to network {network}: rpc error: code = {go_code} "
                f"desc = {exc.details()}"
            ) from None
        assert isinstance(response, dispatcher_pb2.AttachNetworkResponse)
        return response.attachment_id, response.network_id

    async def detach(self, attachment_id: str) -> None:
        request = dispatcher_pb2.DetachNetworkRequest(attachment_id=attachment_id)
        try:
            await self._call(lambda stub: stub.DetachNetwork(request, timeout=CALL_TIMEOUT_S))
        except grpc.aio.AioRpcError as exc:
            raise to_error(exc) from None

    async def _call(self, call: Callable[[Any], Awaitable[object]]) -> object:
        """The call's answer from the first manager that gives one; a refusal (any status
        but a transport failure) is raised as the AioRpcError."""
        preferred = self._preferred()
        targets = ([preferred] if preferred else []) + [
            m for m in self._managers() if m != preferred
        ]
        last: SwarmpyError = Unavailable("this node knows no manager")
        creds = self._creds()
        for target in targets:
            channel = tls.secure_channel(target, creds.ca_pem, creds.cert_pem, creds.key_pem)
            async with channel:
                stub = dispatcher_pb2_grpc.ResourceAllocatorStub(channel)
                try:
                    return await call(stub)
                except grpc.aio.AioRpcError as exc:
                    error = to_error(exc, target)
                    if not isinstance(error, Unavailable):
                        raise
                    last = error
        raise last
