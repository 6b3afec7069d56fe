"""`node promote` / `node demote` with real daemons: a worker becomes a Raft member and can
serve the control API; a demoted manager (the leader too) leaves Raft and becomes a worker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.controlplane import (
    assert_refused,
    init,
    joined,
    leader_of,
    nodes,
    token,
)
from tests.support.daemons import Daemon, DaemonSet
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

IPS = ("127.0.0.41", "127.0.0.42", "127.0.0.43")
PORT = 23790


def node_id(d: Daemon) -> str:
    state = json.loads((d.data_root / "swarm" / "state.json").read_text())
    return str(state["node_id"])


def statuses(d: Daemon) -> dict[str, str]:
    return {r["ID"].removesuffix(" *"): r["ManagerStatus"] for r in nodes(d)}


def test_promote_then_demote_the_leader(daemons: DaemonSet) -> None:
    first, second, third = daemons.start(3)
    init(first, IPS[0], PORT)
    worker_token = token(first, "worker")
    for d, ip in ((second, IPS[1]), (third, IPS[2])):
        joined(d, worker_token, ip, PORT, f"{IPS[0]}:{PORT}")
    ids = [node_id(d) for d in (first, second, third)]
    assert_refused(second.cli("node", "ls"), "This node is not a swarm manager")

    out = first.ok("node", "promote", ids[1], ids[2])
    assert f"Node {ids[1]} promoted to a manager in the swarm." in out

    def three_managers() -> dict[str, Any] | None:
        found = statuses(first)
        return found if sorted(found.values()) == ["Leader", "Reachable", "Reachable"] else None

    wait_for("two promoted managers", three_managers, 30)
    # A promoted node serves the control API and sees what the others wrote.
    first.ok("network", "create", "-d", "overlay", "promoted-net")
    wait_for("the network on the promoted node",
             lambda: "promoted-net" in second.cli("network", "ls").stdout, 15)  # fmt: skip

    leader = leader_of(first)
    assert leader is not None
    assert leader.startswith(ids[0])
    assert first.ok("node", "demote", ids[0]) == f"Manager {ids[0]} demoted in the swarm.\n"

    def new_leader() -> dict[str, str] | None:
        result = second.cli("node", "ls", "--format", "json")
        if result.returncode != 0:
            return None
        found = {json.loads(line)["ID"].removesuffix(" *"): json.loads(line)["ManagerStatus"]
                 for line in result.stdout.splitlines()}  # fmt: skip
        return found if found.get(ids[0]) == "" and "Leader" in found.values() else None

    wait_for("a new leader and the old one demoted", new_leader, 30)
    wait_for("the demoted node to refuse the control API",
             lambda: first.cli("node", "ls").returncode != 0, 15)  # fmt: skip
    assert_refused(first.cli("node", "ls"), "This node is not a swarm manager")

    # The last manager cannot go, whoever asks.
    second.ok("node", "demote", ids[1])
    wait_for("one manager left", lambda: third.cli("node", "ls").returncode == 0
             and list(statuses(third).values()).count("Leader") == 1, 30)  # fmt: skip
    assert_refused(third.cli("node", "demote", ids[2]), "last manager")
    assert_refused(third.cli("node", "promote", "nosuchnode"), "node nosuchnode not found")
