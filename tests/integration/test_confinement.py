"""What confines a task's container, seen from inside it, on a real daemon: its pids limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemons import Daemon, DaemonSet
from tests.support.localswarm import cgroup_dir, remove_service, run_task, single_node_swarm
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

# Every process forks two more, forever; init itself becomes a sleep that needs no fork, so
# the container lives on while the bomb hits the limit.
FORK_BOMB = "f() { f | f & }; f; exec sleep 600"
PIDS_LIMIT = 24


@pytest.fixture(scope="module")
def swarm() -> Iterator[Daemon]:
    """One daemon in a swarm of its own, shared by the tests here; all gone afterwards."""
    with DaemonSet() as ds:
        (d,) = ds.start(1)
        with single_node_swarm(d):
            yield d


def pid_of(d: Daemon, container: str) -> int:
    (doc,) = d.json("inspect", container)
    return int(doc["State"]["Pid"])


def pids_events_max(cgroup: Path) -> int:
    """How often a fork failed at the limit (pids.events: ``max <n>``)."""
    return int((cgroup / "pids.events").read_text().split()[1])


def test_a_fork_bomb_is_held_to_the_pids_limit(swarm: Daemon) -> None:
    name = run_task(
        swarm,
        "bomb",
        "--limit-pids", str(PIDS_LIMIT),
        "--limit-cpu", "0.5",  # the machine is shared: the bomb gets half a CPU
        "busybox", "sh", "-c", FORK_BOMB,
    )  # fmt: skip
    try:
        (spec,) = swarm.json("service", "inspect", "bomb")
        assert spec["Spec"]["TaskTemplate"]["Resources"]["Limits"]["Pids"] == PIDS_LIMIT
        cgroup = cgroup_dir(pid_of(swarm, name), "pids")
        assert (cgroup / "pids.max").read_text().strip() == str(PIDS_LIMIT)
        wait_for("the bomb to reach the limit", lambda: pids_events_max(cgroup) > 0, 30)
        for _ in range(20):  # and it stays held there while the bomb goes on
            assert int((cgroup / "pids.current").read_text()) <= PIDS_LIMIT
        assert task_is_running(swarm, name), "the limit holds the bomb, the task lives on"
        swarm.ok("service", "update", "-d", "--limit-pids", "0", "bomb")
        (spec,) = swarm.json("service", "inspect", "bomb")
        assert spec["Spec"]["TaskTemplate"]["Resources"]["Limits"]["Pids"] == 0
    finally:
        remove_service(swarm, "bomb")


def task_is_running(d: Daemon, container: str) -> bool:
    (doc,) = d.json("inspect", container)
    return bool(doc["State"]["Running"])
