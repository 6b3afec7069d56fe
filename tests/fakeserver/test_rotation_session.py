"""A root rotation end to end in one process, over a real mutual-TLS grpc.aio server on
127.0.0.1: the dispatcher's session tells the agent the roots changed, the node's renewer
gets a certificate from the node CA through the cross-signed root, the rotation loop ends
the rotation once the node moved, and the node renews again to trust only the new root.
Also `swarm update`'s heartbeat period reaching the agent through its session."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from swarmpy import tls
from swarmpy.agent.agent import Agent
from swarmpy.agent.exec import Controller
from swarmpy.agent.worker import Worker
from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc
from swarmpy.ca import certificates as ca
from swarmpy.ca import rotation
from swarmpy.config import DaemonConfig, SwarmState
from swarmpy.manager.carotation import RootRotationLoop
from swarmpy.manager.controlapi.cluster import ClusterAPI, ClusterUpdate
from swarmpy.manager.dispatcher.dispatcher import Dispatcher
from swarmpy.manager.manager import LeaderLoop, Manager
from swarmpy.manager.nodeca import NodeCAServicer
from swarmpy.manager.state.store import CLUSTERS, NODES, LocalLog, Store, Tx
from swarmpy.membership import Membership
from swarmpy.model import Cluster, NodeRole, Resources, Task
from tests.support.builders import CLUSTER, node, node_credentials
from tests.support.poll import wait_for_async

pytestmark = pytest.mark.fakeserver


async def _no_member(addr: str) -> None:
    raise AssertionError(f"nobody joins Raft here ({addr})")


def _no_controller(task: Task) -> Controller:
    raise AssertionError(f"no task is assigned here ({task.id})")


@dataclass
class FakeNode:
    """What Membership needs of the daemon: a worker's state, credentials and agent."""

    config: DaemonConfig
    state: SwarmState | None
    creds: tls.NodeCredentials | None
    agent: Agent | None = None
    manager: Manager | None = None
    roles: list[str] = field(default_factory=list)

    def set_node(self, node_id: str) -> None:
        self.roles.append(f"node {node_id}")

    async def start_roles(self, force_new_cluster: bool = False) -> None:
        raise AssertionError("a renewal starts no role")

    async def stop_roles(self) -> None:
        raise AssertionError("a renewal stops no role")

    async def start_manager(self, force_new_cluster: bool = False) -> Manager:
        raise AssertionError("a worker's renewal starts no manager")

    async def stop_manager(self) -> None:
        raise AssertionError("a worker's renewal stops no manager")

    def kek(self) -> bytes | None:
        return None  # a worker's key material is never locked

    def use_kek(self, kek: bytes | None) -> None:
        raise AssertionError("a worker's renewal locks nothing")


@dataclass
class Env:
    store: Store
    root: ca.RootCA
    node: FakeNode
    membership: Membership
    agent: Agent


@contextlib.asynccontextmanager
async def swarm(data_root: Path) -> AsyncIterator[Env]:
    """A manager port (dispatcher, node CA) serving live credentials, its leader loops (the
    dispatcher, the rotation loop), and one worker with its agent and renewer."""
    root = ca.create_root_ca()
    store = Store(LocalLog())

    def setup(tx: Tx) -> None:
        cluster = Cluster(id=CLUSTER, root_ca_cert=root.cert_pem, root_ca_key=root.key_pem)
        tx.create(CLUSTERS, cluster)
        tx.create(NODES, node("w1", tls_info=rotation.issued_tls_info(cluster)))

    await store.update(setup)
    manager_creds = {"creds": node_credentials(root, "id-mgr", NodeRole.MANAGER)}
    dispatcher = Dispatcher(store, root.cert_pem, lambda: True, lambda: None)
    server = grpc.aio.server()
    dispatcher_pb2_grpc.add_DispatcherServicer_to_server(dispatcher, server)
    dispatcher_pb2_grpc.add_NodeCAServicer_to_server(
        NodeCAServicer(store, _no_member, lambda: []), server
    )
    port = server.add_secure_port(
        "127.0.0.1:0", tls.live_server_credentials(lambda: manager_creds["creds"])
    )
    await server.start()
    loops: list[LeaderLoop] = [dispatcher, RootRotationLoop(store)]
    running = [asyncio.create_task(loop.run()) for loop in loops]
    target = f"127.0.0.1:{port}"
    creds = node_credentials(root, "id-w1", NodeRole.WORKER)
    state = SwarmState("id-w1", CLUSTER, NodeRole.WORKER, "127.0.0.1:2377", "127.0.0.1",
                       managers=(target,))  # fmt: skip
    fake = FakeNode(DaemonConfig(data_root=data_root), state, creds)
    membership = Membership(fake)
    agent = Agent(
        creds,
        managers=[target],
        hostname="w1",
        addr="127.0.0.1",
        worker_factory=lambda report: Worker(_no_controller, report),
        on_view=lambda view: None,
        on_managers=lambda managers: None,
        resources=Resources(),
        on_roots=membership.renewer.renew_soon,
    )
    fake.agent = agent
    agent.start()
    membership.renewer.start()
    try:
        yield Env(store, root, fake, membership, agent)
    finally:
        await membership.renewer.stop()
        await agent.stop()
        for loop in loops:
            await loop.stop()
        await server.stop(None)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def test_a_rotation_moves_a_connected_node_and_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with swarm(tmp_path) as env:
            await wait_for_async("the session", lambda: env.agent.connected_to, timeout=10)
            first = env.node.creds
            assert first is not None
            new_root = ca.create_root_ca()
            api = ClusterAPI(env.store)
            await api.update(
                ClusterUpdate(rotate_ca=True, ca_cert=new_root.cert_pem, ca_key=new_root.key_pem)
            )

            def done() -> bool:
                creds = env.node.creds
                cluster = env.store.view().cluster()
                return (
                    creds is not None
                    and cluster is not None
                    and cluster.root_rotation is None
                    and cluster.root_ca_cert == new_root.cert_pem
                    and ca.same_certificates(creds.ca_pem, new_root.cert_pem)
                )

            await wait_for_async("the rotation to end and the node to follow", done, 20)
            creds = env.node.creds
            assert creds is not None
            # Renewed twice: through the cross-signed root, then under the new root alone.
            assert env.membership.renewer.renewals >= 2
            assert len(ca.split_pems(creds.cert_pem)) == 1
            assert ca.chain_is_trusted(creds.cert_pem, new_root.cert_pem)
            assert not ca.chain_is_trusted(creds.cert_pem, env.root.cert_pem)
            assert creds.identity == first.identity
            # What the node saved is what it uses; the agent has it for its next session.
            assert tls.load_node_credentials(env.node.config.certs_dir) == creds
            assert env.agent.creds == creds
            stored = env.store.view().get(NODES, "id-w1")
            assert stored is not None
            assert rotation.same_issuer(stored.tls_info, rotation.root_tls_info(new_root.cert_pem))
            cluster = env.store.view().cluster()
            assert cluster is not None
            assert ca.token_matches_ca(cluster.tokens.worker, new_root.cert_pem)

    asyncio.run(scenario())


def test_a_new_heartbeat_period_reaches_the_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with swarm(tmp_path) as env:
            await wait_for_async("the session", lambda: env.agent.connected_to, timeout=10)
            await ClusterAPI(env.store).update(ClusterUpdate(heartbeat_period_s=0.5))
            creds = env.node.creds
            assert creds is not None
            async with tls.secure_channel(
                env.agent.connected_to or "", creds.ca_pem, creds.cert_pem, creds.key_pem
            ) as channel:
                stream = dispatcher_pb2_grpc.DispatcherStub(channel).Session(
                    dispatcher_pb2.SessionRequest()
                )
                first: Any = await stream.read()
                assert first.heartbeat_period_s == 0.5
                assert ca.same_certificates(first.root_ca, env.root.cert_pem)
                stream.cancel()

    asyncio.run(scenario())
