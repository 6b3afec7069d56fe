"""The control plane end to end with real daemons on loopback: init, join, tokens, node
commands, leader failover, restart and --force-new-cluster.

Each test owns its daemons (``tests.support.daemons``) and its own 127.0.0.x addresses and
ports, so it never meets another test's swarm; every daemon is killed and every tmp dir is
removed whatever the outcome. The dispatcher heartbeat is 1 s so Down shows within seconds.
"""

from __future__ import annotations

import pytest

from swarmpy.ca.certificates import parse_join_token
from tests.support.controlplane import (
    addr,
    all_ready,
    assert_refused,
    by_id,
    init,
    join,
    joined,
    leader_of,
    nodes,
    self_id,
    three_managers,
    token,
)
from tests.support.daemons import Daemon, DaemonSet
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

DOCKER_KEYS = {"ID", "Hostname", "Status", "Availability", "ManagerStatus", "EngineVersion"}
NOT_A_MANAGER = "This node is not a swarm manager."
MANAGER_LEAVE = (
    "You are attempting to leave the swarm on a node that is participating as a manager."
)


# ---------------------------------------------------------------------- init, join, nodes


def test_node_commands_on_a_three_node_swarm(daemons: DaemonSet) -> None:
    ips, port = ["127.0.0.21", "127.0.0.22", "127.0.0.23"], 23770
    leader, manager, worker = daemons.start(3)
    init(leader, ips[0], port)
    remote = addr(ips[0], port)
    joined(manager, token(leader, "manager"), ips[1], port, remote)
    joined(worker, token(leader, "worker"), ips[2], port, remote)

    rows = wait_for("three Ready nodes", lambda: all_ready(leader, 3), timeout=20)
    for row in rows:
        assert row.keys() >= DOCKER_KEYS, row
    statuses = sorted(r["ManagerStatus"] for r in rows)
    assert statuses == ["", "Leader", "Reachable"]
    leader_id = self_id(leader)
    assert [r["ID"] for r in rows if r["Self"]] == [leader_id]
    assert all(r["Availability"] == "Active" and r["EngineVersion"] for r in rows)

    # The table: a header, one line per node, the star on self only.
    table = leader.ok("node", "ls").splitlines()
    assert table[0].split()[:2] == ["ID", "HOSTNAME"]
    assert "MANAGER STATUS" in table[0]
    assert len(table) == 4
    assert sum("*" in line for line in table) == 1
    ids = leader.ok("node", "ls", "-q").split()
    assert sorted(ids) == sorted(by_id(rows))

    # A follower serves the same list, its own star.
    manager_id = self_id(manager)
    assert [r["ID"] for r in nodes(manager) if r["Self"]] == [manager_id]

    # inspect: a JSON array, Docker's shape; --pretty is for people.
    doc = leader.json("node", "inspect", "self")
    assert isinstance(doc, list)
    assert len(doc) == 1
    assert doc[0]["ID"] == leader_id
    assert doc[0]["Spec"]["Role"] == "manager"
    assert doc[0]["ManagerStatus"]["Leader"] is True
    assert doc[0]["Status"]["State"] == "ready"
    two = leader.json("node", "inspect", leader_id, manager_id)
    assert [n["ID"] for n in two] == [leader_id, manager_id]
    pretty = leader.ok("node", "inspect", "--pretty", "self")
    assert f"ID:\t\t\t{leader_id}" in pretty
    assert "Leader:\t\tYes" in pretty
    assert "State:\t\t\tReady" in pretty

    # The worker is not a manager: no control API there.
    refused = worker.cli("node", "ls")
    assert refused.returncode == 1
    assert_refused(refused, NOT_A_MANAGER)

    # Availability and labels, visible in inspect from any manager.
    worker_id = self_id_via(leader, ips[2])
    leader.ok("node", "update", "--availability", "drain", worker_id)
    assert manager.json("node", "inspect", worker_id)[0]["Spec"]["Availability"] == "drain"
    assert by_id(nodes(leader))[worker_id]["Availability"] == "Drain"
    leader.ok("node", "update", "--availability", "active", worker_id)
    leader.ok("node", "update", "--label-add", "zone=a", "--label-add", "disk=ssd", worker_id)
    spec = leader.json("node", "inspect", worker_id)[0]["Spec"]
    assert spec["Availability"] == "active"
    assert spec["Labels"] == {"zone": "a", "disk": "ssd"}
    leader.ok("node", "update", "--label-rm", "zone", worker_id)
    assert leader.json("node", "inspect", worker_id)[0]["Spec"]["Labels"] == {"disk": "ssd"}
    assert_refused(leader.cli("node", "update", "--label-rm", "nope", worker_id), "nope")
    assert_refused(
        leader.cli("node", "update", "--availability", "sideways", worker_id), "availability"
    )

    # rm of a Ready node needs --force (refused in SwarmKit's words); a manager needs
    # demotion first.
    assert_refused(leader.cli("node", "rm", worker_id), "is not down and can't be removed")
    assert_refused(leader.cli("node", "rm", manager_id), "demoted")
    assert worker_id in by_id(nodes(leader))

    # Leaving: a manager must force it (Docker's sentence); a worker just goes.
    assert_refused(manager.cli("swarm", "leave"), MANAGER_LEAVE, "--force")
    assert worker.ok("swarm", "leave").strip() == "Node left the swarm."
    assert_refused(worker.cli("node", "ls"), NOT_A_MANAGER)
    wait_for(
        "the worker to be Down after it left",
        lambda: by_id(nodes(leader))[worker_id]["Status"] == "Down",
        timeout=10,
    )
    leader.ok("node", "rm", worker_id)
    assert worker_id not in by_id(nodes(leader))


def self_id_via(d: Daemon, node_addr: str) -> str:
    """The id of the node advertising ``node_addr``, as the managers see it."""
    for doc in d.json("node", "inspect", *by_id(nodes(d))):
        if doc["Status"]["Addr"] == node_addr:
            return str(doc["ID"])
    raise AssertionError(f"no node advertises {node_addr}")


# ---------------------------------------------------------------------- join tokens


def test_join_tokens_and_refused_joins(daemons: DaemonSet) -> None:
    ip_a, ip_b, ip_j, port = "127.0.0.21", "127.0.0.22", "127.0.0.23", 23772
    a, b, joiner = daemons.start(3)
    init(a, ip_a, port)
    init(b, ip_b, port)  # another swarm, its own CA
    remote = addr(ip_a, port)

    worker_token = token(a, "worker")
    manager_token = token(a, "manager")
    assert worker_token != manager_token
    for tok in (worker_token, manager_token):
        parse_join_token(tok)  # well formed
    text = a.ok("swarm", "join-token", "worker")
    assert f"swarmpy swarm join --token {worker_token} {remote}" in text
    assert "To add a worker to this swarm" in text
    assert f"--token {manager_token} " in a.ok("swarm", "join-token", "manager")
    assert_refused(a.cli("swarm", "join-token", "boss"), "boss")

    def stays_out() -> None:
        info = joiner.cli("node", "ls")
        assert_refused(info, NOT_A_MANAGER)
        assert not (joiner.data_root / "swarm" / "state.json").exists()

    # Malformed.
    assert_refused(join(joiner, "SWMTKN-1-nope", ip_j, port, remote), "invalid join token")
    stays_out()
    # Another cluster's token: its CA digest names b's root, which a does not present.
    other = token(b, "worker")
    assert_refused(join(joiner, other, ip_j, port, remote), "does not match the join token")
    stays_out()
    # A forged digest: one character changed.
    digest = parse_join_token(worker_token).digest
    forged_digest = digest[:10] + ("0" if digest[10] != "0" else "1") + digest[11:]
    forged = worker_token.replace(digest, forged_digest)
    assert_refused(join(joiner, forged, ip_j, port, remote), "does not match the join token")
    stays_out()
    # A forged secret with the right digest: the manager itself refuses it.
    secret = parse_join_token(worker_token).secret
    wrong_secret = worker_token.replace(secret, secret[::-1])
    if wrong_secret != worker_token:
        assert_refused(join(joiner, wrong_secret, ip_j, port, remote))
        stays_out()

    # Rotation: the old token stops working, the new one works, the other role's is kept.
    rotated = a.ok("swarm", "join-token", "--rotate", "worker")
    assert "Successfully rotated worker join token." in rotated
    new_worker = token(a, "worker")
    assert new_worker != worker_token
    assert new_worker in rotated
    assert token(a, "manager") == manager_token
    assert_refused(join(joiner, worker_token, ip_j, port, remote))
    stays_out()
    quiet = a.ok("swarm", "join-token", "-q", "--rotate", "manager").strip()
    assert quiet == token(a, "manager")
    assert quiet != manager_token
    assert_refused(join(joiner, manager_token, ip_j, port, remote))
    stays_out()

    # After all those refusals the node joins cleanly.
    assert (
        joiner.ok(
            "swarm",
            "join",
            "--token",
            new_worker,
            "--advertise-addr",
            ip_j,
            "--listen-addr",
            addr(ip_j, port),
            remote,
        ).strip()
        == "This node joined a swarm as a worker."
    )
    wait_for("the joiner Ready", lambda: all_ready(a, 2), timeout=15)
    # b's swarm never saw it.
    assert len(nodes(b)) == 1


# ---------------------------------------------------------------------- failover


def test_leader_failover_and_restart(daemons: DaemonSet) -> None:
    ips, port = ["127.0.0.21", "127.0.0.22", "127.0.0.23"], 23774
    managers = three_managers(daemons, ips, port)
    first = managers[0]
    worker = daemons.start(1)[0]
    joined(worker, token(first, "worker"), "127.0.0.24", port, addr(ips[0], port))
    wait_for("the worker Ready", lambda: all_ready(first, 4), timeout=15)
    worker_id = self_id_via(first, "127.0.0.24")
    first.ok("network", "create", "-d", "overlay", "netA")
    old_leader = leader_of(first)
    assert old_leader == self_id(first)

    first.kill()
    survivors = managers[1:]

    def new_leader() -> str | None:
        # Until their election timeout the survivors still name the dead leader.
        leaders = {leader_of(d) for d in survivors} - {None, old_leader}
        return leaders.pop() if len(leaders) == 1 else None

    wait_for("a new leader", new_leader, timeout=10)
    for d in survivors:
        assert "netA" in d.ok("network", "ls")

    def old_leader_gone() -> bool:
        rows = by_id(nodes(survivors[0]))
        row = rows[old_leader]
        assert row["ManagerStatus"] == "Unreachable", row
        assert row["Status"] == "Down", row
        # The worker's session followed the leader: it never stays Down.
        assert rows[worker_id]["Status"] == "Ready", rows[worker_id]
        return True

    # 3 heartbeat periods of 1 s, plus the checker's tick and the election.
    wait_for("the old leader Unreachable and Down", old_leader_gone, timeout=15)
    # Writes still work with two of three managers.
    survivors[1].ok("network", "create", "-d", "overlay", "netB")

    # Same data root: it comes back as the same node, Reachable, Ready, with all objects.
    first.start()
    first.wait_ready()

    def back() -> bool:
        row = by_id(nodes(survivors[0]))[old_leader]
        assert row["ManagerStatus"] == "Reachable", row
        assert row["Status"] == "Ready", row
        return True

    wait_for("the restarted manager Reachable and Ready", back, timeout=20)
    assert self_id(first) == old_leader
    wait_for(
        "netB on the restarted manager",
        lambda: "netB" in first.ok("network", "ls"),
        timeout=10,
    )
    assert "netA" in first.ok("network", "ls")
    assert [r["ManagerStatus"] for r in nodes(first)].count("Leader") == 1


def test_force_new_cluster_keeps_objects(daemons: DaemonSet) -> None:
    ips, port = ["127.0.0.23", "127.0.0.24", "127.0.0.25"], 23776
    managers = three_managers(daemons, ips, port)
    lone = managers[2]
    lone.ok("network", "create", "-d", "overlay", "netA")
    assert_refused(lone.cli("swarm", "leave"), MANAGER_LEAVE)
    lone_id = self_id(lone)
    for d in managers[:2]:
        d.kill()

    lone.ok("swarm", "init", "--force-new-cluster", timeout=60)
    wait_for("the lone manager leading", lambda: leader_of(lone) == lone_id)
    rows = nodes(lone)
    mine = by_id(rows)[lone_id]
    assert mine["ManagerStatus"] == "Leader"
    assert mine["Self"]
    assert [r["ManagerStatus"] for r in rows].count("Leader") == 1
    assert "netA" in lone.ok("network", "ls")
    lone.ok("network", "create", "-d", "overlay", "netB")
    listed = lone.ok("network", "ls")
    assert "netA" in listed
    assert "netB" in listed
    # The new cluster of one is what the disk holds now: a restart keeps it.
    lone.restart()
    wait_for("the lone manager leading after a restart", lambda: leader_of(lone) == lone_id)
    listed = lone.ok("network", "ls")
    assert "netA" in listed
    assert "netB" in listed
    # It is a working swarm of one: it accepts a new node.
    newcomer = daemons.start(1)[0]
    joined(newcomer, token(lone, "worker"), "127.0.0.21", port, addr(ips[2], port))
    wait_for(
        "the newcomer Ready",
        lambda: sum(r["Status"] == "Ready" for r in nodes(lone)) == 2,
        timeout=15,
    )
