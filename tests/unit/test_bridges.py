"""User bridge networks' pure decisions: subnets and addresses as Docker's default IPAM,
lookups, the names the embedded DNS answers and the isolation rules."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from swarmpy.dns.records import RecordIndex
from swarmpy.errors import Conflict, InvalidArgument, RuntimeFailure
from swarmpy.model import NetworkView
from swarmpy.overlay import bridges
from swarmpy.overlay.bridges import BridgeEndpoint, BridgeNetwork
from swarmpy.overlay.names import Names


def test_subnets_from_dockers_default_pools() -> None:
    assert bridges.pick_subnet([]) == "172.17.0.0/16"
    assert bridges.pick_subnet(["172.17.0.0/16", "172.18.16.0/20"]) == "172.19.0.0/16"
    everything = [f"172.{n}.0.0/16" for n in range(17, 32)]
    assert bridges.pick_subnet(everything) == "192.168.0.0/20"


def test_routes_of_the_host_are_taken() -> None:
    table = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    routes = bridges.route_subnets(table)
    assert routes == ["172.17.0.0/16", "192.0.2.0/24"]
    assert bridges.pick_subnet(routes) == "172.18.0.0/16"


def test_ipam_plan_as_docker() -> None:
    assert bridges.plan_ipam("182.18.0.0/16", "", []) == ("182.18.0.0/16", "182.18.0.1")
    assert bridges.plan_ipam("10.9.0.0/24", "10.9.0.254", []) == ("10.9.0.0/24", "10.9.0.254")
    assert bridges.plan_ipam("", "", ["172.17.0.0/16"]) == ("172.18.0.0/16", "172.18.0.1")
    with pytest.raises(InvalidArgument, match="invalid CIDR address: nope"):
        bridges.plan_ipam("nope", "", [])
    with pytest.raises(InvalidArgument, match=r"it should be 182\.18\.0\.0/16"):
        bridges.plan_ipam("182.18.0.1/16", "", [])
    with pytest.raises(InvalidArgument, match=r"no matching subnet for gateway 10\.0\.0\.1"):
        bridges.plan_ipam("10.9.0.0/24", "10.0.0.1", [])
    with pytest.raises(Conflict, match="Pool overlaps with other one on this address space"):
        bridges.plan_ipam("182.18.0.0/24", "", ["182.18.0.0/16"])


def test_addresses_skip_the_gateway_and_taken_ones() -> None:
    subnet, gateway = "10.9.0.0/29", "10.9.0.1"
    assert bridges.allocate_address(subnet, gateway, []) == "10.9.0.2/29"
    assert bridges.allocate_address(subnet, gateway, ["10.9.0.2"]) == "10.9.0.3/29"
    assert bridges.allocate_address(subnet, gateway, [], wanted="10.9.0.5") == "10.9.0.5/29"
    with pytest.raises(Conflict, match="Address already in use"):
        bridges.allocate_address(subnet, gateway, ["10.9.0.5"], wanted="10.9.0.5")
    with pytest.raises(InvalidArgument, match="no configured subnet contains IP address"):
        bridges.allocate_address(subnet, gateway, [], wanted="10.8.0.5")
    full = [f"10.9.0.{n}" for n in range(2, 7)]
    with pytest.raises(RuntimeFailure, match="no available IPv4 addresses"):
        bridges.allocate_address(subnet, gateway, full)


def test_lookup_by_id_name_prefix() -> None:
    nets = [BridgeNetwork("abc123" + "0" * 58, "front"), BridgeNetwork("abd456" + "0" * 58, "back")]
    assert bridges.find_network(nets, "front") is nets[0]
    assert bridges.find_network(nets, "abd") is nets[1]
    assert bridges.find_network(nets, "zzz") is None
    with pytest.raises(InvalidArgument, match="ambiguous"):
        bridges.find_network(nets, "ab")
    with pytest.raises(Conflict, match="network with name front already exists"):
        bridges.check_name("front", ["front"])
    with pytest.raises(Conflict, match="predefined bridge network"):
        bridges.check_name("bridge", [])


def endpoint(
    cid: str, name: str, net: str, ip: str, aliases: tuple[str, ...] = ()
) -> BridgeEndpoint:
    return BridgeEndpoint(cid, name, net, "sb", "eth0", "v", f"{ip}/16", aliases)


def test_dns_names_per_network_with_aliases_and_short_ids() -> None:
    eps = [
        endpoint("a" * 64, "web", "n1", "182.18.0.2", ("www",)),
        endpoint("b" * 64, "db", "n1", "182.18.0.3"),
        endpoint("b" * 64, "db", "n2", "10.1.0.2", ("store",)),
    ]
    names = bridges.dns_names(eps)
    assert names["n1"] == {"web": ["182.18.0.2"], "a" * 12: ["182.18.0.2"], "www": ["182.18.0.2"],
                           "db": ["182.18.0.3"], "b" * 12: ["182.18.0.3"]}  # fmt: skip
    assert names["n2"]["store"] == ["10.1.0.2"]
    # The embedded DNS answers them only to containers on that network.
    index = RecordIndex.from_view(NetworkView(), names)
    answer = index.answer("WEB.", 1, ["n1"])
    assert answer is not None
    assert answer.addresses == ("182.18.0.2",)
    assert index.answer("web", 1, ["n2"]) is None
    reverse = index.answer("3.0.18.182.in-addr.arpa", 12, ["n1"])
    assert reverse is not None
    assert reverse.ptr == "db"


def test_isolation_rules() -> None:
    ruleset = bridges.isolation_ruleset("spiso", ["sp0", "spbru1"], ["spbru1"])
    text = json.dumps(ruleset)
    rules = [c["add"]["rule"] for c in ruleset if "rule" in c.get("add", {})]
    # Two for the internal bridge, one per ordered pair of bridges.
    assert len(rules) == 4
    assert '"hook": "forward"' in text


def test_the_builtin_networks_keep_their_ids_across_restarts(tmp_path: Path) -> None:
    # `network ls` after a daemon restart showed new ids for bridge, host and none.
    def builtin_ids() -> dict[str, str]:
        networks = bridges.BridgeNetworks(tmp_path, Names("t1"), "172.17.0.0/16")
        try:
            return {n.name: n.id for n in networks.networks() if n.builtin}
        finally:
            asyncio.run(networks.close())

    first = builtin_ids()
    assert sorted(first) == ["bridge", "host", "none"]
    assert builtin_ids() == first
