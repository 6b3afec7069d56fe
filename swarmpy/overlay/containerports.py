"""Ports published by standalone containers (``run -p``): nftables DNAT from the host's
addresses to a container on the node-local bridge, with no userland proxy (dockerd's
``--userland-proxy=false``).

- prerouting and output: a connection to a local address (loopback included, as Docker's
  DNAT without the proxy) on a published port goes to the container's address;
- postrouting: what was translated and leaves through the bridge is masqueraded when it
  came from the host itself (loopback: the bridge needs ``route_localnet``) or from a
  container on the same bridge (hairpin: the reply must come back through the host to be
  translated back); a client from outside keeps its address.

The ruleset is a pure function; ``apply`` swaps the table atomically.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from swarmpy.overlay.netlink import enable_route_localnet
from swarmpy.overlay.nft import Command, Nft, base_chain, match, payload, replace_table, rule

FAMILY = "ip"


@dataclass(frozen=True, order=True)
class Forward:
    """One published port: host (address, port) to the container's (address, port)."""

    protocol: str
    host_port: int
    addr: str  # the container's address on the bridge
    port: int
    host_ip: str = ""  # "" (or 0.0.0.0): every local address


def _local(direction: str) -> Command:
    return match({"fib": {"result": "type", "flags": [direction]}}, "local")


def ruleset(table: str, bridge: str, subnet: str, forwards: Iterable[Forward]) -> list[Command]:
    items = sorted(set(forwards))
    if not items:
        return replace_table(FAMILY, table, [])
    body = [
        base_chain(FAMILY, table, "prerouting", "nat", "prerouting", -100),
        base_chain(FAMILY, table, "output", "nat", "output", -100),
        base_chain(FAMILY, table, "postrouting", "nat", "postrouting", 100),
    ]
    for f in items:
        where = (
            [match(payload("ip", "daddr"), f.host_ip)]
            if f.host_ip and f.host_ip != "0.0.0.0"
            else [_local("daddr")]
        )
        expr = [
            *where,
            match(payload(f.protocol, "dport"), f.host_port),
            {"dnat": {"addr": f.addr, "port": f.port}},
        ]
        body.append(rule(FAMILY, table, "prerouting", expr))
        body.append(rule(FAMILY, table, "output", expr))
    net = ipaddress.IPv4Network(subnet, strict=False)
    translated = match({"ct": {"key": "status"}}, "dnat", op="in")
    to_bridge = match({"meta": {"key": "oifname"}}, bridge)
    from_bridge = match(
        payload("ip", "saddr"),
        {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}},
    )
    for source in (from_bridge, _local("saddr")):
        body.append(
            rule(
                FAMILY, table, "postrouting", [translated, to_bridge, source, {"masquerade": None}]
            )
        )
    return replace_table(FAMILY, table, body)


def apply(
    nft: Nft,
    host_netns: str | None,
    table: str,
    bridge: str,
    subnet: str,
    forwards: Iterable[Forward],
) -> None:
    items = list(forwards)
    if items:
        enable_route_localnet(host_netns, bridge)
    nft.run(ruleset(table, bridge, subnet, items))
