"""What confines a task's container, seen from inside it, on a real daemon: the default
seccomp profile (in the task and in what exec runs) and the pids limit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.daemons import Daemon
from tests.support.localswarm import cgroup_dir, remove_service, run_task
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

# Every process forks two more, forever; init itself becomes a sleep that needs no fork, so
# the container lives on while the bomb hits the limit.
FORK_BOMB = "f() { f | f & }; f; exec sleep 600"
PIDS_LIMIT = 24


@pytest.fixture
def swarm(one_node_swarm: Daemon) -> Daemon:
    """The session's shared one-node swarm (each test removes its service; the fixture
    checks and restores the rest)."""
    return one_node_swarm


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


def in_task(d: Daemon, container: str, script: str) -> subprocess.CompletedProcess[str]:
    return d.cli("exec", container, "sh", "-c", script)


def seccomp_mode(d: Daemon, container: str, pid: str) -> str:
    """The Seccomp line of /proc/<pid>/status in the container: 2 is a filter."""
    status = in_task(d, container, f"cat /proc/{pid}/status").stdout
    return next(line.split()[1] for line in status.splitlines() if line.startswith("Seccomp:"))


def test_tasks_and_their_execs_run_under_the_default_seccomp_profile(swarm: Daemon) -> None:
    name = run_task(swarm, "web", "busybox", "httpd", "-f", "-p", "8080", "-h", "/")
    try:
        assert seccomp_mode(swarm, name, "1") == "2", "the task's process"
        assert seccomp_mode(swarm, name, "self") == "2", "a process exec started"
        # Unconfined, root in the container may make a user namespace (it needs no
        # capability); Docker's profile refuses it to a container without CAP_SYS_ADMIN.
        userns = in_task(swarm, name, "unshare -U true")
        assert userns.returncode != 0
        assert "Operation not permitted" in userns.stderr
        # Ordinary workloads are untouched: a shell, ping (a raw socket), a web server.
        assert in_task(swarm, name, "echo $((6 * 7))").stdout == "42\n"
        ping = in_task(swarm, name, "ping -c 1 -W 5 127.0.0.1")
        assert ping.returncode == 0, ping.stdout + ping.stderr
        page = in_task(swarm, name, "wget -q -O - http://127.0.0.1:8080/etc/hostname")
        assert page.returncode == 0, page.stderr
        assert page.stdout.strip() == in_task(swarm, name, "hostname").stdout.strip()
    finally:
        remove_service(swarm, "web")


def test_the_profile_follows_the_tasks_capabilities(swarm: Daemon) -> None:
    name = run_task(swarm, "admin", "--cap-add", "SYS_ADMIN", "busybox", "sleep", "600")
    try:
        # With CAP_SYS_ADMIN, Docker's profile allows namespaces and mounts.
        ns = in_task(swarm, name, "unshare -m true")
        assert ns.returncode == 0, ns.stderr
        # The profile blocks swapoff even with the capability: the kernel would have said the
        # file is missing, the filter refuses before it looks.
        swap = in_task(swarm, name, "swapoff /nonexistent")
        assert swap.returncode != 0
        assert "Operation not permitted" in swap.stderr, swap.stderr
    finally:
        remove_service(swarm, "admin")
