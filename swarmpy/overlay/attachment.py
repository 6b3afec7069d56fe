"""A container's interface on one network, and plugging it into a bridge."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from swarmpy.overlay.netlink import Netlink


@dataclass(frozen=True)
class Attachment:
    task_id: str
    container_name: str
    network_id: str  # "" for the node-local bridge
    sandbox: str  # netns name
    ifname: str  # inside the sandbox: eth0, eth1, ...
    veth: str  # the host end
    cidr: str  # "10.0.1.5/24"
    mac: str

    @property
    def ip(self) -> str:
        return self.cidr.split("/")[0]

    @property
    def endpoint_id(self) -> str:
        """Stable across daemon restarts, like the 64-hex ids ``network inspect`` shows."""
        return hashlib.sha256(f"{self.task_id}/{self.network_id}".encode()).hexdigest()

    def inspect(self) -> dict[str, str]:
        """The entry ``network inspect`` lists under Containers."""
        return {
            "ContainerID": self.task_id,  # a task's container has the task's id
            "Name": self.container_name,
            "EndpointID": self.endpoint_id,
            "MacAddress": self.mac,
            "IPv4Address": self.cidr,
        }


def plug(nl: Netlink, bridge_index: int, att: Attachment, mtu: int) -> None:
    """A veth from the bridge into the sandbox, addressed and up.

    Both ends get the network's MTU: a 1500-byte veth in front of a 1450 VXLAN device drops
    large packets without a word.
    """
    nl.add_veth(att.veth, bridge_index, att.sandbox, att.ifname, att.mac, mtu)
    nl.add_address(att.ifname, att.cidr, ns=att.sandbox)
