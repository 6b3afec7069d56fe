"""This node's place in a swarm: init, join, leave, and the role the managers give it.

The node's certificate is its identity and its role (see swarmpy.nodecert, which asks the
managers for one); this module decides when it needs a new one and what the node keeps of
its swarm (the saved `SwarmState`). Starting and stopping the roles is the daemon's job,
reached through `NodeRoles`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import shutil
from dataclasses import replace
from typing import Protocol

from swarmpy import nodecert, tls
from swarmpy.agent.agent import Agent
from swarmpy.agent.container import ANN_TASK_ID
from swarmpy.agent.runtime import NodeRuntime, host_resources
from swarmpy.ca import certificates as ca
from swarmpy.ca import keywrap, rotation
from swarmpy.config import DEFAULT_PORT, DaemonConfig, SwarmState, split_addr
from swarmpy.errors import Conflict, InvalidArgument, NotInSwarm, SwarmpyError, Unavailable
from swarmpy.manager import sealing
from swarmpy.manager.allocator.network import ingress_network
from swarmpy.manager.controlapi.cluster import (
    UNLOCK_KEY_ID,
    check_heartbeat_period,
    check_task_history_limit,
)
from swarmpy.manager.manager import Manager
from swarmpy.manager.orchestrator.taskreaper import DEFAULT_HISTORY_LIMIT
from swarmpy.manager.state.store import CLUSTERS, NETWORKS, NODES
from swarmpy.model import (
    DEFAULT_NODE_CERT_EXPIRY_S,
    Cluster,
    ManagerStatus,
    Node,
    NodeAvailability,
    NodeRole,
    NodeState,
    new_id,
    now,
)
from swarmpy.protocol import DEFAULT_HEARTBEAT_PERIOD_S
from swarmpy.renewal import CertRenewer
from swarmpy.server.backend import SWARM_LOCKED

log = logging.getLogger(__name__)

# How long a demoted manager waits for the leader to drop it from Raft before it stops
# its own log anyway: longer than `node demote` takes (a leadership transfer, then a
# membership change, each bounded by the Raft timeout).
DEMOTION_WAIT_S = 15.0

# How long `swarm init` waits for the new node's own agent to register (the node Ready in
# the store) before it answers, as dockerd's init waits for its node to be ready: a user's
# next `node ls` then shows the node Ready, not Unknown. Past it, init answers anyway and
# the agent goes on registering.
INIT_READY_WAIT_S = 20.0


async def _until_ready(manager: Manager, node_id: str, timeout_s: float) -> None:
    """Until the store has ``node_id`` Ready (its agent registered), or ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        node = manager.store.view().get(NODES, node_id)
        if node is not None and node.state == NodeState.READY:
            return
        await asyncio.sleep(0.05)
    log.warning("node %s not Ready %gs after swarm init; going on", node_id, timeout_s)


class NodeRoles(Protocol):
    """What membership needs of the process that runs this node's roles (the daemon)."""

    config: DaemonConfig
    state: SwarmState | None
    creds: tls.NodeCredentials | None

    @property
    def manager(self) -> Manager | None: ...

    @property
    def agent(self) -> Agent | None: ...

    def set_node(self, node_id: str) -> None: ...

    def kek(self) -> bytes | None: ...

    def use_kek(self, kek: bytes | None) -> None: ...

    async def start_roles(self, force_new_cluster: bool = False) -> None: ...

    async def stop_roles(self) -> None: ...

    async def start_manager(self, force_new_cluster: bool = False) -> Manager: ...

    async def stop_manager(self) -> None: ...


def configured(
    cluster: Cluster, heartbeat_period_s: float, task_history_limit: int, node_cert_expiry_s: float
) -> Cluster:
    """A new cluster with `swarm init`'s settings, zero meaning the default, each checked."""
    return replace(
        cluster,
        heartbeat_period_s=check_heartbeat_period(heartbeat_period_s or DEFAULT_HEARTBEAT_PERIOD_S),
        task_history_limit=check_task_history_limit(
            task_history_limit if task_history_limit > 0 else DEFAULT_HISTORY_LIMIT
        ),
        node_cert_expiry_s=rotation.check_node_cert_expiry(
            node_cert_expiry_s or DEFAULT_NODE_CERT_EXPIRY_S
        ),
    )


class Membership:
    """Joins, leaves and changes role one at a time (a lock), on behalf of the daemon."""

    def __init__(self, node: NodeRoles) -> None:
        self.node = node
        self._lock = asyncio.Lock()
        # Started and stopped with the node's roles (the daemon's start_roles/stop_roles).
        self.renewer = CertRenewer(self.renew_certificate, lambda: self.node.creds)
        self._leaving: asyncio.Task[None] | None = None

    @property
    def config(self) -> DaemonConfig:
        return self.node.config

    # ------------------------------------------------------------------ init, join, leave

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
        if self.node.state is not None:
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
        node_cert_expiry_s: float = 0.0,
        autolock: bool = False,
        availability: NodeAvailability = NodeAvailability.ACTIVE,
    ) -> tuple[str, str, str]:
        async with self._lock:
            if force_new_cluster:
                return await self._force_new_cluster()
            self._require_not_in_swarm()
            advertise, listen = self._addresses(advertise_addr, listen_addr)
            root = ca.create_root_ca()
            cluster_id, node_id = new_id(), new_id()
            # Checked as `swarm update` checks them, before anything is made.
            draft = configured(
                Cluster(id=cluster_id, root_ca_cert=root.cert_pem, root_ca_key=root.key_pem),
                heartbeat_period_s,
                task_history_limit,
                node_cert_expiry_s,
            )
            key = ca.generate_key()
            cert = ca.sign_node_csr(
                root,
                ca.create_csr(key),
                node_id,
                NodeRole.MANAGER,
                cluster_id,
                validity=rotation.node_cert_validity(draft),
            )
            creds = tls.NodeCredentials(key_pem=key, cert_pem=cert, ca_pem=root.cert_pem)
            self.node.creds = creds
            state = SwarmState(
                node_id=node_id,
                cluster_id=cluster_id,
                role=NodeRole.MANAGER,
                listen_addr=listen,
                advertise_addr=advertise,
                raft_password=secrets.token_hex(32),
                data_key=sealing.new_data_key(),
            )
            kek = keywrap.new_unlock_key() if autolock else None
            state = replace(state, managers=(state.api_addr,), raft_members=(state.raft_addr,))
            self._wipe_swarm_data()
            tls.save_node_credentials(self.config.certs_dir, creds)
            self.node.state = state
            self.node.set_node(node_id)
            try:
                await self.node.start_roles()
                manager = self.node.manager
                assert manager is not None
                await manager.wait_until_leading()
                stamp = now()
                cluster = replace(
                    draft,
                    tokens=ca.generate_join_tokens(root.cert_pem),
                    raft_secret=state.raft_password,
                    created_at=stamp,
                    updated_at=stamp,
                    autolock=kek is not None,
                    unlock_key=sealing.seal(state.data_key, UNLOCK_KEY_ID, kek) if kek else b"",
                    data_key_id=sealing.key_id(state.data_key),
                )
                node = Node(
                    id=node_id,
                    hostname=self.config.hostname,
                    role=NodeRole.MANAGER,
                    state=NodeState.UNKNOWN,
                    availability=availability,
                    addr=advertise,
                    resources=host_resources(self.config.node_generic_resources),
                    manager=ManagerStatus(raft_addr=state.raft_addr, api_addr=state.api_addr),
                    created_at=stamp,
                    updated_at=stamp,
                    tls_info=rotation.issued_tls_info(draft),
                )

                ingress = ingress_network(stamp)

                def bootstrap(tx):  # type: ignore[no-untyped-def]
                    # The first user network's VNI comes after the ingress network's.
                    tx.create(CLUSTERS, replace(cluster, last_vni=ingress.vni))
                    tx.create(NODES, node)
                    tx.create(NETWORKS, ingress)

                await manager.store.update(bootstrap)
            except BaseException:
                await self.node.stop_roles()
                self.node.state = None
                self._wipe_swarm_data()
                raise
            # With autolock, the key material goes to disk under the unlock key from now on.
            self.node.use_kek(kek)
            await _until_ready(manager, node_id, INIT_READY_WAIT_S)
            return node_id, cluster.tokens.worker, state.api_addr

    async def _force_new_cluster(self) -> tuple[str, str, str]:
        state = self.node.state
        if state is None or state.role != NodeRole.MANAGER:
            raise Conflict("--force-new-cluster needs a node that was a manager of a swarm")
        if state.locked:
            raise Unavailable(SWARM_LOCKED)  # its keys are still under the unlock key
        await self.node.stop_roles()
        state = replace(state, raft_members=(state.raft_addr,), managers=(state.api_addr,))
        self.node.state = state
        state.save(self.config.state_file, self.node.kek())
        await self.node.start_roles(force_new_cluster=True)
        manager = self.node.manager
        assert manager is not None
        await manager.wait_until_leading()
        cluster = manager.store.view().cluster()
        # The other managers are gone for good: demote them in the store.
        me = state.node_id

        def forget_peers(tx):  # type: ignore[no-untyped-def]
            for node in tx.snapshot.all(NODES):
                if node.role == NodeRole.MANAGER and node.id != me:
                    tx.replace(
                        NODES, node.id, role=NodeRole.WORKER, manager=None, state=NodeState.DOWN
                    )

        await manager.store.update(forget_peers)
        return me, cluster.tokens.worker if cluster else "", state.api_addr

    async def swarm_join(
        self, token: str, remote_addr: str, advertise_addr: str, listen_addr: str
    ) -> tuple[str, str]:
        async with self._lock:
            self._require_not_in_swarm()
            # Checked before anything else, as `docker swarm join` does.
            ca.parse_join_token(token)
            remote_host, remote_port = split_addr(remote_addr)
            advertise, listen = self._addresses(advertise_addr, listen_addr)
            _, listen_port = split_addr(listen)
            draft = SwarmState("", "", "", listen, advertise)
            cert = await nodecert.issue(
                token,
                remote_addr,
                hostname=self.config.hostname,
                addr=advertise,
                api_addr=f"{advertise}:{listen_port}",
                raft_addr=draft.raft_addr,
            )
            self.node.creds = cert.creds
            state = SwarmState(
                node_id=cert.node_id,
                cluster_id=cert.cluster_id,
                role=cert.role,
                listen_addr=listen,
                advertise_addr=advertise,
                managers=cert.managers or (f"{remote_host}:{remote_port}",),
                raft_password=cert.raft_password,
                raft_members=cert.raft_members,
                data_key=cert.data_key,
                previous_data_keys=cert.data_keys[1:],
            )
            self._wipe_swarm_data()
            tls.save_node_credentials(self.config.certs_dir, cert.creds)
            state.save(self.config.state_file)
            self.node.state = state
            self.node.set_node(state.node_id)
            await self.node.start_roles()
            return state.node_id, state.role

    async def swarm_leave(self, force: bool) -> None:
        async with self._lock:
            state = self.node.state
            if state is None:
                raise NotInSwarm()
            manager = self.node.manager
            if manager is not None:
                if not force:
                    raise Conflict(
                        "You are attempting to leave the swarm on a node that is participating "
                        "as a manager. Removing the last manager erases all current state of "
                        "the swarm. Use `--force` to ignore this message."
                    )
                with contextlib.suppress(Exception):
                    if len(manager.raft.members()) > 1:
                        await manager.raft.remove_member(state.raft_addr)
            await self._leave()

    def removed(self, node_id: str) -> None:
        """The managers refused this node as removed (`node rm`): it leaves the swarm as
        `swarm leave` does (containers, state and certificate gone), and the daemon runs on,
        ready to join again. The agent's session loop reports it, and leaving stops that
        loop: so the leaving runs in a task of its own."""
        if self._leaving is None or self._leaving.done():
            self._leaving = asyncio.create_task(self._leave_removed(node_id))
            self._leaving.add_done_callback(_log_leave_failure)

    async def _leave_removed(self, node_id: str) -> None:
        async with self._lock:
            state = self.node.state
            if state is None or state.node_id != node_id:
                return  # already left, or joined again as another node since
            log.warning("node %s was removed from the swarm: leaving it", node_id)
            await self._leave()

    async def _leave(self) -> None:
        await self.node.stop_roles()
        await self._remove_all_containers()
        self.node.state = None
        self.node.creds = None
        self.node.use_kek(None)  # nothing left to write: only forgets the key
        self._wipe_swarm_data()

    async def _remove_all_containers(self) -> None:
        runtime = NodeRuntime(self.config, "", "")
        try:
            # The swarm's containers only: those `run` made stay, as with Docker.
            standalone = False
            for found in await runtime.containers.adopt():
                if ANN_TASK_ID not in dict(found.annotations):
                    standalone = True
                    continue
                with contextlib.suppress(Exception):
                    await runtime.containers.rm(found.id, force=True)
            if not standalone:
                # Every kernel object of ours; with standalone containers left, their
                # sandboxes, bridge and ports stay (and so do the overlays' devices).
                await runtime.network.cleanup_all()
            runtime.files.release_all()  # the tasks' secrets and configs
        finally:
            await runtime.stop()

    def _wipe_swarm_data(self) -> None:
        for path in (self.config.raft_dir, self.config.state_file.parent):
            shutil.rmtree(path, ignore_errors=True)
        tls.remove_node_credentials(self.config.certs_dir)

    # ------------------------------------------------------------------ role changes

    async def take_role(self, role: str) -> None:
        """Renew our certificate for the role the managers gave us, and start or stop the
        manager role to match (`node promote` / `node demote`)."""
        async with self._lock:
            creds = self.node.creds
            if creds is not None and creds.identity.role != role:
                await self._renew()

    async def renew_certificate(self, via: str | None = None) -> None:
        """A new certificate now (it is due, or the roots changed: see swarmpy.renewal), put
        in use by new connections without restarting anything; a new role too if the
        managers changed it meanwhile. ``via``: the manager to ask first (default: the one
        of the agent's session)."""
        async with self._lock:
            await self._renew(via)

    async def _renew(self, via: str | None = None) -> None:
        state, creds, agent = self.node.state, self.node.creds, self.node.agent
        if state is None or creds is None or agent is None:
            return
        cert = await self._ask_managers(state, creds, via or agent.connected_to)
        # A manager's key stays under the unlock key (autolock); a worker's needs none.
        kek = self.node.kek() if cert.role == NodeRole.MANAGER else None
        tls.save_node_credentials(self.config.certs_dir, cert.creds, kek)
        self.node.creds = agent.creds = cert.creds
        if cert.role == NodeRole.MANAGER and state.role == NodeRole.MANAGER:
            # The data keys come with a manager's certificate: one this manager lacked (a
            # rotation, the swarm's first key) is kept now (swarmpy.manager.autolock).
            merged = state.merged_data_keys(cert.data_keys)
            if merged != state:
                state = self.node.state = merged
                merged.save(self.config.state_file, kek)
        if self.node.manager is not None:
            self.node.manager.use_credentials(cert.creds)
        until = ca.cert_validity(cert.creds.cert_pem)[1]
        log.info("renewed this node's certificate, valid until %s", until.isoformat("T", "seconds"))
        if cert.role != creds.identity.role:
            await self._switch_role(state, cert)

    async def _ask_managers(
        self, state: SwarmState, creds: tls.NodeCredentials, connected_to: str | None
    ) -> nodecert.NodeCert:
        """A certificate from the manager of our session, else from any other that answers."""
        others = [m for m in state.managers if m != connected_to]
        targets = [connected_to] if connected_to else []
        targets += random.sample(others, len(others))
        error: SwarmpyError = Unavailable("no manager is known to renew this node's certificate")
        for target in targets:
            try:
                return await nodecert.renew(creds, target, state.api_addr, state.raft_addr)
            except SwarmpyError as exc:
                error = exc
                if exc.remote and not isinstance(exc, Unavailable):
                    raise  # a manager refused: another one would say the same
        raise error

    async def _switch_role(self, state: SwarmState, cert: nodecert.NodeCert) -> None:
        manager = self.node.manager
        if manager is not None:
            if cert.role == NodeRole.WORKER and not await manager.raft.wait_removed(
                DEMOTION_WAIT_S
            ):
                log.warning("demoted, but the managers still list this node in Raft")
            await self.node.stop_manager()
        # A new member starts empty and catches up from the leader; a former one
        # must not keep a copy of the cluster's secrets.
        shutil.rmtree(self.config.raft_dir, ignore_errors=True)
        self.node.state = replace(
            state,
            role=cert.role,
            raft_password=cert.raft_password,
            raft_members=cert.raft_members,
            data_key=cert.data_key,
            previous_data_keys=cert.data_keys[1:],
            managers=cert.managers or state.managers,
        )
        # A new manager writes its keys in clear until it reads the unlock key from the
        # store; a former one keeps none to lock.
        self.node.use_kek(None)
        if cert.role == NodeRole.MANAGER:
            await self.node.start_manager()
        log.info("this node is now a %s", cert.role)


def _log_leave_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("leaving the swarm after this node's removal failed: %s", task.exception())
