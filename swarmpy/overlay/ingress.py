"""Published ports: the routing mesh's ingress sandbox, and the node's port rules.

As Docker's, every node has an ingress sandbox (a netns, ``<prefix>-ingress_sbox``) with
one leg on the ingress overlay (its address from the allocator) and one on a veth pair to the
host (a link-local /30, ``IngressLink``). The data path is nftables only, no IPVS and no proxy:

- on the host, a nat chain on prerouting (and output, for clients on the node itself) sends
  a connection to any local address (loopback too) on an ingress-mode published port to the
  sandbox, ``fib daddr type local ... dnat to <sandbox>``; a host-mode port goes straight to
  its task's address on the node-local bridge; a loopback client is masqueraded on the way
  out (the links need ``route_localnet``, as Docker's docker_gwbridge);
- in the sandbox, the published port is balanced over the service's tasks on the ingress
  network, ``dnat to numgen random mod N map {0: ip1, ...} : target``, and what leaves for
  the overlay is masqueraded to the sandbox's ingress address, so replies come back through
  it (and through the node that took the connection).

A port with no backend is not translated in the sandbox and meets its closed port there: a
TCP reset, an ICMP port unreachable for UDP. The rulesets are pure functions; the sandbox
is driven through ``Netlink`` and ``Nft`` by the provider's worker thread.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from swarmpy.model import Network, NetworkView, mac_for_ip
from swarmpy.overlay.attachment import Attachment
from swarmpy.overlay.names import Names
from swarmpy.overlay.netlink import Netlink, enable_route_localnet, run_in_netns
from swarmpy.overlay.nft import (
    Command,
    Nft,
    base_chain,
    match,
    payload,
    replace_table,
    rule,
)

log = logging.getLogger(__name__)

FAMILY = "ip"


@dataclass(frozen=True)
class IngressLink:
    """The host <-> ingress sandbox link: a link-local /30, so it can clash with no network
    of the node's and is never routed off it (Docker uses docker_gwbridge's 172.18.0.0/16).
    Picked from the daemon's name prefix, so daemons sharing a netns (tests) get their own;
    never in 169.254.169.0/24, where clouds keep their metadata service."""

    network: ipaddress.IPv4Network

    @classmethod
    def for_prefix(cls, prefix: str) -> IngressLink:
        h = int.from_bytes(hashlib.sha256(prefix.encode()).digest()[:4])
        third, fourth = 170 + h % 85, 4 * (h // 85 % 64)  # 169.254.170.0-169.254.254.255
        return cls(ipaddress.IPv4Network(f"169.254.{third}.{fourth}/30"))

    @property
    def host_ip(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def sandbox_ip(self) -> str:
        return str(self.network.network_address + 2)

    def cidr(self, ip: str) -> str:
        return f"{ip}/{self.network.prefixlen}"


INGRESS_IFNAME = "eth0"  # in the sandbox: the ingress overlay
LINK_IFNAME = "eth1"  # in the sandbox: the veth to the host
LINK_MTU = 1500
SANDBOX_ID = "ingress-sbox"  # its "task id" in attachments; Docker's endpoint name
LOOPBACK = {"prefix": {"addr": "127.0.0.0", "len": 8}}


@dataclass(frozen=True, order=True)
class MeshPort:
    """An ingress-mode published port and the task addresses it is balanced over."""

    protocol: str
    published: int
    target: int
    backends: tuple[str, ...]  # sorted, so an unchanged view yields an equal rule


@dataclass(frozen=True, order=True)
class HostPort:
    """A host-mode published port of a task on this node."""

    protocol: str
    published: int
    addr: str  # the task's address on the node-local bridge
    target: int


def mesh_ports(view: NetworkView, ingress_id: str) -> tuple[MeshPort, ...]:
    """Every ingress-mode port in the view with its backends: the service's endpoints on the
    ingress network that serve traffic (not ``reachable_only``: running, and healthy when it
    has a healthcheck, ``swarmpy.model.serves_traffic``)."""
    backends: dict[str, list[str]] = defaultdict(list)
    for ep in view.endpoints:
        if ep.network_id == ingress_id and ep.task_id and not ep.reachable_only:
            backends[ep.service_id].append(ep.ip)
    ports = [
        MeshPort(str(p.protocol), p.published, p.target, tuple(sorted(backends[svc.service_id])))
        for svc in view.services
        for p in svc.ports
        if p.published
    ]
    return tuple(sorted(ports))


def _dport(protocol: str, port: int) -> Command:
    return match(payload(protocol, "dport"), port)


def _local_daddr() -> Command:
    return match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")


def _balanced(backends: tuple[str, ...], port: int) -> Command:
    numgen = {"numgen": {"mode": "random", "mod": len(backends), "offset": 0}}
    mapping = [[i, ip] for i, ip in enumerate(backends)]
    return {"dnat": {"addr": {"map": {"key": numgen, "data": {"set": mapping}}}, "port": port}}


def sandbox_ruleset(table: str, ports: Iterable[MeshPort], sandbox_ip: str) -> list[Command]:
    """The ingress sandbox's table: each port with backends balanced over them, and what
    was translated masqueraded to the sandbox's ingress address."""
    balanced = [p for p in ports if p.backends]
    if not balanced:
        return replace_table(FAMILY, table, [])
    body = [
        base_chain(FAMILY, table, "prerouting", "nat", "prerouting", -100),
        base_chain(FAMILY, table, "postrouting", "nat", "postrouting", 100),
    ]
    for p in balanced:
        to_sandbox = match(payload("ip", "daddr"), sandbox_ip)
        expr = [to_sandbox, _dport(p.protocol, p.published), _balanced(p.backends, p.target)]
        body.append(rule(FAMILY, table, "prerouting", expr))
    translated = match({"ct": {"key": "status"}}, "dnat", op="in")
    to_overlay = match({"meta": {"key": "oifname"}}, INGRESS_IFNAME)
    body.append(rule(FAMILY, table, "postrouting", [translated, to_overlay, {"masquerade": None}]))
    return replace_table(FAMILY, table, body)


def host_ruleset(
    table: str, mesh: Iterable[tuple[str, int]], host: Iterable[HostPort], sandbox_ip: str
) -> list[Command]:
    """The node's table: connections to any of its addresses, loopback included (as Docker's
    ``curl localhost:PORT`` on a node), on a published port go to the ingress sandbox
    (``mesh``: protocol, port) or to a local task (``host``). A loopback client's connection
    is masqueraded as it leaves, so the sandbox or the task can answer it."""
    rules: list[tuple[list[Command], Command]] = []
    for protocol, published in sorted(set(mesh)):
        rules.append(([_dport(protocol, published)], {"dnat": {"addr": sandbox_ip}}))
    for hp in sorted(set(host)):
        to_task = {"dnat": {"addr": hp.addr, "port": hp.target}}
        rules.append(([_dport(hp.protocol, hp.published)], to_task))
    if not rules:
        return replace_table(FAMILY, table, [])
    body = [
        base_chain(FAMILY, table, "prerouting", "nat", "prerouting", -100),
        base_chain(FAMILY, table, "output", "nat", "output", -100),
        base_chain(FAMILY, table, "postrouting", "nat", "postrouting", 100),
    ]
    for matches, verdict in rules:
        for chain in ("prerouting", "output"):
            body.append(rule(FAMILY, table, chain, [_local_daddr(), *matches, verdict]))
    translated = match({"ct": {"key": "status"}}, "dnat", op="in")
    from_loopback = match(payload("ip", "saddr"), LOOPBACK)
    body.append(
        rule(FAMILY, table, "postrouting", [translated, from_loopback, {"masquerade": None}])
    )
    return replace_table(FAMILY, table, body)


def _enable_forwarding() -> None:
    # The sandbox routes between its legs; the host routes to the sandbox and local tasks.
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1")


def enable_forwarding(netns: str | None) -> None:
    """/proc/sys/net follows the netns of the thread that opens it."""
    run_in_netns(netns, _enable_forwarding)


class IngressSandbox:
    """This node's ingress sandbox: made when the view first names its address, rewired
    when that address or the ingress network changes, removed with the ingress network."""

    def __init__(
        self,
        nl: Netlink,
        names: Names,
        network: Network,
        cidr: str,
        open_nft: Callable[[str], Nft],
    ) -> None:
        self.network = network
        self.cidr = cidr
        self._nl = nl
        self._names = names
        self._open_nft = open_nft
        self._nft: Nft | None = None
        self._applied: tuple[MeshPort, ...] | None = None

    @property
    def netns(self) -> str:
        return self._names.ingress_sandbox

    @property
    def link(self) -> IngressLink:
        return IngressLink.for_prefix(self._names.prefix)

    def attachment(self) -> Attachment:
        return Attachment(
            task_id=SANDBOX_ID,
            container_name=SANDBOX_ID,
            network_id=self.network.id,
            sandbox=self.netns,
            ifname=INGRESS_IFNAME,
            veth=self._names.ingress_veth(0),
            cidr=self.cidr,
            mac=mac_for_ip(self.cidr),
        )

    def create_link(self) -> None:
        """The netns (the caller plugs its overlay leg) and its veth to the host."""
        host_end = self._names.ingress_veth(1)
        for stale in (self._names.ingress_veth(0), host_end):  # from a crashed run
            self._nl.delete_link(stale)
        if self.netns in self._nl.list_netns():
            self._nl.remove_netns(self.netns)
        self._nl.create_netns(self.netns)
        self._nl.add_veth_pair(host_end, self.netns, LINK_IFNAME, LINK_MTU)
        link = self.link
        self._nl.add_address(host_end, link.cidr(link.host_ip))
        self._nl.add_address(LINK_IFNAME, link.cidr(link.sandbox_ip), ns=self.netns)
        self._nl.add_default_route(link.host_ip, ns=self.netns)
        enable_route_localnet(self._nl.host_netns, host_end)
        enable_forwarding(self._nl.host_netns)
        enable_forwarding(self.netns)
        log.info("ingress sandbox up at %s", self.cidr)

    def apply(self, table: str, ports: tuple[MeshPort, ...]) -> None:
        if ports == self._applied:
            return
        if self._nft is None:
            self._nft = self._open_nft(self.netns)
        self._nft.run(sandbox_ruleset(table, ports, self.link.sandbox_ip))
        self._applied = ports

    def destroy(self) -> None:
        self._nft = None
        self._applied = None
        self._nl.delete_link(self._names.ingress_veth(0))
        self._nl.delete_link(self._names.ingress_veth(1))
        self._nl.remove_netns(self.netns)
        log.info("ingress sandbox removed")
