"""One overlay network on one node: a bridge, a VXLAN device in it, and programmed peers.

The network exists on a node only while a local task uses it; the provider creates it for
the first such task and destroys it after the last.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from swarmpy.model import Network
from swarmpy.overlay.attachment import Attachment, plug
from swarmpy.overlay.forwarding import Peer, diff_peers
from swarmpy.overlay.names import Names
from swarmpy.overlay.netlink import Netlink

log = logging.getLogger(__name__)


def device_holder(present: Iterable[Network], network: Network) -> Network | None:
    """The other network on this node whose devices ``network``'s would be.

    Devices are named after the VNI, and the kernel takes one VXLAN device per VNI: a second
    network with the VNI of one still here (a removed network whose tasks are still stopping,
    should the managers ever hand its VNI out again) must not adopt those devices, or the old
    network's teardown deletes them under it. The new network waits for the old one to go.
    """
    return next((n for n in present if n.vni == network.vni and n.id != network.id), None)


class OverlayNetwork:
    def __init__(self, nl: Netlink, names: Names, network: Network, local_addr: str) -> None:
        self.network = network
        self._nl = nl
        self._bridge = names.bridge(network.vni)
        self._vxlan = names.vxlan(network.vni)
        self._local_addr = local_addr
        self._bridge_index = 0
        self._vxlan_index = 0
        self._peers: frozenset[Peer] = frozenset()

    def create(self) -> None:
        mtu = self.network.effective_mtu
        self._bridge_index = self._nl.ensure_bridge(self._bridge, mtu)
        self._vxlan_index = self._nl.ensure_vxlan(
            self._vxlan, self.network.vni, self._local_addr, mtu, self._bridge_index
        )
        log.info("overlay network %s (vni %d) up", self.network.name, self.network.vni)

    def destroy(self) -> None:
        self._nl.delete_link(self._vxlan)
        self._nl.delete_link(self._bridge)
        self._peers = frozenset()
        log.info("overlay network %s (vni %d) removed", self.network.name, self.network.vni)

    def attach(self, att: Attachment) -> None:
        plug(self._nl, self._bridge_index, att, self.network.effective_mtu)

    def program(self, desired: frozenset[Peer]) -> None:
        """Make the FDB and neighbour entries match ``desired``; a no-op when they do."""
        change = diff_peers(desired, self._peers)
        # Removals first: an address (and so its MAC) can reappear behind another node, and
        # appending before deleting would leave two FDB destinations for it.
        for peer in change.remove:
            self._nl.neigh_delete(self._vxlan_index, peer.ip, peer.mac)
            self._nl.fdb_delete(self._vxlan_index, peer.mac, peer.node_addr)
        for peer in change.add:
            self._nl.fdb_replace(self._vxlan_index, peer.mac, peer.node_addr)
            self._nl.neigh_replace(self._vxlan_index, peer.ip, peer.mac)
        self._peers = desired
