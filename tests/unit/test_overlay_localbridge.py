from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swarmpy.errors import RuntimeFailure
from swarmpy.overlay.localbridge import AddressPool, masquerade_ruleset
from swarmpy.overlay.nft import Command


def test_addresses_start_after_the_gateway_and_are_stable_per_task(tmp_path: Path) -> None:
    pool = AddressPool("172.18.0.0/16", tmp_path / "ipam.json")
    assert pool.gateway_cidr == "172.18.0.1/16"
    assert pool.allocate("t1") == "172.18.0.2/16"
    assert pool.allocate("t2") == "172.18.0.3/16"
    assert pool.allocate("t1") == "172.18.0.2/16"


def test_released_addresses_are_reused(tmp_path: Path) -> None:
    pool = AddressPool("172.18.0.0/16", tmp_path / "ipam.json")
    pool.allocate("t1")
    pool.allocate("t2")
    pool.release("t1")
    assert pool.allocate("t3") == "172.18.0.2/16"


def test_leases_survive_a_restart(tmp_path: Path) -> None:
    AddressPool("172.18.0.0/16", tmp_path / "ipam.json").allocate("t1")
    again = AddressPool("172.18.0.0/16", tmp_path / "ipam.json")
    assert again.allocate("t2") == "172.18.0.3/16"
    assert again.allocate("t1") == "172.18.0.2/16"


def test_a_full_subnet_says_so(tmp_path: Path) -> None:
    pool = AddressPool("172.18.0.0/30", tmp_path / "ipam.json")  # one host besides the gateway
    pool.allocate("t1")
    with pytest.raises(RuntimeFailure, match="no free address"):
        pool.allocate("t2")


def test_masquerade_covers_the_subnet_leaving_by_any_other_interface() -> None:
    commands = masquerade_ruleset("spnat", "172.18.0.0/16", "sp0")
    rule = rules_of(commands, "postrouting")[0]
    source, not_bridge, verdict = rule["expr"]
    assert source["match"]["right"] == {"prefix": {"addr": "172.18.0.0", "len": 16}}
    assert (not_bridge["match"]["op"], not_bridge["match"]["right"]) == ("!=", "sp0")
    assert verdict == {"masquerade": None}


def test_a_container_cannot_reach_the_hosts_loopback_through_the_bridge() -> None:
    # route_localnet on the bridge (for the node's own clients of published ports) would
    # otherwise route a container's packets to 127.0.0.1 into the host's loopback services.
    commands = masquerade_ruleset("spnat", "172.18.0.0/16", "sp0")
    guard = next(
        c["add"]["chain"]
        for c in commands
        if c.get("add", {}).get("chain", {}).get("hook") == "prerouting"
    )
    assert (guard["name"], guard["type"], guard["prio"]) == ("guard", "filter", -300)
    (rule,) = rules_of(commands, "guard")
    from_bridge, to_loopback, verdict = rule["expr"]
    assert from_bridge["match"]["left"] == {"meta": {"key": "iifname"}}
    assert from_bridge["match"]["right"] == "sp0"
    assert to_loopback["match"]["right"] == {"prefix": {"addr": "127.0.0.0", "len": 8}}
    assert verdict == {"drop": None}


def rules_of(commands: list[Command], chain: str) -> list[dict[str, Any]]:
    return [
        c["add"]["rule"]
        for c in commands
        if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == chain
    ]
