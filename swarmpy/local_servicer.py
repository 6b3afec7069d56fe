"""The daemon's local API (unix socket): swarm membership, containers, images."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import grpc

from swarmpy.agent.runtime import NodeRuntime
from swarmpy.api import local_pb2, local_pb2_grpc
from swarmpy.config import DaemonConfig, SwarmState
from swarmpy.engine.images.progress_stream import pull_lines
from swarmpy.errors import InvalidArgument
from swarmpy.membership import Membership
from swarmpy.model import ENGINE_VERSION, NodeRole
from swarmpy.rpc import streaming, unary

Ctx = grpc.aio.ServicerContext[Any, Any]


class LocalNode(Protocol):
    """What the local API needs of the daemon (swarmpy.daemon.Daemon), and no more."""

    @property
    def config(self) -> DaemonConfig: ...

    @property
    def state(self) -> SwarmState | None: ...

    @property
    def runtime(self) -> NodeRuntime | None: ...

    @property
    def membership(self) -> Membership: ...

    def require_runtime(self) -> NodeRuntime:
        """The node's runtime, made on first use outside a swarm (images, containers)."""
        ...


def reply(value: Any) -> local_pb2.JsonReply:
    return local_pb2.JsonReply(json=json.dumps(value, default=str))


class LocalServicer(local_pb2_grpc.LocalServicer):
    def __init__(self, daemon: LocalNode) -> None:
        self.daemon = daemon

    @unary
    async def Info(self, request: Any, context: Ctx) -> Any:
        d = self.daemon
        state = d.state
        return local_pb2.InfoResponse(
            node_id=state.node_id if state else "",
            swarm_state="active" if state else "inactive",
            is_manager=bool(state and state.role == NodeRole.MANAGER),
            cluster_id=state.cluster_id if state else "",
            addr=state.advertise_addr if state else "",
            managers=list(state.managers) if state else [],
            runc_root=str(d.config.runc_root),
            data_root=str(d.config.data_root),
            hostname=d.config.hostname,
            engine_version=ENGINE_VERSION,
        )

    @unary
    async def SwarmInit(self, request: Any, context: Ctx) -> Any:
        node_id, token, addr = await self.daemon.membership.swarm_init(
            request.advertise_addr,
            request.listen_addr,
            request.force_new_cluster,
            request.heartbeat_period_s,
            request.task_history_limit,
            request.node_cert_expiry_s,
        )
        return local_pb2.SwarmInitResponse(node_id=node_id, worker_token=token, manager_addr=addr)

    @unary
    async def SwarmJoin(self, request: Any, context: Ctx) -> Any:
        node_id, role = await self.daemon.membership.swarm_join(
            request.token, request.remote_addr, request.advertise_addr, request.listen_addr
        )
        return local_pb2.SwarmJoinResponse(node_id=node_id, role=role)

    @unary
    async def SwarmLeave(self, request: Any, context: Ctx) -> Any:
        await self.daemon.membership.swarm_leave(request.force)
        return reply({})

    # ------------------------------------------------------------------ containers

    @property
    def containers(self) -> Any:
        return self.daemon.require_runtime().containers

    @unary
    async def ListContainers(self, request: Any, context: Ctx) -> Any:
        rows = await self.containers.list(all=request.all)
        return reply(
            [
                {
                    "ID": c.short_id,
                    "Id": c.id,
                    "Image": c.image,
                    "Command": c.command,
                    "CreatedAt": c.created,
                    "Status": c.status,
                    "State": c.state,
                    "Names": c.name,
                }
                for c in rows
            ]
        )

    @unary
    async def InspectContainer(self, request: Any, context: Ctx) -> Any:
        return reply(await self.containers.inspect(request.ref))

    @unary
    async def ContainerAction(self, request: Any, context: Ctx) -> Any:
        c = self.containers
        action = request.action
        if action == "stop":
            # The CLI always sends -t (docker's default is 10): 0 must mean "kill now".
            return reply(await c.stop(request.ref, max(request.grace_s, 0.0)))
        if action == "kill":
            return reply(await c.kill(request.ref, request.signal or "KILL"))
        if action == "rm":
            return reply(await c.rm(request.ref, request.force))
        if action == "pause":
            return reply(await c.pause(request.ref))
        if action == "unpause":
            return reply(await c.unpause(request.ref))
        if action == "top":
            titles, rows = await c.top(request.ref)
            return reply({"Titles": titles, "Processes": rows})
        if action == "stats":
            return reply(dataclasses.asdict(await c.stats(request.ref)))
        raise InvalidArgument(f"unknown container action {action!r}")

    @streaming
    async def ContainerLogs(self, request: Any, context: Ctx) -> AsyncIterator[Any]:
        tail = request.tail if request.tail >= 0 else None
        async for chunk in self.containers.logs(request.ref, follow=request.follow, tail=tail):
            yield local_pb2.Chunk(data=chunk)

    @unary
    async def ExecArgv(self, request: Any, context: Ctx) -> Any:
        argv = await self.containers.runc_exec_argv(
            request.ref, list(request.cmd), tty=request.tty, interactive=request.interactive
        )
        return reply(argv)

    # ------------------------------------------------------------------ images

    @property
    def images(self) -> Any:
        return self.daemon.require_runtime().images

    @streaming
    async def PullImage(self, request: Any, context: Ctx) -> AsyncIterator[Any]:
        async for line in pull_lines(self.images, request.ref):
            yield local_pb2.Chunk(data=(line + "\n").encode())

    @unary
    async def LoadImage(self, request: Any, context: Ctx) -> Any:
        records = await asyncio.to_thread(self.images.load, Path(request.path))
        return reply([{"Id": r.id, "RepoTags": list(r.repo_tags)} for r in records])

    @unary
    async def ListImages(self, request: Any, context: Ctx) -> Any:
        return reply([dataclasses.asdict(row) for row in self.images.list()])

    @unary
    async def InspectImage(self, request: Any, context: Ctx) -> Any:
        return reply(self.images.inspect(request.ref))

    @unary
    async def RemoveImage(self, request: Any, context: Ctx) -> Any:
        in_use = None
        if not request.force:
            used = await self.containers.images_in_use()

            def in_use_fn(image_id: str) -> bool:
                return image_id in used

            in_use = in_use_fn
        return reply(self.images.remove(request.ref, in_use))

    @unary
    async def ImageHistory(self, request: Any, context: Ctx) -> Any:
        return reply(self.images.history(request.ref))

    @unary
    async def LocalNetworks(self, request: Any, context: Ctx) -> Any:
        runtime = self.daemon.runtime
        if runtime is None:
            return reply({})
        present = set(runtime.network.local_networks()) | set(runtime.networks)
        return reply(
            {
                net_id: {
                    "Name": runtime.networks[net_id].name if net_id in runtime.networks else net_id,
                    "Containers": runtime.network.local_containers(net_id),
                }
                for net_id in present
            }
        )
