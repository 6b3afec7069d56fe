"""`swarmpy lab`: the life cycle a newcomer goes through (up, status, exec, down) and the demo,
driven through the real CLI as a user would run it."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmpy.lab import manage, teardown
from swarmpy.lab.hosts import daemon_cgroup_parent, daemon_prefix, swarmpy_executable
from swarmpy.lab.netns import list_netns

pytestmark = pytest.mark.root


def swarmpy(*args: str, stdin: str = "", timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(swarmpy_executable()), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def lab_name() -> Iterator[str]:
    """A unique lab name; whatever the test leaves behind is removed, pass or fail."""
    name = "lt" + secrets.token_hex(4)
    try:
        yield name
    finally:
        manage.down(name)


def leftovers(name: str, n_hosts: int) -> list[str]:
    """Everything of lab ``name`` (hosts node1..nodeN) the kernel or file system still has."""
    state = manage.state_dir(name)
    found = [f"netns {ns}" for ns in list_netns(f"{name}.")]
    for i in range(1, n_hosts + 1):
        prefix = daemon_prefix(name, f"node{i}")
        found += [f"netns {ns}" for ns in list_netns(f"{prefix}-")]
        cgroup = teardown.CGROUP_ROOT / daemon_cgroup_parent(prefix)
        if cgroup.exists():
            found.append(f"cgroup {cgroup}")
    for pid in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if os.fsencode(str(state)) in cmdline:
            found.append(f"process {pid}")
    found += [f"mount {m}" for m in teardown.mounts_under(state)]
    if state.exists():
        found.append(f"directory {state}")
    return found


@pytest.mark.timeout(300)
def test_lab_life_cycle(lab_name: str) -> None:
    up = swarmpy("lab", "up", "--hosts", "2", "--name", lab_name)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"lab {lab_name} is up" in up.stdout
    assert "--dispatcher-heartbeat 2" in up.stdout

    status = swarmpy("lab", "status", "--name", lab_name)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split() == ["HOST", "ADDRESS", "DAEMON", "ROLE"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"node1", "node2", "registry"}
    assert "198.51.100.11" in rows["node1"]
    assert "running (pid" in rows["node1"]
    assert "manager" in rows["node1"]
    assert "worker" in rows["node2"]

    nodes = swarmpy("lab", "exec", "--name", lab_name, "node1", "--", "swarmpy", "node", "ls")
    assert nodes.returncode == 0, nodes.stderr
    assert sum(" Ready " in line for line in nodes.stdout.splitlines()) == 2

    # The docker CLI on a host talks to that host's daemon too.
    docker_nodes = swarmpy(
        "lab", "exec", "--name", lab_name, "node1", "--", "/usr/bin/docker", "node", "ls"
    )
    assert docker_nodes.returncode == 0, docker_nodes.stderr
    assert docker_nodes.stdout == nodes.stdout

    # Exit status, stdin and the host's own hostname pass through.
    code = swarmpy("lab", "exec", "--name", lab_name, "node2", "--", "sh", "-c", "exit 3")
    assert code.returncode == 3
    echo = swarmpy("lab", "exec", "--name", lab_name, "node2", "--", "cat", stdin="hello\n")
    assert echo.stdout == "hello\n"
    name = swarmpy("lab", "exec", "--name", lab_name, "node2", "--", "hostname")
    assert name.stdout.strip() == "node2"

    again = swarmpy("lab", "up", "--hosts", "2", "--name", lab_name)
    assert again.returncode == 0
    assert f"lab {lab_name} is already up" in again.stdout

    lab = manage.load(lab_name)
    pid = manage.daemon_pid(lab.host("node2"))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    teardown.kill_and_wait([pid])
    status = swarmpy("lab", "status", "--name", lab_name)
    node2 = next(line for line in status.stdout.splitlines() if line.startswith("node2"))
    assert "stopped" in node2

    # `up` of a lab whose daemon died restarts that daemon: the node comes back with its
    # identity, as a restarted dockerd does.
    node_ls = ("lab", "exec", "--name", lab_name, "node1", "--", "swarmpy", "node", "ls", "-q")
    before = swarmpy(*node_ls)
    restarted = swarmpy("lab", "up", "--hosts", "2", "--name", lab_name)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "restarting the daemon on node2" in restarted.stdout
    assert f"lab {lab_name} is up" in restarted.stdout
    assert manage.daemon_pid(manage.load(lab_name).host("node2")) is not None
    after = swarmpy(*node_ls)
    assert sorted(after.stdout.split()) == sorted(before.stdout.split())

    down = swarmpy("lab", "down", "--name", lab_name)
    assert down.returncode == 0
    assert f"lab {lab_name} removed" in down.stdout
    assert leftovers(lab_name, 2) == []
    twice = swarmpy("lab", "down", "--name", lab_name)
    assert twice.returncode == 0
    assert f"no lab named {lab_name}" in twice.stdout


@pytest.mark.timeout(120)
def test_failed_up_removes_everything(lab_name: str, tmp_path: Path) -> None:
    """A daemon that cannot start makes `up` fail with one line and leave nothing behind."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    # docker-registry that exits at once: the registry host never answers.
    (fake_bin / "docker-registry").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "docker-registry").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    failed = subprocess.run(
        [str(swarmpy_executable()), "lab", "up", "--hosts", "1", "--name", lab_name],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert failed.returncode != 0
    errors = failed.stderr.strip().splitlines()
    assert len(errors) == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    assert leftovers(lab_name, 1) == []


@pytest.mark.timeout(300)
def test_demo_passes(lab_name: str) -> None:
    demo = swarmpy("lab", "demo", "--name", lab_name, timeout=280)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr
    assert "\nPASS: " in demo.stdout
    for typed in (
        "node1$ swarmpy swarm init --advertise-addr 198.51.100.11",
        "node2$ swarmpy swarm join --token ",
        "node1$ swarmpy network create -d overlay overnet",
        "node1$ swarmpy service create --name myservice --network overnet --replicas 2 busybox",
        "node1$ swarmpy exec ",
    ):
        assert typed in demo.stdout
    assert leftovers(lab_name, 2) == []
