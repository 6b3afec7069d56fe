"""What agents and managers agree on beyond the shapes in protos/: timings and the leader.

Both sides import this module, so neither has to import the other (the agent must never
reach into the manager).
"""

from __future__ import annotations

from typing import Any

from swarmpy.api import dispatcher_pb2
from swarmpy.errors import Unavailable

# The heartbeat period a new swarm gets unless `swarm init --dispatcher-heartbeat` says.
DEFAULT_HEARTBEAT_PERIOD_S = 5.0
# The leader marks a node down after this many periods without a heartbeat; an agent waits
# as long for an answer to one before it gives up on the session.
HEARTBEAT_MISSES = 3
# How a manager that is not the leader words it in an error, where it has no message to
# answer with (a log subscription relayed for a CLI).
NOT_LEADER_PREFIX = "not the leader; leader="


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
