"""Programmed forwarding: which FDB and neighbour entries an overlay network needs on a node.

Nothing is learned: every remote container on the network gets an FDB entry (its MAC lives
behind that node's VXLAN endpoint) and a permanent neighbour entry (so the VXLAN device can
answer ARP for it by proxy).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from swarmpy.model import NetworkView


@dataclass(frozen=True, order=True)
class Peer:
    """A container on another node, as one overlay network needs to reach it."""

    ip: str
    mac: str
    node_addr: str


def remote_peers(view: NetworkView, network_id: str, local_addr: str) -> frozenset[Peer]:
    return frozenset(
        Peer(ep.ip, ep.mac, ep.node_addr)
        for ep in view.endpoints
        if ep.network_id == network_id and ep.node_addr != local_addr
    )


@dataclass(frozen=True)
class PeerDiff:
    add: tuple[Peer, ...]
    remove: tuple[Peer, ...]

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


def diff_peers(desired: Set[Peer], present: Set[Peer]) -> PeerDiff:
    """Sorted, so the kernel sees the same sequence for the same change."""
    return PeerDiff(add=tuple(sorted(desired - present)), remove=tuple(sorted(present - desired)))
