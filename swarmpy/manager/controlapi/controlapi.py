"""The control API's logic: validate a request, then write the store (thin on purpose).

One module per object (nodes, services, tasks, networks, cluster), as SwarmKit's
controlapi has one file per object; the checks they share live in ``common``. Every method
takes and returns model objects; the Engine API (swarmpy.server) converts them from and to
Docker's JSON. It runs on any manager: writes go through Raft, which forwards them to the
leader, so a follower serves clients as well as the leader does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from swarmpy.manager import sealing
from swarmpy.manager.controlapi.cluster import ClusterAPI
from swarmpy.manager.controlapi.common import RaftMember, check_leader
from swarmpy.manager.controlapi.configs import ConfigAPI
from swarmpy.manager.controlapi.networks import NetworkAPI
from swarmpy.manager.controlapi.nodes import NodeAPI
from swarmpy.manager.controlapi.secrets import SecretAPI
from swarmpy.manager.controlapi.services import ServiceAPI
from swarmpy.manager.controlapi.tasks import TaskAPI
from swarmpy.manager.state.store import Store


class ControlAPI:
    """The control API of every object, over one store."""

    def __init__(
        self,
        store: Store,
        raft_members: Callable[[], Sequence[RaftMember]],
        remove_raft_member: Callable[[str], Awaitable[None]] | None = None,
        data_key: sealing.KeySource = "",
    ) -> None:
        self.store = store
        self._raft_members = raft_members
        self.nodes = NodeAPI(store, raft_members, remove_raft_member)
        self.cluster = ClusterAPI(store, data_key)
        self.services = ServiceAPI(store)
        self.tasks = TaskAPI(store)
        self.networks = NetworkAPI(store)
        self.secrets = SecretAPI(store, data_key)
        self.configs = ConfigAPI(store)

    def check_leader(self) -> None:
        """Before a read: a manager cut off from the leader says so instead of answering."""
        check_leader(self._raft_members())
