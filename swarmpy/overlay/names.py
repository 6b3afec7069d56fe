"""Names of the kernel objects one provider owns, all derived from its prefix.

/run/netns and (in the lab) the underlay are shared machine-wide, so every name carries the
prefix and a task id fragment; link names must fit IFNAMSIZ (15 characters).
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmpy.errors import InvalidArgument

IFNAMSIZ = 15
MAX_PREFIX = 5  # the veth name is prefix + "v" + 8 id chars + 1 index digit


@dataclass(frozen=True)
class Names:
    prefix: str

    def __post_init__(self) -> None:
        if not 0 < len(self.prefix) <= MAX_PREFIX or not self.prefix.isalnum():
            raise InvalidArgument(
                f"network name prefix {self.prefix!r} must be 1-{MAX_PREFIX} letters or digits"
            )

    def sandbox(self, task_id: str) -> str:
        return f"{self.prefix}-{task_id[:12]}"

    def bridge(self, vni: int) -> str:
        return f"{self.prefix}br{vni}"

    def vxlan(self, vni: int) -> str:
        return f"{self.prefix}vx{vni}"

    def veth(self, task_id: str, index: int) -> str:
        return f"{self.prefix}v{task_id[:8]}{index}"

    @property
    def local_bridge(self) -> str:
        return f"{self.prefix}0"

    @property
    def nat_table(self) -> str:
        return f"{self.prefix}nat"

    @property
    def ports_table(self) -> str:
        """The host's published-port rules (the routing mesh's and host mode's)."""
        return f"{self.prefix}ports"

    @property
    def container_ports_table(self) -> str:
        """The host's rules for ports standalone containers publish (``run -p``)."""
        return f"{self.prefix}cports"

    @property
    def ingress_sandbox(self) -> str:
        """The routing mesh's netns on this node (Docker's ingress_sbox)."""
        return f"{self.prefix}-ingress_sbox"

    def ingress_veth(self, index: int) -> str:
        """0: the sandbox's leg on the ingress bridge; 1: the host end of its link."""
        return f"{self.prefix}vingress{index}"

    def owns_netns(self, name: str) -> bool:
        return name.startswith(f"{self.prefix}-")

    def owns_link(self, ifname: str) -> bool:
        p = self.prefix
        return ifname == self.local_bridge or any(
            ifname.startswith(p + kind) for kind in ("br", "vx", "v")
        )


def container_ifname(index: int) -> str:
    """Docker's naming inside the container: eth0 for the first network, eth1 for the next."""
    return f"eth{index}"
