"""The manager role of a node: Raft, the store, the manager port, and the leader's loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import grpc

from swarmpy import tls
from swarmpy.api import dispatcher_pb2_grpc
from swarmpy.config import RAFT_PORT_OFFSET, DaemonConfig, SwarmState, split_addr
from swarmpy.errors import NoLeader, Unavailable
from swarmpy.manager import sealing
from swarmpy.manager.allocator.allocator import Allocator
from swarmpy.manager.autolock import KeyKeeper, NodeKeys
from swarmpy.manager.carotation import RootRotationLoop
from swarmpy.manager.controlapi.common import RaftMember
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.controlloop import ControlLoop
from swarmpy.manager.dispatcher.dispatcher import Dispatcher
from swarmpy.manager.logbroker import LogBroker, subscribe_via_leader
from swarmpy.manager.nodeca import NodeCAServicer
from swarmpy.manager.orchestrator.constraintenforcer import ConstraintEnforcer
from swarmpy.manager.orchestrator.orchestrator import Orchestrator
from swarmpy.manager.orchestrator.taskreaper import TaskReaper
from swarmpy.manager.raftsecret import SecretKeeper, SecretRotation
from swarmpy.manager.resourceapi import ResourceAllocator
from swarmpy.manager.scheduler.scheduler import Scheduler
from swarmpy.manager.state.raft import atrest
from swarmpy.manager.state.raft.log import RaftLog
from swarmpy.manager.state.raft.storage import DUMP_FILE
from swarmpy.manager.state.store import NODES, Store

log = logging.getLogger(__name__)

# How long a manager that just initialised or joined may take to lead (or see a leader).
LEADING_TIMEOUT_S = 15.0


class LeaderLoop(Protocol):
    """What the leader runs: the dispatcher and every control loop."""

    async def run(self) -> None: ...

    async def stop(self) -> None: ...


class Manager:
    def __init__(
        self,
        config: DaemonConfig,
        state: SwarmState,
        creds: tls.NodeCredentials,
        force_new_cluster: bool = False,
        node_keys: NodeKeys | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.creds = creds
        self._loop = asyncio.get_running_loop()
        partners = [m for m in state.raft_members if m != state.raft_addr]
        # The data keys change while the manager runs (a rotation, a swarm's first key): read
        # them from the node each time.
        data_keys: sealing.KeySource = (
            node_keys.data_keys if node_keys is not None else state.data_keys
        )
        self.data_keys = data_keys
        # The Raft files are sealed under them (also those force-new-cluster reads).
        atrest.register(config.raft_dir, data_keys)
        if force_new_cluster:
            self.raft = RaftLog.force_new_cluster(
                state.raft_addr, config.raft_dir, state.raft_password, self._leadership_changed
            )
        else:
            self.raft = RaftLog(
                self_addr=state.raft_addr,
                partners=partners,
                data_dir=config.raft_dir,
                password=state.raft_password,
                on_leadership=self._leadership_changed,
            )
        listen_host, listen_port = split_addr(state.listen_addr)
        self.raft.bind_addr = f"{listen_host}:{listen_port + RAFT_PORT_OFFSET}"
        self.store = Store(self.raft)
        self.raft_secret = SecretKeeper(self.store, self.raft.keys, config.raft_dir)
        self._raft_secret_task: asyncio.Task[None] | None = None
        self.keys = (
            KeyKeeper(self.store, node_keys, self.raft.is_leader) if node_keys is not None else None
        )
        self._keys_task: asyncio.Task[None] | None = None
        self.dispatcher = Dispatcher(
            self.store, creds.ca_pem, self.raft.is_leader, self.leader_api_addr, data_keys
        )
        self.control = ControlAPI(
            self.store,
            self.raft_members,
            remove_raft_member=self.raft.remove_member,
            data_key=data_keys,
        )
        self.logbroker = LogBroker(
            self.store,
            creds.ca_pem,
            self.raft.is_leader,
            self.leader_api_addr,
            self.dispatcher.check_session,
        )
        self.resources = ResourceAllocator(self.store, creds.ca_pem)
        self._server: grpc.aio.Server | None = None
        self._leading: list[LeaderLoop] = []
        self._leading_tasks: list[asyncio.Task[None]] = []
        self._leadership_lock = asyncio.Lock()

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        self.raft_secret.restore()
        # A dump in clear from an earlier version: sealed before pysyncobj loads it.
        if atrest.seal_dump_file(self.config.raft_dir / DUMP_FILE):
            log.info("raft: sealed the dump from an earlier version under the data key")
        self.raft.start()
        self._raft_secret_task = asyncio.create_task(self.raft_secret.run())
        if self.keys is not None:
            self._keys_task = asyncio.create_task(self.keys.run())
        server = grpc.aio.server()
        dispatcher_pb2_grpc.add_DispatcherServicer_to_server(self.dispatcher, server)
        dispatcher_pb2_grpc.add_LogBrokerServicer_to_server(self.logbroker, server)
        dispatcher_pb2_grpc.add_ResourceAllocatorServicer_to_server(self.resources, server)
        dispatcher_pb2_grpc.add_NodeCAServicer_to_server(
            NodeCAServicer(
                self.store, self.raft.add_member, self.raft_member_addrs, self.data_keys
            ),
            server,
        )
        host, port = split_addr(self.state.listen_addr)
        # Read at each handshake: a renewed certificate is served without a restart.
        creds = tls.live_server_credentials(lambda: self.creds)
        bound = server.add_secure_port(f"{host}:{port}", creds)
        if not bound:
            raise Unavailable(f"cannot listen on {host}:{port}")
        await server.start()
        self._server = server
        log.info("manager listening on %s:%d, raft on %s", host, port, self.state.raft_addr)

    def use_credentials(self, creds: tls.NodeCredentials) -> None:
        """This node's renewed certificate (or new roots to trust): new connections, to this
        manager's port and from it, use them from now on."""
        self.creds = creds
        self.dispatcher.ca_pem = self.logbroker.ca_pem = self.resources.ca_pem = creds.ca_pem

    async def stop(self) -> None:
        await self._stop_leading()
        await self.dispatcher.stop()  # sessions held since a step-down end too
        if self._raft_secret_task is not None:
            self._raft_secret_task.cancel()
        if self._keys_task is not None:
            self._keys_task.cancel()
        if self._server is not None:
            await self._server.stop(grace=0.5)
        await self.raft.stop()
        atrest.unregister(self.config.raft_dir)

    async def wait_until_leading(self) -> None:
        try:
            async with asyncio.timeout(LEADING_TIMEOUT_S):
                # pysyncobj's leadership changes on its own thread: no event to await.
                while not (self.raft.is_leader() and self._leading):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise NoLeader() from None

    # ------------------------------------------------------------------ leadership

    def _leadership_changed(self, leading: bool) -> None:
        # pysyncobj calls this from its own thread.
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._set_leading(leading)))

    async def _set_leading(self, leading: bool) -> None:
        async with self._leadership_lock:
            if leading and not self._leading:
                log.info("became leader: starting control loops")
                self._leading = [
                    self.dispatcher,
                    self.logbroker,
                    SecretRotation(self.store, self.raft_member_addrs),
                    *leader_loops(self.store),
                ]
                self._leading_tasks = [
                    asyncio.create_task(self._run_loop(loop)) for loop in self._leading
                ]
            elif not leading and self._leading:
                log.info("lost leadership: stopping control loops")
                await self._stop_leading(hold_sessions=True)

    async def _run_loop(self, loop: LeaderLoop) -> None:
        try:
            await loop.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("control loop %s failed", type(loop).__name__)

    async def _stop_leading(self, *, hold_sessions: bool = False) -> None:
        """Stop the leader's loops; ``hold_sessions``: the dispatcher keeps its agents'
        sessions a moment, in case this manager wins the next election (Dispatcher.step_down)."""
        loops, self._leading = self._leading, []
        for loop in loops:
            if hold_sessions and loop is self.dispatcher:
                self.dispatcher.step_down()
                continue
            with contextlib.suppress(Exception):
                await loop.stop()
        for task in self._leading_tasks:
            task.cancel()
        self._leading_tasks = []

    # ------------------------------------------------------------------ raft views

    def raft_members(self) -> Sequence[RaftMember]:
        return [
            RaftMember(addr=m.addr, leader=m.is_leader, reachable=m.reachable)
            for m in self.raft.members()
        ]

    def raft_member_addrs(self) -> list[str]:
        return [m.addr for m in self.raft.members()]

    def subscribe_logs(self, request: Any) -> AsyncIterator[Any]:
        """A log subscription for this manager's CLI, served by the leader's broker (which may
        be this very process: it then dials itself, which keeps one code path)."""
        return subscribe_via_leader(self.leader_api_addr(), self.creds, request)

    def leader_api_addr(self) -> str | None:
        leader = self.raft.leader()
        if leader is None:
            return None
        for node in self.store.view().all(NODES):
            if node.manager is not None and node.manager.raft_addr == leader:
                return node.manager.api_addr
        return None


def leader_loops(store: Store) -> list[ControlLoop]:
    """In the order of a task's life: services → tasks, addresses, nodes."""
    return [
        Orchestrator(store),
        Allocator(store),
        Scheduler(store),
        ConstraintEnforcer(store),
        TaskReaper(store),
        RootRotationLoop(store),
    ]
