"""What agents and managers agree on beyond the shapes in protos/: timings, the leader, and
the refusal of a node the swarm removed.

Both sides import this module, so neither has to import the other (the agent must never
reach into the manager).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import grpc

from swarmpy.api import dispatcher_pb2
from swarmpy.errors import PermissionDenied, Unavailable

# The heartbeat period a new swarm gets unless `swarm init --dispatcher-heartbeat` says.
DEFAULT_HEARTBEAT_PERIOD_S = 5.0
# The leader marks a node down after this many periods without a heartbeat; an agent waits
# as long for an answer to one before it gives up on the session.
HEARTBEAT_MISSES = 3
# How a manager that is not the leader words it in an error, where it has no message to
# answer with (a log subscription relayed for a CLI).
NOT_LEADER_PREFIX = "not the leader; leader="
# The trailing metadata key of a manager's refusal of a node the swarm removed; its value is
# the node id. The agent reacts to the key, never to the words of the error.
NODE_REMOVED_KEY = "swarmpy-node-removed"
# The trailing metadata key of a leader's refusal of a session it has no capacity for now;
# its value is the seconds after which the agent should try again (SwarmKit's dispatcher
# refuses registrations beyond its rate limit the same way).
RETRY_AFTER_KEY = "swarmpy-retry-after"


class NotLeader(Unavailable):
    """The manager asked is not the leader; ``leader_addr`` is where it is ("" if unknown)."""

    def __init__(self, leader_addr: str) -> None:
        super().__init__(f"{NOT_LEADER_PREFIX}{leader_addr}")
        self.leader_addr = leader_addr


def not_leader(leader_addr: str | None) -> dispatcher_pb2.NotLeader:
    """The field a follower sets in its one answer on an agent stream."""
    return dispatcher_pb2.NotLeader(leader_addr=leader_addr or "")


def raise_if_not_leader(message: Any) -> None:
    """Raises NotLeader if a dispatcher's message (of any agent stream) says so."""
    if message.HasField("not_leader"):
        raise NotLeader(message.not_leader.leader_addr)


class NodeRemoved(PermissionDenied):
    """The calling node was removed from the swarm (`node rm`): it is out, for good."""

    def __init__(self, node_id: str) -> None:
        super().__init__(f"node {node_id} was removed from the swarm")
        self.node_id = node_id

    @property
    def trailers(self) -> tuple[tuple[str, str], ...]:
        """What a manager sets as the call's trailing metadata before it refuses with this."""
        return ((NODE_REMOVED_KEY, self.node_id),)


def removed_node(exc: grpc.aio.AioRpcError) -> str | None:
    """The node id a manager's refusal says the swarm removed; None for any other error."""
    # grpc's stubs give an aio error's trailers the sync API's type; they are (key, value)s.
    pairs = cast(Iterable[tuple[str, str | bytes]], exc.trailing_metadata() or ())
    for key, value in pairs:
        if key == NODE_REMOVED_KEY:
            return value if isinstance(value, str) else value.decode()
    return None


class TryLater(Unavailable):
    """The leader cannot take this session now: try again after ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(f"the leader is busy registering nodes, try again in {delay_s:.1f} s")
        self.delay_s = delay_s

    @property
    def trailers(self) -> tuple[tuple[str, str], ...]:
        """What the leader sets as the call's trailing metadata before it refuses with this."""
        return ((RETRY_AFTER_KEY, f"{self.delay_s:.3f}"),)


def retry_after(exc: grpc.aio.AioRpcError) -> float | None:
    """The delay a leader's refusal asks for; None for any other error."""
    pairs = cast(Iterable[tuple[str, str | bytes]], exc.trailing_metadata() or ())
    for key, value in pairs:
        if key == RETRY_AFTER_KEY:
            try:
                return float(value if isinstance(value, str) else value.decode())
            except ValueError:
                return None
    return None
