"""The Engine API in process over a store with a local log, for the fake-server tier.

    async with engine_api() as api:
        await api.client.get("/v1.41/nodes")

``FakeNode`` stands for the daemon: a ControlAPI over ``Store(LocalLog())`` bootstrapped with
a cluster and one ready manager (``MANAGER_ID``), a membership that records what it is asked,
and a log relay that replays the lines a test gives it. ``api.worker()`` turns the node into a
worker, ``api.outside_swarm()`` into a node in no swarm.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from swarmpy.api import dispatcher_pb2
from swarmpy.ca import certificates as ca
from swarmpy.ca import keywrap
from swarmpy.config import DaemonConfig, SwarmState
from swarmpy.manager.controlapi.common import RaftMember
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.sealing import new_data_key
from swarmpy.manager.state.store import CLUSTERS, NODES, LocalLog, Store, Tx
from swarmpy.model import (
    Cluster,
    ManagerStatus,
    Node,
    NodeAvailability,
    NodeRole,
    NodeState,
    Resources,
    now,
)
from swarmpy.server.app import make_app
from swarmpy.server.events import EventLog

MANAGER_ID = "manager1node000000000000a"
CLUSTER_ID = "cluster1000000000000000aa"
RAFT_ADDR = "127.0.0.1:2378"
API_ADDR = "127.0.0.1:2377"


@dataclass
class FakeMembership:
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    async def swarm_init(
        self,
        advertise_addr: str,
        listen_addr: str,
        force_new_cluster: bool,
        heartbeat_period_s: float,
        task_history_limit: int,
        node_cert_expiry_s: float,
        autolock: bool = False,
        availability: NodeAvailability = NodeAvailability.ACTIVE,
    ) -> tuple[str, str, str]:
        self.calls.append(
            (
                "init",
                (
                    advertise_addr,
                    listen_addr,
                    force_new_cluster,
                    heartbeat_period_s,
                    task_history_limit,
                    node_cert_expiry_s,
                    autolock,
                    str(availability),
                ),
            )
        )
        return "newnode", "SWMTKN-1-x-y", advertise_addr

    async def swarm_join(
        self, token: str, remote_addr: str, advertise_addr: str, listen_addr: str
    ) -> tuple[str, str]:
        self.calls.append(("join", (token, remote_addr, advertise_addr, listen_addr)))
        return "joined", "worker"

    async def swarm_leave(self, force: bool) -> None:
        self.calls.append(("leave", (force,)))


@dataclass
class FakeRelay:
    """Replays ``lines`` for every subscription and records the subscriptions; with
    ``follow`` it then waits, as the broker does for more lines, until the subscriber leaves
    (``open`` counts the subscriptions still running)."""

    lines: list[dispatcher_pb2.LogMessage] = field(default_factory=list)
    requests: list[dispatcher_pb2.SubscribeLogsRequest] = field(default_factory=list)
    open: int = 0

    async def subscribe_logs(self, request: Any) -> AsyncIterator[Any]:
        self.requests.append(request)
        self.open += 1
        try:
            for line in self.lines:
                yield line
            if request.follow:
                await asyncio.Event().wait()
        finally:
            self.open -= 1


@dataclass
class FakeNode:
    config: DaemonConfig
    state: SwarmState | None
    membership: FakeMembership
    manager: FakeRelay | None
    api: ControlAPI | None
    leader: bool = True
    # The node's engine as the network endpoints read it (swarmpy.agent.runtime.NodeRuntime):
    # none unless a test gives one.
    runtime: Any = None
    # Standalone containers (swarmpy.standalone): none unless a test gives them.
    standalone: Any = None
    # Autolock as the daemon has it: locked until `unlock` gets ``unlock_key``.
    locked: bool = False
    unlock_key: str = ""
    roles_changed: asyncio.Event = field(default_factory=asyncio.Event)

    def control_api(self) -> ControlAPI | None:
        return self.api

    async def unlock(self, human_key: str) -> None:
        keywrap.parse_human_readable(human_key)
        if human_key != self.unlock_key:
            raise keywrap.InvalidUnlockKey()
        self.locked = False

    def require_runtime(self) -> Any:
        """No local engine here: the swarm's endpoints never ask for one, and a test of the
        node-local ones brings its own."""
        raise AssertionError("the fake node has no local engine")


@dataclass
class EngineApi:
    node: FakeNode
    store: Store
    client: TestClient[Any, Any]
    events: EventLog

    def worker(self) -> None:
        assert self.node.state is not None
        self.node.state = SwarmState(MANAGER_ID, CLUSTER_ID, NodeRole.WORKER, API_ADDR, "127.0.0.1")
        self.node.api = None
        self.node.manager = None

    def outside_swarm(self) -> None:
        self.node.state = None
        self.node.api = None
        self.node.manager = None


def _bootstrap(tx: Tx, root: ca.RootCA) -> None:
    stamp = now()
    tx.create(
        CLUSTERS,
        Cluster(
            id=CLUSTER_ID,
            root_ca_cert=root.cert_pem,
            tokens=ca.generate_join_tokens(root.cert_pem),
            created_at=stamp,
            updated_at=stamp,
        ),
    )
    tx.create(
        NODES,
        Node(
            id=MANAGER_ID,
            hostname="host1",
            role=NodeRole.MANAGER,
            state=NodeState.READY,
            addr="127.0.0.1",
            resources=Resources(nano_cpus=2_000_000_000, memory_bytes=1 << 30),
            manager=ManagerStatus(raft_addr=RAFT_ADDR, api_addr=API_ADDR),
            created_at=stamp,
            updated_at=stamp,
        ),
    )


@contextlib.asynccontextmanager
async def engine_api(lines: Sequence[dispatcher_pb2.LogMessage] = ()) -> AsyncIterator[EngineApi]:
    store = Store(LocalLog())
    root = ca.create_root_ca()
    await store.update(lambda tx: _bootstrap(tx, root))
    holder: dict[str, FakeNode] = {}

    def members() -> list[RaftMember]:
        return [RaftMember(RAFT_ADDR, holder["node"].leader, True)]

    with tempfile.TemporaryDirectory(prefix="spapi-") as tmp:
        node = FakeNode(
            config=DaemonConfig(data_root=Path(tmp)),
            state=SwarmState(MANAGER_ID, CLUSTER_ID, NodeRole.MANAGER, API_ADDR, "127.0.0.1"),
            membership=FakeMembership(),
            manager=FakeRelay(list(lines)),
            api=ControlAPI(store, members, data_key=new_data_key()),
        )
        holder["node"] = node
        events = EventLog(node)
        async with TestClient(TestServer(make_app(node, events), host="127.0.0.1")) as client:
            yield EngineApi(node, store, client, events)


def issue(root: ca.RootCA, name: str, directory: Path) -> tuple[Path, Path]:
    key = ca.generate_key()
    cert = ca.sign_node_csr(root, ca.create_csr(key), name, NodeRole.WORKER, "cluster")
    (directory / f"{name}-key.pem").write_text(key)
    (directory / f"{name}-cert.pem").write_text(cert)
    return directory / f"{name}-cert.pem", directory / f"{name}-key.pem"


def client_context(root_pem: Path, cert: tuple[Path, Path] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(root_pem))
    # The server certificate names a node, not 127.0.0.1: trust comes from the CA here.
    context.check_hostname = False
    if cert is not None:
        context.load_cert_chain(*cert)
    return context
