"""`node rm` over real mutual-TLS grpc.aio servers on 127.0.0.1: from the moment a node is
removed, every call its certificate makes is refused with the removed-node marker, by the
leader and a follower alike; its open session ends at once and its agent stops for good."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from swarmpy import tls
from swarmpy.agent.agent import Agent
from swarmpy.agent.exec import Controller
from swarmpy.agent.worker import Worker
from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc
from swarmpy.ca import certificates as ca
from swarmpy.manager.controlapi.nodes import NodeAPI
from swarmpy.manager.dispatcher.dispatcher import Dispatcher
from swarmpy.manager.logbroker import LogBroker
from swarmpy.manager.nodeca import NodeCAServicer
from swarmpy.manager.state.store import CLUSTERS, NODES, LocalLog, Store, Tx
from swarmpy.model import Cluster, NodeRole, Resources, Task
from swarmpy.protocol import removed_node
from tests.support.builders import CLUSTER, node, node_credentials
from tests.support.poll import wait_for_async

pytestmark = pytest.mark.fakeserver


@dataclass
class Manager:
    """One manager's port: the dispatcher, NodeCA and log broker over one store."""

    port: int
    server: grpc.aio.Server
    dispatcher: Dispatcher
    broker: LogBroker


@dataclass
class Env:
    root: ca.RootCA
    store: Store
    leader: Manager
    follower: Manager

    def channel(self, creds: tls.NodeCredentials, port: int) -> grpc.aio.Channel:
        return tls.secure_channel(f"127.0.0.1:{port}", creds.ca_pem, creds.cert_pem, creds.key_pem)


async def _no_member(addr: str) -> None:
    raise AssertionError(f"nobody joins Raft here ({addr})")


async def _serve(store: Store, root: ca.RootCA, leading: bool) -> Manager:
    dispatcher = Dispatcher(store, root.cert_pem, lambda: leading, lambda: "127.0.0.1:1")
    broker = LogBroker(
        store, root.cert_pem, lambda: leading, lambda: None, dispatcher.check_session
    )
    me = node_credentials(root, "id-mgr", NodeRole.MANAGER)
    server = grpc.aio.server()
    dispatcher_pb2_grpc.add_DispatcherServicer_to_server(dispatcher, server)
    dispatcher_pb2_grpc.add_LogBrokerServicer_to_server(broker, server)
    dispatcher_pb2_grpc.add_NodeCAServicer_to_server(
        NodeCAServicer(store, _no_member, lambda: []), server
    )
    port = server.add_secure_port(
        "127.0.0.1:0", tls.server_credentials(me.cert_pem, me.key_pem, root.cert_pem)
    )
    await server.start()
    return Manager(port, server, dispatcher, broker)


@contextlib.asynccontextmanager
async def managers() -> AsyncIterator[Env]:
    """A leader and a follower over one store: a cluster, two workers, a manager and a
    demoted manager (a worker in the store that kept its manager certificate)."""
    root = ca.create_root_ca()
    store = Store(LocalLog())

    def setup(tx: Tx) -> None:
        tx.create(
            CLUSTERS, Cluster(id=CLUSTER, root_ca_cert=root.cert_pem, root_ca_key=root.key_pem)
        )
        for name in ("w1", "w2", "d1"):
            tx.create(NODES, node(name))
        tx.create(NODES, node("mgr", role=NodeRole.MANAGER))
        tx.create(NODES, node("left", role=NodeRole.MANAGER))  # a manager that left Raft

    await store.update(setup)
    leader = await _serve(store, root, leading=True)
    follower = await _serve(store, root, leading=False)
    loops = [asyncio.create_task(m.run()) for m in (leader.dispatcher, leader.broker)]
    try:
        yield Env(root, store, leader, follower)
    finally:
        for m in (leader, follower):
            await m.dispatcher.stop()
            await m.broker.stop()
            await m.server.stop(None)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)


def _no_controller(task: Task) -> Controller:
    raise AssertionError(f"no task is assigned here ({task.id})")


def agent(creds: tls.NodeCredentials, port: int, on_removed: Callable[[str], None]) -> Agent:
    return Agent(
        creds,
        managers=[f"127.0.0.1:{port}"],
        hostname="w1",
        addr="127.0.0.1",
        worker_factory=lambda report: Worker(_no_controller, report),
        on_view=lambda view: None,
        on_managers=lambda managers: None,
        resources=Resources(),
        on_removed=on_removed,
    )


async def refusal(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def _first(stream: Any) -> Any:
    async for message in stream:
        return message
    return None


async def _one(message: Any) -> AsyncIterator[Any]:
    yield message


def removed_calls(channel: grpc.aio.Channel) -> dict[str, Awaitable[Any]]:
    """Every call a node makes with its certificate, on one manager."""
    dispatcher = dispatcher_pb2_grpc.DispatcherStub(channel)
    broker = dispatcher_pb2_grpc.LogBrokerStub(channel)
    nodeca = dispatcher_pb2_grpc.NodeCAStub(channel)
    return {
        "Session": _first(dispatcher.Session(dispatcher_pb2.SessionRequest())),
        "Heartbeat": _first(
            dispatcher.Heartbeat(_one(dispatcher_pb2.HeartbeatRequest(session_id="s")))
        ),
        "UpdateTaskStatus": _first(
            dispatcher.UpdateTaskStatus(
                _one(dispatcher_pb2.UpdateTaskStatusRequest(session_id="s"))
            )
        ),
        "Assignments": _first(
            dispatcher.Assignments(dispatcher_pb2.AssignmentsRequest(session_id="s"))
        ),
        "RenewNodeCertificate": nodeca.RenewNodeCertificate(
            dispatcher_pb2.RenewNodeCertificateRequest(csr_pem=ca.create_csr(ca.generate_key()))
        ),
        "ListenSubscriptions": _first(
            broker.ListenSubscriptions(dispatcher_pb2.ListenSubscriptionsRequest(session_id="s"))
        ),
        "PublishLogs": broker.PublishLogs(_one(dispatcher_pb2.PublishLogsMessage())),
    }


def test_a_removed_nodes_session_ends_at_once_and_every_call_is_refused_everywhere() -> None:
    async def scenario() -> None:
        async with managers() as env:
            w1 = node_credentials(env.root, "id-w1", NodeRole.WORKER)
            removed = asyncio.Event()
            told: list[str] = []

            def on_removed(node_id: str) -> None:
                told.append(node_id)
                removed.set()

            a = agent(w1, env.leader.port, on_removed)
            a.start()
            try:
                await wait_for_async("w1's session", lambda: a.connected_to, 10)
                await NodeAPI(env.store, lambda: []).remove("id-w1", force=True)
                async with asyncio.timeout(5):
                    await removed.wait()
                assert told == ["id-w1"]
                assert a.connected_to is None
            finally:
                await a.stop()
            assert env.store.view().get(NODES, "id-w1") is None

            for manager in (env.leader, env.follower):
                async with env.channel(w1, manager.port) as channel:
                    for name, call in removed_calls(channel).items():
                        error = await refusal(call)
                        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, name
                        assert error.details() == "node id-w1 was removed from the swarm", name
                        assert removed_node(error) == "id-w1", name

            # Another node is not touched: it still opens sessions.
            w2 = node_credentials(env.root, "id-w2", NodeRole.WORKER)
            async with env.channel(w2, env.leader.port) as channel:
                stub = dispatcher_pb2_grpc.DispatcherStub(channel)
                first = await _first(stub.Session(dispatcher_pb2.SessionRequest()))
                assert first.session_id

    asyncio.run(scenario())


def test_a_demoted_or_removed_managers_certificate_no_longer_opens_manager_calls() -> None:
    async def scenario() -> None:
        async with managers() as env:
            request = dispatcher_pb2.SubscribeLogsRequest()
            mgr = node_credentials(env.root, "id-mgr", NodeRole.MANAGER)
            async with env.channel(mgr, env.leader.port) as channel:
                stub = dispatcher_pb2_grpc.LogBrokerStub(channel)
                assert await _first(stub.SubscribeLogs(request)) is None

            demoted = node_credentials(env.root, "id-d1", NodeRole.MANAGER)
            async with env.channel(demoted, env.leader.port) as channel:
                stub = dispatcher_pb2_grpc.LogBrokerStub(channel)
                error = await refusal(_first(stub.SubscribeLogs(request)))
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "node id-d1 is no longer a manager" in (error.details() or "")
            assert removed_node(error) is None

            # A manager that left Raft and was removed: the call managers relay is refused.
            await NodeAPI(env.store, lambda: []).remove("id-left", force=True)
            left = node_credentials(env.root, "id-left", NodeRole.MANAGER)
            for manager in (env.leader, env.follower):
                async with env.channel(left, manager.port) as channel:
                    stub = dispatcher_pb2_grpc.LogBrokerStub(channel)
                    error = await refusal(_first(stub.SubscribeLogs(request)))
                assert error.details() == "node id-left was removed from the swarm"
                assert removed_node(error) == "id-left"

    asyncio.run(scenario())
