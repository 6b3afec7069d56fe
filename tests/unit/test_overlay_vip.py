from __future__ import annotations

from typing import Any

from swarmpy.model import EndpointMode, NetworkView, ServiceEndpoint, VirtualIP
from swarmpy.overlay.nft import Command
from swarmpy.overlay.vip import VipRule, VipTables, vip_rules, vip_ruleset
from tests.support.builders import endpoint

WEB = ServiceEndpoint("id-web", "web", EndpointMode.VIP, (VirtualIP("net1", "10.0.1.2/24"),))


def view(*services: ServiceEndpoint) -> NetworkView:
    eps = (
        endpoint("10.0.1.6", node_addr="a"),
        endpoint("10.0.1.5", node_addr="b"),
        endpoint("10.0.2.5", node_addr="b", network_id="net2"),
    )
    return NetworkView(endpoints=eps, services=services)


def test_a_vip_balances_over_the_services_endpoints_on_its_network_only() -> None:
    assert vip_rules(view(WEB), ["net1"]) == (VipRule("10.0.1.2", ("10.0.1.5", "10.0.1.6")),)


def test_vips_on_networks_the_container_is_not_on_are_left_out() -> None:
    assert vip_rules(view(WEB), ["net2"]) == ()


def test_dnsrr_services_get_no_vip() -> None:
    dnsrr = ServiceEndpoint("id-web", "web", EndpointMode.DNSRR, WEB.virtual_ips)
    assert vip_rules(view(dnsrr), ["net1"]) == ()


def test_a_service_without_running_tasks_keeps_its_vip_with_no_backends() -> None:
    idle = ServiceEndpoint("idle", "idle", EndpointMode.VIP, (VirtualIP("net1", "10.0.1.3/24"),))
    assert VipRule("10.0.1.3", ()) in vip_rules(view(WEB, idle), ["net1"])


def _find(commands: list[Command], kind: str) -> list[dict[str, Any]]:
    return [c["add"][kind] for c in commands if kind in c.get("add", {})]


def test_ruleset_replaces_the_table_in_one_transaction() -> None:
    commands = vip_ruleset("swarmpy", [VipRule("10.0.1.2", ("10.0.1.5", "10.0.1.6"))])
    table = {"family": "ip", "name": "swarmpy"}
    assert commands[:3] == [
        {"add": {"table": table}},
        {"delete": {"table": table}},
        {"add": {"table": table}},
    ]


def test_ruleset_dnats_a_vip_round_robin_from_an_output_nat_chain() -> None:
    commands = vip_ruleset("swarmpy", [VipRule("10.0.1.2", ("10.0.1.5", "10.0.1.6"))])
    base = [c for c in _find(commands, "chain") if "hook" in c]
    assert [(c["type"], c["hook"], c["prio"]) for c in base] == [("nat", "output", -100)]
    dnat = [r["expr"][0]["dnat"] for r in _find(commands, "rule") if "dnat" in r["expr"][0]]
    mapping = dnat[0]["addr"]["map"]
    assert mapping["key"]["numgen"] == {"mode": "inc", "mod": 2, "offset": 0}
    assert mapping["data"]["set"] == [[0, "10.0.1.5"], [1, "10.0.1.6"]]


def test_ruleset_rejects_a_vip_without_backends() -> None:
    commands = vip_ruleset("swarmpy", [VipRule("10.0.1.3", ())])
    rules = _find(commands, "rule")
    assert len(rules) == 1
    assert rules[0]["expr"][0]["match"]["right"] == {"set": ["10.0.1.3"]}
    assert rules[0]["expr"][1] == {"reject": None}


def test_no_rules_leaves_no_table() -> None:
    assert [next(iter(c)) for c in vip_ruleset("swarmpy", [])] == ["add", "delete"]


class RecordingNft:
    def __init__(self) -> None:
        self.runs: list[list[Command]] = []

    def run(self, commands: list[Command]) -> None:
        self.runs.append(commands)


def test_vip_tables_rewrite_a_sandbox_only_when_its_rules_change() -> None:
    nft = RecordingNft()
    opened: list[str] = []

    def open_nft(sandbox: str) -> RecordingNft:
        opened.append(sandbox)
        return nft

    tables = VipTables("swarmpy", open_nft)
    rules = (VipRule("10.0.1.2", ("10.0.1.5",)),)
    tables.apply("sp-1", rules)
    tables.apply("sp-1", rules)
    tables.apply("sp-1", (VipRule("10.0.1.2", ("10.0.1.5", "10.0.1.6")),))
    assert len(nft.runs) == 2
    assert opened == ["sp-1"]  # one context per namespace, kept
