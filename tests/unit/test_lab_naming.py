"""Lab naming and state (pure: no namespaces are created)."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmpy.errors import InvalidArgument
from swarmpy.lab.hosts import Host, Lab, LabState, daemon_prefix
from swarmpy.overlay.names import Names


def test_daemon_prefixes_are_valid_deterministic_and_distinct() -> None:
    prefixes = {daemon_prefix(lab, host) for lab in ("a", "b") for host in ("node1", "node2")}
    assert len(prefixes) == 4
    assert daemon_prefix("a", "node1") == daemon_prefix("a", "node1")
    for prefix in prefixes:
        Names(prefix)  # the daemon accepts it


def test_lab_namespaces_never_look_like_a_daemons() -> None:
    lab = Lab("demo", Path("/tmp/x"))
    assert lab.host_netns("node1") == "demo.node1"
    assert lab.underlay_netns.startswith(lab.netns_prefix)
    assert "-" not in lab.netns_prefix
    assert lab.infra_ip == "198.51.100.2"


def test_lab_name_is_checked() -> None:
    with pytest.raises(InvalidArgument):
        Lab("Bad-Name", Path("/tmp/x"))


def test_state_round_trips_through_json() -> None:
    host = Host("node1", "demo.node1", "198.51.100.11", 11, Path("/tmp/x/node1"), "dabcd")
    state = LabState("demo", "198.51.100.0/24", hosts=(host,), cgroup_prefixes=("c",))
    assert LabState.from_json(state.to_json()) == state
