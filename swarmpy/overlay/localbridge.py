"""Docker's default ``bridge`` network: a node-local bridge with outbound NAT.

Tasks on no overlay network get an address from a node-local subnet, a default route via the
bridge and masquerading out of the node. Addresses are persisted under the data root so a
restarted daemon does not hand out one that a surviving container still holds.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from pathlib import Path

from swarmpy.errors import RuntimeFailure
from swarmpy.fsutil import write_atomic
from swarmpy.overlay.attachment import Attachment, plug
from swarmpy.overlay.names import Names
from swarmpy.overlay.netlink import Netlink, enable_route_localnet, run_in_netns
from swarmpy.overlay.nft import Command, Nft, base_chain, match, payload, replace_table, rule

log = logging.getLogger(__name__)

LOCAL_MTU = 1500
DEFAULT_SUBNET = "172.18.0.0/16"


class AddressPool:
    """Task id -> address in ``subnet``; the first host address is the gateway."""

    def __init__(self, subnet: str, path: Path) -> None:
        self.network = ipaddress.IPv4Network(subnet)
        self.gateway = next(self.network.hosts())
        self._path = path
        self._leases: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}

    @property
    def gateway_cidr(self) -> str:
        return f"{self.gateway}/{self.network.prefixlen}"

    def allocate(self, task_id: str) -> str:
        """The task's address with prefix ("172.18.0.2/16"); the same one if asked again."""
        if task_id not in self._leases:
            taken = {*self._leases.values(), str(self.gateway)}
            free = (str(ip) for ip in self.network.hosts() if str(ip) not in taken)
            ip = next(free, None)
            if ip is None:
                raise RuntimeFailure(f"no free address left in the local subnet {self.network}")
            self._leases[task_id] = ip
            self._save()
        return f"{self._leases[task_id]}/{self.network.prefixlen}"

    def release(self, task_id: str) -> None:
        if self._leases.pop(task_id, None) is not None:
            self._save()

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # A crash mid-write must not lose every lease.
        write_atomic(self._path, json.dumps(self._leases, sort_keys=True))


# Before conntrack and NAT (the "raw" priority): a packet is dropped before anything else.
RAW_PRIORITY = -300


def masquerade_ruleset(table: str, subnet: str, bridge: str) -> list[Command]:
    """Masquerade what leaves the subnet through anything but its own bridge; and drop what a
    container sends to 127.0.0.0/8 through the bridge: published ports set ``route_localnet``
    on it for the node's own loopback clients, which would otherwise let a container reach
    services bound to the host's loopback (CVE-2020-8558; kube-proxy drops them the same way)."""
    net = ipaddress.IPv4Network(subnet)
    family = "ip"
    source = match(
        payload("ip", "saddr"), {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
    )
    not_bridge = match({"meta": {"key": "oifname"}}, bridge, op="!=")
    from_bridge = match({"meta": {"key": "iifname"}}, bridge)
    to_loopback = match(payload("ip", "daddr"), {"prefix": {"addr": "127.0.0.0", "len": 8}})
    return replace_table(
        family,
        table,
        [
            base_chain(family, table, "postrouting", "nat", "postrouting", 100),
            rule(family, table, "postrouting", [source, not_bridge, {"masquerade": None}]),
            base_chain(family, table, "guard", "filter", "prerouting", RAW_PRIORITY),
            rule(family, table, "guard", [from_bridge, to_loopback, {"drop": None}]),
        ],
    )


def _enable_forwarding() -> None:
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1")


class LocalBridge:
    def __init__(self, nl: Netlink, names: Names, pool: AddressPool, nft: Nft) -> None:
        self.pool = pool
        self._nl = nl
        self._names = names
        self._nft = nft
        self._index = 0

    def ensure(self) -> None:
        if self._index:
            return
        name = self._names.local_bridge
        self._index = self._nl.ensure_bridge(name, LOCAL_MTU)
        self._nl.add_address(name, self.pool.gateway_cidr)
        self._nft.run(masquerade_ruleset(self._names.nat_table, str(self.pool.network), name))
        # A host-mode published port sends the node's own loopback clients over the bridge.
        enable_route_localnet(self._nl.host_netns, name)
        # /proc/sys/net follows the netns of the thread that opens it.
        run_in_netns(self._nl.host_netns, _enable_forwarding)
        log.info("local bridge %s up on %s", name, self.pool.network)

    def attach(self, att: Attachment) -> None:
        self.ensure()
        plug(self._nl, self._index, att, LOCAL_MTU)
        self._nl.add_default_route(str(self.pool.gateway), ns=att.sandbox)
