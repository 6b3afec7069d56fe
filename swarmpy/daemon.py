"""One process per host: always an agent, also a manager when its certificate says so.

The CLI talks only to this daemon's unix socket. Swarm membership (init, join, leave)
happens here; the manager role (Raft, store, manager port, leader loops) is switched on
and off at runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import grpc

from swarmpy import tls
from swarmpy.agent.agent import Agent
from swarmpy.agent.runtime import NodeRuntime, host_resources
from swarmpy.agent.worker import Worker
from swarmpy.api import control_pb2_grpc, dispatcher_pb2, dispatcher_pb2_grpc, local_pb2_grpc
from swarmpy.ca import certificates as ca
from swarmpy.config import DEFAULT_PORT, DaemonConfig, SwarmState, split_addr
from swarmpy.errors import Conflict, InvalidArgument, NotInSwarm
from swarmpy.loopwatch import watch_loop_lag
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.controlapi.servicer import ControlServicer
from swarmpy.manager.manager import Manager
from swarmpy.model import (
    Cluster,
    ManagerStatus,
    Node,
    NodeRole,
    NodeState,
    new_id,
    now,
)
from swarmpy.rpc import to_error

log = logging.getLogger(__name__)

# How long a demoted manager waits for the leader to drop it from Raft before it stops
# its own log anyway: longer than `node demote` takes (a leadership transfer, then a
# membership change, each bounded by the Raft timeout).
DEMOTION_WAIT_S = 15.0


class NodeIdFilter(logging.Filter):
    """Prefixes every log line with the node id (or the hostname before a swarm)."""

    def __init__(self) -> None:
        super().__init__()
        self.node = os.uname().nodename

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node
        return True


class Daemon:
    def __init__(self, config: DaemonConfig, log_filter: NodeIdFilter | None = None) -> None:
        self.config = config
        self._log_filter = log_filter
        self.state: SwarmState | None = None
        self.creds: tls.NodeCredentials | None = None
        self.manager: Manager | None = None
        self.agent: Agent | None = None
        self.runtime: NodeRuntime | None = None
        self._server: grpc.aio.Server | None = None
        self._stop = asyncio.Event()
        self._membership = asyncio.Lock()
        self._role_change: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ life cycle

    async def run(self) -> None:
        self.config.data_root.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self.state = SwarmState.load(self.config.state_file)
        self.creds = tls.load_node_credentials(self.config.certs_dir)
        watchdog = asyncio.create_task(watch_loop_lag())
        await self._serve_local()
        if self.state is not None and self.creds is not None:
            self._set_node(self.state.node_id)
            await self._start_roles()
        log.info("daemon ready on %s", self.config.host)
        await self._stop.wait()
        watchdog.cancel()
        await self.shutdown()

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("received %s: stopping (containers keep running)", sig.name)
        self._stop.set()

    async def shutdown(self) -> None:
        await self._stop_roles()
        if self._server is not None:
            await self._server.stop(grace=0.5)
        with contextlib.suppress(FileNotFoundError):
            self.config.socket_path.unlink()

    async def _serve_local(self) -> None:
        from swarmpy.local_servicer import LocalServicer

        path = self.config.socket_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        server = grpc.aio.server()
        local_pb2_grpc.add_LocalServicer_to_server(LocalServicer(self), server)
        control_pb2_grpc.add_ControlServicer_to_server(
            ControlServicer(self.control_api, lambda: self.manager), server
        )
        server.add_insecure_port(f"unix://{path}")
        old_umask = os.umask(0o077)  # the socket is root's only, like docker.sock
        try:
            await server.start()
        finally:
            os.umask(old_umask)
        self._server = server

    def control_api(self) -> ControlAPI | None:
        return self.manager.control if self.manager is not None else None

    def _set_node(self, node_id: str) -> None:
        if self._log_filter is not None:
            self._log_filter.node = node_id[:12]

    async def _start_roles(self, force_new_cluster: bool = False) -> None:
        assert self.state is not None and self.creds is not None
        self.runtime = NodeRuntime(self.config, self.state.advertise_addr, self.state.node_id)
        await self.runtime.start()
        if self.state.role == NodeRole.MANAGER:
            self.manager = Manager(self.config, self.state, self.creds, force_new_cluster)
            await self.manager.start()
        runtime = self.runtime
        self.agent = Agent(
            self.creds,
            managers=list(self.state.managers),
            hostname=self.config.hostname,
            addr=self.state.advertise_addr,
            worker_factory=lambda report: Worker(runtime.controller, report, runtime.readopt),
            on_view=runtime.apply_view,
            on_managers=self._remember_managers,
            logs=runtime.containers.logs,
            resources=host_resources(),
            on_role=self._role_changed,
        )
        self.agent.start()

    async def _stop_roles(self) -> None:
        if self.agent is not None:
            await self.agent.stop()
            self.agent = None
        if self.manager is not None:
            await self.manager.stop()
            self.manager = None
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    def _role_changed(self, role: str) -> None:
        if self._role_change is None or self._role_change.done():
            self._role_change = asyncio.create_task(self._take_role(role))
            self._role_change.add_done_callback(_log_role_change)

    async def _take_role(self, role: str) -> None:
        """Renew our certificate for the role the managers gave us, and start or stop the
        manager role to match (`node promote` / `node demote`)."""
        async with self._membership:
            state, creds, agent = self.state, self.creds, self.agent
            if state is None or creds is None or agent is None or creds.identity.role == role:
                return
            key = ca.generate_key()
            target = agent.connected_to or state.managers[0]
            async with tls.secure_channel(
                target, creds.ca_pem, creds.cert_pem, creds.key_pem
            ) as channel:
                reply = await dispatcher_pb2_grpc.NodeCAStub(channel).RenewNodeCertificate(
                    dispatcher_pb2.RenewNodeCertificateRequest(
                        csr_pem=ca.create_csr(key),
                        api_addr=state.api_addr,
                        raft_addr=state.raft_addr,
                    ),
                    timeout=20,
                )
            renewed = tls.NodeCredentials(key_pem=key, cert_pem=reply.cert_pem, ca_pem=creds.ca_pem)
            tls.save_node_credentials(self.config.certs_dir, renewed)
            self.creds = agent.creds = renewed
            if self.manager is not None:
                if reply.role == NodeRole.WORKER and not await self.manager.raft.wait_removed(
                    DEMOTION_WAIT_S
                ):
                    log.warning("demoted, but the managers still list this node in Raft")
                await self.manager.stop()
                self.manager = None
            # A new member starts empty and catches up from the leader; a former one
            # must not keep a copy of the cluster's secrets.
            shutil.rmtree(self.config.raft_dir, ignore_errors=True)
            self.state = replace(
                state,
                role=reply.role,
                raft_password=reply.raft_password,
                raft_members=tuple(reply.raft_members),
                managers=tuple(reply.managers) or state.managers,
            )
            self.state.save(self.config.state_file)
            if reply.role == NodeRole.MANAGER:
                self.manager = Manager(self.config, self.state, renewed)
                await self.manager.start()
            log.info("this node is now a %s", reply.role)

    def _remember_managers(self, managers: list[str]) -> None:
        if self.state is not None and tuple(managers) != self.state.managers:
            self.state = replace(self.state, managers=tuple(managers))
            self.state.save(self.config.state_file)

    # ------------------------------------------------------------------ membership

    def _addresses(self, advertise_addr: str, listen_addr: str) -> tuple[str, str]:
        advertise = advertise_addr or self.config.advertise_addr
        listen = listen_addr or self.config.listen_addr
        if not advertise and listen:
            advertise = split_addr(listen)[0]
        if not advertise or advertise == "0.0.0.0":
            raise InvalidArgument(
                "could not choose an IP address to advertise: use --advertise-addr"
            )
        advertise_host, _ = split_addr(advertise)
        if not listen:
            listen = f"0.0.0.0:{DEFAULT_PORT}"
        host, port = split_addr(listen)
        return advertise_host, f"{host}:{port}"

    def _require_not_in_swarm(self) -> None:
        if self.state is not None:
            raise Conflict(
                'This node is already part of a swarm. Use "swarmpy swarm leave" to leave '
                "this swarm and join another one."
            )

    async def swarm_init(
        self,
        advertise_addr: str,
        listen_addr: str,
        force_new_cluster: bool,
        heartbeat_period_s: float,
        task_history_limit: int,
    ) -> tuple[str, str, str]:
        async with self._membership:
            if force_new_cluster:
                return await self._force_new_cluster()
            self._require_not_in_swarm()
            advertise, listen = self._addresses(advertise_addr, listen_addr)
            root = ca.create_root_ca()
            cluster_id, node_id = new_id(), new_id()
            key = ca.generate_key()
            cert = ca.sign_node_csr(root, ca.create_csr(key), node_id, NodeRole.MANAGER, cluster_id)
            self.creds = tls.NodeCredentials(key_pem=key, cert_pem=cert, ca_pem=root.cert_pem)
            state = SwarmState(
                node_id=node_id,
                cluster_id=cluster_id,
                role=NodeRole.MANAGER,
                listen_addr=listen,
                advertise_addr=advertise,
                raft_password=secrets.token_hex(32),
            )
            state = replace(state, managers=(state.api_addr,), raft_members=(state.raft_addr,))
            self._wipe_swarm_data()
            tls.save_node_credentials(self.config.certs_dir, self.creds)
            self.state = state
            self._set_node(node_id)
            try:
                await self._start_roles()
                assert self.manager is not None
                await self.manager.wait_until_leading()
                stamp = now()
                cluster = Cluster(
                    id=cluster_id,
                    root_ca_cert=root.cert_pem,
                    root_ca_key=root.key_pem,
                    tokens=ca.generate_join_tokens(root.cert_pem),
                    heartbeat_period_s=heartbeat_period_s or 5.0,
                    task_history_limit=task_history_limit if task_history_limit > 0 else 5,
                    raft_secret=state.raft_password,
                    created_at=stamp,
                    updated_at=stamp,
                )
                node = Node(
                    id=node_id,
                    hostname=self.config.hostname,
                    role=NodeRole.MANAGER,
                    state=NodeState.UNKNOWN,
                    addr=advertise,
                    resources=host_resources(),
                    manager=ManagerStatus(raft_addr=state.raft_addr, api_addr=state.api_addr),
                    created_at=stamp,
                    updated_at=stamp,
                )

                def bootstrap(tx):  # type: ignore[no-untyped-def]
                    tx.create("clusters", cluster)
                    tx.create("nodes", node)

                await self.manager.store.update(bootstrap)
            except BaseException:
                await self._stop_roles()
                self.state = None
                self._wipe_swarm_data()
                raise
            state.save(self.config.state_file)
            return node_id, cluster.tokens.worker, state.api_addr

    async def _force_new_cluster(self) -> tuple[str, str, str]:
        if self.state is None or self.state.role != NodeRole.MANAGER:
            raise Conflict("--force-new-cluster needs a node that was a manager of a swarm")
        await self._stop_roles()
        self.state = replace(
            self.state, raft_members=(self.state.raft_addr,), managers=(self.state.api_addr,)
        )
        self.state.save(self.config.state_file)
        await self._start_roles(force_new_cluster=True)
        assert self.manager is not None
        await self.manager.wait_until_leading()
        cluster = self.manager.store.view().cluster()
        # The other managers are gone for good: demote them in the store.
        me = self.state.node_id

        def forget_peers(tx):  # type: ignore[no-untyped-def]
            for node in tx.snapshot.nodes():
                if node.role == NodeRole.MANAGER and node.id != me:
                    tx.replace(
                        "nodes", node.id, role=NodeRole.WORKER, manager=None, state=NodeState.DOWN
                    )

        await self.manager.store.update(forget_peers)
        return me, cluster.tokens.worker if cluster else "", self.state.api_addr

    async def swarm_join(
        self, token: str, remote_addr: str, advertise_addr: str, listen_addr: str
    ) -> tuple[str, str]:
        async with self._membership:
            self._require_not_in_swarm()
            parsed = ca.parse_join_token(token)
            remote_host, remote_port = split_addr(remote_addr)
            advertise, listen = self._addresses(advertise_addr, listen_addr)
            ca_pem = await asyncio.to_thread(
                tls.fetch_root_ca, remote_host, remote_port, parsed.digest
            )
            key = ca.generate_key()
            _, listen_port = split_addr(listen)
            draft = SwarmState("", "", "", listen, advertise)
            channel = tls.secure_channel(f"{remote_host}:{remote_port}", ca_pem)
            async with channel:
                stub = dispatcher_pb2_grpc.NodeCAStub(channel)
                try:
                    reply = await stub.IssueNodeCertificate(
                        dispatcher_pb2.IssueNodeCertificateRequest(
                            token=token,
                            csr_pem=ca.create_csr(key),
                            hostname=self.config.hostname,
                            addr=advertise,
                            api_addr=f"{advertise}:{listen_port}",
                            raft_addr=draft.raft_addr,
                        ),
                        timeout=20,
                    )
                except grpc.aio.AioRpcError as exc:
                    raise to_error(exc, remote_addr) from None
            self.creds = tls.NodeCredentials(key_pem=key, cert_pem=reply.cert_pem, ca_pem=ca_pem)
            state = SwarmState(
                node_id=reply.node_id,
                cluster_id=reply.cluster_id,
                role=reply.role,
                listen_addr=listen,
                advertise_addr=advertise,
                managers=tuple(reply.managers) or (f"{remote_host}:{remote_port}",),
                raft_password=reply.raft_password,
                raft_members=tuple(reply.raft_members),
            )
            self._wipe_swarm_data()
            tls.save_node_credentials(self.config.certs_dir, self.creds)
            state.save(self.config.state_file)
            self.state = state
            self._set_node(state.node_id)
            await self._start_roles()
            return state.node_id, state.role

    async def swarm_leave(self, force: bool) -> None:
        async with self._membership:
            if self.state is None:
                raise NotInSwarm()
            if self.manager is not None:
                if not force:
                    raise Conflict(
                        "You are attempting to leave the swarm on a node that is participating "
                        "as a manager. Removing the last manager erases all current state of "
                        "the swarm. Use `--force` to ignore this message."
                    )
                with contextlib.suppress(Exception):
                    if len(self.manager.raft.members()) > 1:
                        await self.manager.raft.remove_member(self.state.raft_addr)
            await self._stop_roles()
            await self._remove_all_containers()
            self.state = None
            self.creds = None
            self._wipe_swarm_data()

    async def _remove_all_containers(self) -> None:
        runtime = NodeRuntime(self.config, "", "")
        try:
            for info in await runtime.containers.list(all=True):
                with contextlib.suppress(Exception):
                    await runtime.containers.rm(info.id, force=True)
            await runtime.network.cleanup_all()
        finally:
            await runtime.stop()

    def _wipe_swarm_data(self) -> None:
        for path in (self.config.raft_dir, self.config.state_file.parent):
            shutil.rmtree(path, ignore_errors=True)
        tls.remove_node_credentials(self.config.certs_dir)

    # ------------------------------------------------------------------ for the CLI

    def require_runtime(self) -> NodeRuntime:
        if self.runtime is None:
            # Outside a swarm the node still runs images and containers commands.
            self.runtime = NodeRuntime(self.config, "", self.state.node_id if self.state else "")
        return self.runtime


def _log_role_change(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("changing this node's role failed: %s", task.exception())


def _forget_our_signals_in_child() -> None:
    # pyroute2 forks helpers and stops them with SIGTERM. A forked child inherits asyncio's
    # signal wake-up fd, so without this the helper's SIGTERM is read by *our* loop as a
    # request to stop the daemon.
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def configure_logging(level: int = logging.INFO) -> NodeIdFilter:
    node_filter = NodeIdFilter()
    handler = logging.StreamHandler()
    handler.addFilter(node_filter)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(node)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return node_filter


def main(config: DaemonConfig, debug: bool = False) -> None:
    node_filter = configure_logging(logging.DEBUG if debug else logging.INFO)
    os.register_at_fork(after_in_child=_forget_our_signals_in_child)
    Path(config.data_root).mkdir(parents=True, exist_ok=True)
    asyncio.run(Daemon(config, node_filter).run())
