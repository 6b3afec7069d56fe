"""gRPC face of the control API: protobuf in, model objects through, protobuf out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from swarmpy import codec
from swarmpy.api import control_pb2, control_pb2_grpc, objects_pb2
from swarmpy.ca import rotation
from swarmpy.errors import InvalidArgument, NotAManager
from swarmpy.manager.controlapi.cluster import ClusterUpdate
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.model import Cluster, ServiceSpec, TLSInfo
from swarmpy.rpc import unary

Ctx = grpc.aio.ServicerContext[Any, Any]


def cluster_info(cluster: Cluster, managers: list[str]) -> control_pb2.ClusterInfo:
    return control_pb2.ClusterInfo(
        id=cluster.id,
        worker_token=cluster.tokens.worker,
        manager_token=cluster.tokens.manager,
        heartbeat_period_s=cluster.heartbeat_period_s,
        task_history_limit=cluster.task_history_limit,
        created_at=cluster.created_at,
        manager_addrs=managers,
        node_cert_expiry_s=cluster.node_cert_expiry_s,
        tls_info=codec.to_proto(rotation.cluster_tls_info(cluster), objects_pb2.TLSInfo()),
        root_rotation_in_progress=cluster.root_rotation is not None,
        rotation_tls_info=codec.to_proto(
            rotation.rotation_tls_info(cluster) or TLSInfo(), objects_pb2.TLSInfo()
        ),
    )


def service_spec(msg: Any) -> ServiceSpec:
    """The request's spec as the model has it; a value no field takes (a mode or restart
    condition that does not exist) is the client's error, not an internal one."""
    try:
        return codec.from_proto(ServiceSpec, msg)
    except ValueError as exc:
        raise InvalidArgument(f"invalid service spec: {exc}") from None


class ControlServicer(control_pb2_grpc.ControlServicer):
    """Serves the control API when this node is a manager, refuses it otherwise.

    ``api`` is looked up on every call because the node can become (or stop being) a
    manager while the daemon runs.
    """

    def __init__(self, api: Callable[[], ControlAPI | None]) -> None:
        self._api = api
        self._messages = codec.MessageCache()  # tasks are polled (progress views, ps)

    def api(self) -> ControlAPI:
        api = self._api()
        if api is None:
            raise NotAManager()
        return api

    def reader(self) -> ControlAPI:
        """The API for a read, refused while this manager knows no leader."""
        api = self.api()
        api.check_leader()
        return api

    @unary
    async def ListNodes(self, request: Any, context: Ctx) -> Any:
        nodes = self.reader().nodes.list()
        return control_pb2.ListNodesResponse(
            nodes=[codec.to_proto(n, objects_pb2.Node()) for n in nodes]
        )

    @unary
    async def GetCluster(self, request: Any, context: Ctx) -> Any:
        api = self.api()
        return cluster_info(api.cluster.get(), api.cluster.manager_addrs())

    @unary
    async def UpdateCluster(self, request: Any, context: Ctx) -> Any:
        api = self.api()
        update = ClusterUpdate(
            node_cert_expiry_s=(
                request.node_cert_expiry_s if request.HasField("node_cert_expiry_s") else None
            ),
            heartbeat_period_s=(
                request.heartbeat_period_s if request.HasField("heartbeat_period_s") else None
            ),
            task_history_limit=(
                request.task_history_limit if request.HasField("task_history_limit") else None
            ),
            rotate_ca=request.rotate_ca,
            ca_cert=request.ca_cert,
            ca_key=request.ca_key,
        )
        return cluster_info(await api.cluster.update(update), api.cluster.manager_addrs())

    @unary
    async def CreateService(self, request: Any, context: Ctx) -> Any:
        spec = service_spec(request)
        service = await self.api().services.create(spec)
        return codec.to_proto(service, objects_pb2.Service())

    @unary
    async def UpdateService(self, request: Any, context: Ctx) -> Any:
        spec = service_spec(request.spec) if request.HasField("spec") else None
        service = await self.api().services.update(request.ref, spec, request.rollback)
        return codec.to_proto(service, objects_pb2.Service())

    @unary
    async def GetService(self, request: Any, context: Ctx) -> Any:
        return codec.to_proto(self.reader().services.get(request.ref), objects_pb2.Service())

    @unary
    async def RemoveService(self, request: Any, context: Ctx) -> Any:
        await self.api().services.remove(request.ref)
        return control_pb2.Empty()

    @unary
    async def ListTasks(self, request: Any, context: Ctx) -> Any:
        api = self.reader()
        tasks = api.tasks.list(list(request.services), list(request.nodes))
        return control_pb2.ListTasksResponse(
            tasks=[self._messages.get(t, objects_pb2.Task) for t in tasks],
            nodes=[self._messages.get(n, objects_pb2.Node) for n in api.nodes.list()],
        )

    @unary
    async def CreateNetwork(self, request: Any, context: Ctx) -> Any:
        network = await self.api().networks.create(
            name=request.name,
            driver=request.driver,
            subnet=request.subnet,
            gateway=request.gateway,
            attachable=request.attachable,
            labels=dict(request.labels),
            options=dict(request.options),
        )
        return codec.to_proto(network, objects_pb2.Network())

    @unary
    async def GetNetwork(self, request: Any, context: Ctx) -> Any:
        return codec.to_proto(self.reader().networks.get(request.ref), objects_pb2.Network())

    @unary
    async def ListNetworks(self, request: Any, context: Ctx) -> Any:
        return control_pb2.ListNetworksResponse(
            networks=[
                codec.to_proto(n, objects_pb2.Network()) for n in self.reader().networks.list()
            ]
        )

    @unary
    async def RemoveNetwork(self, request: Any, context: Ctx) -> Any:
        await self.api().networks.remove(request.ref)
        return control_pb2.Empty()
