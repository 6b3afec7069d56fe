"""What the Engine API needs of the daemon (swarmpy.daemon.Daemon), and no more.

Handlers reach the swarm through these: ``control_api()`` is the manager's ControlAPI
(None unless this node is a manager), ``membership`` does swarm init/join/leave, ``manager``
relays service logs, ``runtime`` is the node's own engine. Tests pass a fake node over a
store with a local log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from swarmpy.config import DaemonConfig, SwarmState
from swarmpy.engine.containers import Containers
from swarmpy.engine.images.store import ImageStore
from swarmpy.engine.sinks import Sinks
from swarmpy.engine.volumes import VolumeStore
from swarmpy.errors import NotAManager, SwarmpyError, Unavailable
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.model import Network, NodeAvailability, NodeRole
from swarmpy.overlay.bridges import BridgeNetworks
from swarmpy.standalone.manager import StandaloneContainers


class SwarmMembership(Protocol):
    """swarmpy.membership.Membership, as the swarm endpoints call it."""

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
    ) -> tuple[str, str, str]: ...

    async def swarm_join(
        self, token: str, remote_addr: str, advertise_addr: str, listen_addr: str
    ) -> tuple[str, str]: ...

    async def swarm_leave(self, force: bool) -> None: ...


class LogRelay(Protocol):
    """swarmpy.manager.manager.Manager, as service logs use it: a subscription to the leader's
    log broker (SubscribeLogsRequest in, LogMessage protobufs out)."""

    def subscribe_logs(self, request: Any) -> AsyncIterator[Any]: ...


class NetworkAttachments(Protocol):
    """swarmpy.overlay.provider.OverlayNetworkProvider, as container inspect reads it: which
    networks this node has and the containers attached to each."""

    def local_networks(self) -> list[str]: ...

    def local_containers(self, network_id: str) -> list[dict[str, str]]: ...


class LocalEngine(Protocol):
    """swarmpy.agent.runtime.NodeRuntime, as the container, exec and image endpoints use it:
    the node's own containers and images, and the networks its containers are attached to."""

    @property
    def containers(self) -> Containers: ...

    @property
    def images(self) -> ImageStore: ...

    @property
    def network(self) -> NetworkAttachments: ...

    @property
    def networks(self) -> Mapping[str, Network]: ...

    @property
    def volumes(self) -> VolumeStore: ...

    @property
    def bridges(self) -> BridgeNetworks: ...

    @property
    def network_events(self) -> Sinks: ...

    def volume_users(self) -> dict[str, list[str]]:
        """Volume name -> ids of the containers (any state) that mount it."""
        ...


class EngineNode(Protocol):
    @property
    def config(self) -> DaemonConfig: ...

    @property
    def state(self) -> SwarmState | None: ...

    @property
    def membership(self) -> SwarmMembership: ...

    @property
    def manager(self) -> LogRelay | None: ...

    @property
    def runtime(self) -> LocalEngine | None:
        """The node's engine if it has one (in a swarm, or once a local command made it)."""
        ...

    def control_api(self) -> ControlAPI | None: ...

    @property
    def roles_changed(self) -> asyncio.Event:
        """Set when control_api() may have changed (the manager role started or stopped);
        whoever waits on it clears it."""
        ...

    @property
    def locked(self) -> bool:
        """Autolock holds this manager's keys until `swarm unlock` (swarmpy.daemon)."""
        ...

    async def unlock(self, human_key: str) -> None:
        """Open the keys with the unlock key and start the roles; raises
        keywrap.InvalidUnlockKey for a key that opens nothing."""
        ...

    def require_runtime(self) -> LocalEngine:
        """The node's engine, made on first use outside a swarm (containers, images)."""
        ...

    @property
    def standalone(self) -> StandaloneContainers:
        """The containers `run` and `create` make (swarmpy.standalone)."""
        ...


# Docker's errSwarmLocked (a 503).
SWARM_LOCKED = (
    "Swarm is encrypted and needs to be unlocked before it can be used. Please use "
    '"docker swarm unlock" to unlock it.'
)


def not_a_manager(node: EngineNode) -> SwarmpyError:
    """Docker's words for a node that cannot serve the swarm's objects (a 503)."""
    if node.locked:
        return Unavailable(SWARM_LOCKED)
    state = node.state
    if state is None:
        return NotAManager(
            'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
            "to connect this node to swarm and try again."
        )
    if state.role == NodeRole.MANAGER:
        return NotAManager(
            "This node is not a swarm manager. Manager is being prepared or has trouble "
            "connecting to the cluster."
        )
    return NotAManager(
        "This node is not a swarm manager. Worker nodes can't be used to view or modify "
        "cluster state. Please run this command on a manager node or promote the current "
        "node to a manager."
    )


def writer(node: EngineNode) -> ControlAPI:
    """The control API for a change; a worker or a node outside a swarm refuses."""
    api = node.control_api()
    if api is None:
        raise not_a_manager(node)
    return api


def log_relay(node: EngineNode) -> LogRelay:
    """The manager's subscription to the leader's log broker; a node that is no manager
    refuses, in the words of ``writer``."""
    relay = node.manager
    if relay is None:
        raise not_a_manager(node)
    return relay


def reader(node: EngineNode) -> ControlAPI:
    """The control API for a read, refused while this manager knows no leader (its copy of
    the store may be stale): Docker's "The swarm does not have a leader..."."""
    api = writer(node)
    api.check_leader()
    return api
