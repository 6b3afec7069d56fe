"""A node taken out is out, for good, with real daemons.

On three namespaced hosts: `node rm --force` of a live worker ends its session at once; its
daemon leaves the swarm (state, certificate, task containers gone) and runs on, and `swarm
join` with a worker token brings it back as a new node. On three managers on loopback: once
one is demoted, the Raft secret it kept no longer lets it append or vote.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from swarmpy.config import RAFT_PORT_OFFSET, SwarmState
from swarmpy.lab.hosts import Host
from swarmpy.manager.state.raft import atrest
from swarmpy.manager.state.raft.keyring import KeyRing, answers, load_secret
from tests.support.daemons import Daemon, DaemonSet
from tests.support.lab import LabFactory, TestLab
from tests.support.poll import wait_for
from tests.support.raftpeer import forged_vote, raft_term, send_as_member

pytestmark = pytest.mark.root

# Longer than it takes the agent to hear of its removal and leave, far shorter than the three
# heartbeat periods after which a silent node is only marked down.
LEAVES_WITHIN_S = 15.0


def cli(lab: TestLab, host: Host, *args: str) -> str:
    return lab.swarmpy(host, *args, check=True).stdout


def node_rows(lab: TestLab, host: Host) -> list[dict[str, str]]:
    out = cli(lab, host, "node", "ls", "--format", "json")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def node_id_of(lab: TestLab, manager: Host, hostname: str) -> str | None:
    for row in node_rows(lab, manager):
        if row["Hostname"] == hostname and row["Status"] == "Ready":
            return row["ID"].removesuffix(" *")
    return None


def containers(lab: TestLab, host: Host) -> list[str]:
    return cli(lab, host, "ps", "-a", "-q").split()


def in_swarm(host: Host) -> bool:
    return (host.data_root / "swarm" / "state.json").exists()


def join(lab: TestLab, host: Host, token: str, manager: Host) -> None:
    cli(lab, host, "swarm", "join", "--token", token, "--advertise-addr", host.ip,
        f"{manager.ip}:2377")  # fmt: skip


def test_a_removed_worker_leaves_and_joins_again_as_a_new_node(lab_factory: LabFactory) -> None:
    lab = lab_factory(3)
    lab.start_daemons()
    n1, n2, n3 = lab.hosts
    cli(lab, n1, "swarm", "init", "--advertise-addr", n1.ip, "--dispatcher-heartbeat", "1")
    token = cli(lab, n1, "swarm", "join-token", "-q", "worker").strip()
    for host in (n2, n3):
        join(lab, host, token, n1)
    cli(lab, n1, "service", "create", "--detach", "--name", "everywhere", "--mode", "global",
        "busybox", "sleep", "3600")  # fmt: skip
    wait_for("a task container on node3", lambda: containers(lab, n3), 60)
    old_id = wait_for("node3's id", lambda: node_id_of(lab, n1, n3.name), 15)

    cli(lab, n1, "node", "rm", "--force", old_id)
    removed_at = time.monotonic()
    wait_for("node3 to leave the swarm", lambda: not in_swarm(n3), LEAVES_WITHIN_S)
    assert time.monotonic() - removed_at < LEAVES_WITHIN_S
    assert not (n3.data_root / "certificates" / "swarm-node.crt").exists()
    wait_for("node3's task containers gone", lambda: containers(lab, n3) == [], 30)
    # Told by the managers, not timed out: the refusal names the node.
    assert f"node {old_id} was removed from the swarm" in n3.daemon_log.read_text()
    # Not retried: the daemon runs on, outside the swarm.
    assert "not part of a swarm" in lab.swarmpy(n3, "swarm", "leave").stderr
    assert all(row["ID"].removesuffix(" *") != old_id for row in node_rows(lab, n1))

    join(lab, n3, token, n1)
    new_id = wait_for("node3 back and ready", lambda: node_id_of(lab, n1, n3.name), 30)
    assert new_id != old_id
    wait_for("a task container on node3 again", lambda: containers(lab, n3), 60)
    ids = [row["ID"].removesuffix(" *") for row in node_rows(lab, n1)]
    assert old_id not in ids
    assert len(ids) == 3


# ---------------------------------------------------------------- the Raft secret

IPS = ("127.0.0.61", "127.0.0.62", "127.0.0.63")
PORT = 23870


def raft_addr(i: int) -> str:
    return f"{IPS[i]}:{PORT + RAFT_PORT_OFFSET}"


def state(d: Daemon) -> dict[str, str]:
    doc: dict[str, str] = json.loads((d.data_root / "swarm" / "state.json").read_text())
    return doc


def manager_statuses(d: Daemon) -> dict[str, str]:
    out = d.ok("node", "ls", "--format", "json")
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {r["ID"].removesuffix(" *"): r["ManagerStatus"] for r in rows}


def sent_secret(d: Daemon) -> str:
    """The secret the manager sends with, read as the daemon reads it: sealed at rest under
    the data keys its state file holds."""
    raft_dir = Path(d.data_root) / "raft"
    swarm = SwarmState.load(d.data_root / "swarm" / "state.json")
    assert swarm is not None
    atrest.register(raft_dir, swarm.data_keys)
    try:
        kept = load_secret(raft_dir)
    finally:
        atrest.unregister(raft_dir)
    assert kept is not None, "a manager keeps the secret it sends with"
    return kept[1]


def test_a_demoted_manager_can_no_longer_append_or_vote(daemons: DaemonSet) -> None:
    first, second, third = daemons.start(3)
    first.ok("swarm", "init", "--advertise-addr", IPS[0], "--listen-addr", f"{IPS[0]}:{PORT}",
             "--dispatcher-heartbeat", "1")  # fmt: skip
    token = first.ok("swarm", "join-token", "-q", "manager").strip()
    for d, ip in ((second, IPS[1]), (third, IPS[2])):
        d.ok("swarm", "join", "--token", token, "--advertise-addr", ip, "--listen-addr",
             f"{ip}:{PORT}", f"{IPS[0]}:{PORT}")  # fmt: skip
    wait_for("three managers", lambda: sorted(manager_statuses(first).values())
             == ["Leader", "Reachable", "Reachable"], 30)  # fmt: skip
    old = KeyRing(state(third)["raft_password"])
    third_id = state(third)["node_id"]
    for i in (0, 1):
        assert answers(raft_addr(i), old, 3), "the secret the third manager holds opens Raft"

    first.ok("node", "demote", third_id)
    wait_for("the demoted manager out of Raft",
             lambda: manager_statuses(first).get(third_id) == "", 30)  # fmt: skip
    wait_for("its secret refused by both managers",
             lambda: not any(answers(raft_addr(i), old, 1) for i in (0, 1)), 30)  # fmt: skip

    new = KeyRing(sent_secret(first))
    assert sent_secret(second) == new.send != old.send
    append = {"type": "append_entries", "term": 10**6, "prev_log_idx": 1, "prev_log_term": 1,
              "commit_index": 10**9, "entries": []}  # fmt: skip
    for i in (0, 1):
        term = raft_term(raft_addr(i), new)
        for claim in (raft_addr(2), raft_addr(1 - i)):  # itself, or a member it poses as
            assert not send_as_member(raft_addr(i), old, claim, [forged_vote(), append])
        assert raft_term(raft_addr(i), new) == term

    # The two go on: a write on one is read on the other.
    first.ok("network", "create", "-d", "overlay", "after-demotion")
    wait_for("the network on the second manager",
             lambda: "after-demotion" in second.ok("network", "ls"), 15)  # fmt: skip
