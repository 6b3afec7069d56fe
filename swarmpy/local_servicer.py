"""The daemon's private gRPC local API (swarmpy-grpc.sock, beside the Engine API's socket):
what the CLI commands not yet on the Engine API still ask, swarm init with a node
certificate expiry and the node's own networks with their containers."""

from __future__ import annotations

import json
from typing import Any, Protocol

import grpc

from swarmpy.agent.runtime import NodeRuntime
from swarmpy.api import local_pb2, local_pb2_grpc
from swarmpy.membership import Membership
from swarmpy.rpc import unary

Ctx = grpc.aio.ServicerContext[Any, Any]


class LocalNode(Protocol):
    """What the local API needs of the daemon (swarmpy.daemon.Daemon), and no more."""

    @property
    def runtime(self) -> NodeRuntime | None: ...

    @property
    def membership(self) -> Membership: ...


def reply(value: Any) -> local_pb2.JsonReply:
    return local_pb2.JsonReply(json=json.dumps(value, default=str))


class LocalServicer(local_pb2_grpc.LocalServicer):
    def __init__(self, daemon: LocalNode) -> None:
        self.daemon = daemon

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
