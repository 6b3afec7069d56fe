"""The routing mesh's and host mode's nftables rules, as pure data."""

from __future__ import annotations

import dataclasses
from typing import Any

from swarmpy.model import EndpointMode, NetworkView, PortConfig, PortProtocol, ServiceEndpoint
from swarmpy.overlay.ingress import (
    HostPort,
    IngressLink,
    MeshPort,
    host_ruleset,
    mesh_ports,
    sandbox_ruleset,
)
from swarmpy.overlay.nft import Command
from tests.support.builders import endpoint

INGRESS = "ingress-id"
SANDBOX = "169.254.201.2"
WEB = ServiceEndpoint(
    "id-web",
    "web",
    EndpointMode.VIP,
    (),
    (PortConfig(80, 8080), PortConfig(53, 5353, PortProtocol.UDP)),
)


def view(*services: ServiceEndpoint) -> NetworkView:
    sandbox = dataclasses.replace(
        endpoint("10.0.0.2", network_id=INGRESS), task_id="", service_id=""
    )
    return NetworkView(
        endpoints=(
            endpoint("10.0.0.6", network_id=INGRESS, node_addr="a"),
            endpoint("10.0.0.5", network_id=INGRESS, node_addr="b"),
            endpoint("10.0.1.5", network_id="net1"),  # the same service on another network
            sandbox,
        ),
        services=services,
    )


def _rules(commands: list[Command], chain: str) -> list[list[dict[str, Any]]]:
    return [
        c["add"]["rule"]["expr"]
        for c in commands
        if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == chain
    ]


def _dnat(expr: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e["dnat"] for e in expr if "dnat" in e)


def _dport(expr: list[dict[str, Any]]) -> tuple[str, int]:
    m = next(
        e["match"]
        for e in expr
        if "match" in e and e["match"]["left"].get("payload", {}).get("field") == "dport"
    )
    return m["left"]["payload"]["protocol"], m["right"]


def test_mesh_ports_balance_over_the_services_tasks_on_ingress_only() -> None:
    backends = ("10.0.0.5", "10.0.0.6")
    assert mesh_ports(view(WEB), INGRESS) == (
        MeshPort("tcp", 8080, 80, backends),
        MeshPort("udp", 5353, 53, backends),
    )
    idle = ServiceEndpoint("id-idle", "idle", EndpointMode.VIP, (), (PortConfig(80, 9000),))
    assert MeshPort("tcp", 9000, 80, ()) in mesh_ports(view(WEB, idle), INGRESS)


def test_the_sandbox_balances_each_port_to_its_target_and_masquerades() -> None:
    commands = sandbox_ruleset("t", mesh_ports(view(WEB), INGRESS), SANDBOX)
    rules = _rules(commands, "prerouting")
    assert [_dport(r) for r in rules] == [("tcp", 8080), ("udp", 5353)]
    dnat = _dnat(rules[0])
    assert dnat["port"] == 80
    mapping = dnat["addr"]["map"]
    assert mapping["key"] == {"numgen": {"mode": "random", "mod": 2, "offset": 0}}
    assert mapping["data"]["set"] == [[0, "10.0.0.5"], [1, "10.0.0.6"]]
    assert _rules(commands, "postrouting") == [
        [
            {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}},
            {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}},
            {"masquerade": None},
        ]
    ]


def test_a_port_without_backends_is_left_closed_and_nothing_leaves_an_empty_table() -> None:
    idle = MeshPort("tcp", 9000, 80, ())
    assert _rules(sandbox_ruleset("t", [idle], SANDBOX), "prerouting") == []
    # add-then-delete of the table and nothing else: no table is left behind.
    assert [next(iter(c)) for c in sandbox_ruleset("t", [], SANDBOX)] == ["add", "delete"]
    assert [next(iter(c)) for c in host_ruleset("t", [], [], SANDBOX)] == ["add", "delete"]


def test_the_host_sends_local_addresses_to_the_sandbox_or_the_task() -> None:
    commands = host_ruleset(
        "t", [("tcp", 8080)], [HostPort("udp", 9090, "172.31.0.5", 90)], SANDBOX
    )
    for chain in ("prerouting", "output"):
        mesh, host = _rules(commands, chain)
        assert _dport(mesh) == ("tcp", 8080)
        assert _dnat(mesh) == {"addr": SANDBOX}
        assert _dport(host) == ("udp", 9090)
        assert _dnat(host) == {"addr": "172.31.0.5", "port": 90}
        fib = {"fib": {"result": "type", "flags": ["daddr"]}}
        assert {"match": {"op": "==", "left": fib, "right": "local"}} in mesh
    # The node's own clients reach it too, through loopback as well (`curl localhost:8080`
    # on a node, as Docker's): no rule leaves 127.0.0.0/8 out, and a loopback client is
    # masqueraded on its way out of the host, or the sandbox could not answer it.
    for expr in _rules(commands, "output"):
        assert all(e.get("match", {}).get("op") != "!=" for e in expr), expr
    assert _rules(commands, "postrouting") == [
        [
            {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}},
            {
                "match": {
                    "op": "==",
                    "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                    "right": {"prefix": {"addr": "127.0.0.0", "len": 8}},
                }
            },
            {"masquerade": None},
        ]
    ]


def test_each_daemon_prefix_gets_its_own_link_away_from_cloud_metadata() -> None:
    links = {IngressLink.for_prefix(f"d{i:04d}").network for i in range(100)}
    assert len(links) >= 98  # rarely shared (5,440 of them)
    for net in links:
        assert net.prefixlen == 30
        assert net.subnet_of(IngressLink.for_prefix("x").network.supernet(new_prefix=16))
        assert not str(net).startswith("169.254.169.")
    link = IngressLink.for_prefix("sp")
    assert link.host_ip != link.sandbox_ip
    assert {link.host_ip, link.sandbox_ip} == set(map(str, link.network.hosts()))
