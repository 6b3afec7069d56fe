"""The control plane's guards end to end, with real daemons on loopback: a spec the managers
could not serve is refused before it is stored, a manager is never removed (not even with
--force), and a manager that has lost its leader says so instead of answering from its copy.
"""

from __future__ import annotations

import pytest

from tests.support.controlplane import (
    addr,
    assert_refused,
    by_id,
    init,
    joined,
    leader_of,
    nodes,
    self_id,
    three_managers,
    token,
)
from tests.support.daemons import DaemonSet
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

NO_LEADER = (
    "The swarm does not have a leader. It's possible that too few managers are online. "
    "Make sure more than half of the managers are online."
)
MUST_DEMOTE = "is a cluster manager and is a member of the raft cluster. It must be demoted"


def test_a_trillion_replicas_never_reaches_the_store(daemons: DaemonSet) -> None:
    (manager,) = daemons.start(1)
    init(manager, "127.0.0.51", 23792)
    refused = manager.cli(
        "service", "create", "-d", "--replicas", "1000000000000", "--name", "huge", "busybox"
    )
    assert_refused(refused, "invalid replicas value 1000000000000", "at most 100000 replicas")
    assert "huge" not in manager.ok("service", "ls")
    # The manager answers on, and after a restart too: nothing was stored to replay.
    manager.restart()
    wait_for("the manager leading again", lambda: leader_of(manager) == self_id(manager))
    assert manager.ok("service", "ls", "-q") == ""


def test_managers_are_not_removed_and_reads_need_a_leader(daemons: DaemonSet) -> None:
    ips, port = ["127.0.0.52", "127.0.0.53", "127.0.0.54"], 23794
    managers = three_managers(daemons, ips, port)
    first, second, third = managers
    worker = daemons.start(1)[0]
    joined(worker, token(first, "worker"), "127.0.0.55", port, addr(ips[0], port))
    second_id = self_id(second)

    # Docker's refusal, --force or not, even once the manager is down.
    for force in ([], ["--force"]):
        assert_refused(first.cli("node", "rm", *force, second_id), MUST_DEMOTE)
    second.kill()
    wait_for(
        "the killed manager Down",
        lambda: by_id(nodes(first))[second_id]["Status"] == "Down",
        timeout=15,
    )
    assert_refused(first.cli("node", "rm", "--force", second_id), MUST_DEMOTE)
    assert second_id in by_id(nodes(first))

    # Two of three managers gone: the last one has no leader and no copy it can vouch for.
    third.kill()
    refusals = [
        ("node", "ls"),
        ("node", "inspect", "self"),
        ("service", "ls"),
        ("service", "inspect", "x"),
        ("service", "ps", "x"),
        ("network", "inspect", "x"),
    ]

    def no_leader() -> bool:
        result = first.cli("node", "ls")
        assert result.returncode != 0, "still answering"
        return NO_LEADER in result.stderr

    wait_for("the last manager to lose its leader", no_leader, timeout=20)
    for command in refusals:
        assert_refused(first.cli(*command), NO_LEADER)
    # As dockerd's, which ignores the cluster's error there: the node's own networks.
    assert "bridge" in first.ok("network", "ls", "--format", "{{.Name}}").split()

    # A manager back: a leader again, and the reads answer.
    third.start()
    third.wait_ready()
    wait_for("a leader again", lambda: leader_of(first) is not None, timeout=30)
    assert second_id in by_id(nodes(first))
