from __future__ import annotations

from pathlib import Path

import pytest

from swarmpy.errors import RuntimeFailure
from swarmpy.overlay.localbridge import AddressPool, masquerade_ruleset


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
    rule = commands[-1]["add"]["rule"]
    source, not_bridge, verdict = rule["expr"]
    assert source["match"]["right"] == {"prefix": {"addr": "172.18.0.0", "len": 16}}
    assert (not_bridge["match"]["op"], not_bridge["match"]["right"]) == ("!=", "sp0")
    assert verdict == {"masquerade": None}
