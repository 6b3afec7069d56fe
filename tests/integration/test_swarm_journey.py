"""The swarm journey on three namespaced hosts with real daemons, runc and overlay networks.

The session's shared swarm lab, for the whole module; the tests run in order and each
leaves the swarm as the next expects it. What is checked is what a user would check with
the CLI: service ls/ps, exec into containers, ping, DNS, TCP through the VIP.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmpy.lab.hosts import Host
from swarmpy.lab.manage import daemon_pid
from tests.support.lab import TestLab
from tests.support.poll import wait_for
from tests.support.swarmlab import restore

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def swarm(shared_swarm_lab: TestLab) -> Iterator[TestLab]:
    """The session's shared swarm, for the whole module: its tests build on each other (the
    service the journey creates is the one later tests scale, drain and kill nodes under), so
    the swarm is put back only after the last one."""
    try:
        yield shared_swarm_lab
    finally:
        restore(shared_swarm_lab)


def cli(lab: TestLab, n: int, *args: str) -> str:
    result = lab.swarmpy(lab.hosts[n - 1], *args)
    assert result.returncode == 0, f"swarmpy {' '.join(args)}: {result.stderr}"
    return result.stdout


def tasks(lab: TestLab, service: str) -> list[dict[str, str]]:
    out = cli(lab, 1, "service", "ps", "--no-trunc", "--format", "json", service)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def running(lab: TestLab, service: str) -> list[dict[str, str]]:
    return [
        t
        for t in tasks(lab, service)
        if t["DesiredState"] == "Running" and t["CurrentState"].startswith("Running")
    ]


def replicas(lab: TestLab, service: str) -> str:
    out = cli(lab, 1, "service", "ls", "--format", "json")
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return str(next(r["Replicas"] for r in rows if r["Name"] == service))


def container_on(lab: TestLab, service: str, node_name: str) -> tuple[int, str]:
    """(host number, container id) of a running task of ``service`` on ``node_name``."""
    n = int(node_name.removeprefix("node"))
    out = cli(lab, n, "ps", "--no-trunc", "--format", "json")
    for line in out.splitlines():
        row = json.loads(line)
        if row["Names"].startswith(f"{service}."):
            return n, row["ID"]
    raise AssertionError(f"no container of {service} on {node_name}")


def exec_in(lab: TestLab, n: int, cid: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return lab.swarmpy(lab.hosts[n - 1], "exec", cid, *cmd)


def test_nodes_are_ready(swarm: TestLab) -> None:
    out = cli(swarm, 1, "node", "ls")
    assert out.count("Ready") == 3
    assert out.count("Leader") == 1


def test_overlay_journey(swarm: TestLab) -> None:
    cli(swarm, 1, "network", "create", "-d", "overlay", "overnet")
    assert "overnet" in cli(swarm, 1, "network", "ls")
    assert "overnet" not in cli(swarm, 2, "network", "ls")  # no task there yet

    cli(
        swarm,
        1,
        "service",
        "create",
        "--name",
        "myservice",
        "--network",
        "overnet",
        "--replicas",
        "2",
        "--constraint",
        "node.hostname!=node3",
        "busybox",
        "sleep",
        "infinity",
    )
    assert replicas(swarm, "myservice") == "2/2"
    nodes = sorted(t["Node"] for t in running(swarm, "myservice"))
    assert nodes == ["node1", "node2"]
    assert "overnet" in cli(swarm, 2, "network", "ls")

    n1, c1 = container_on(swarm, "myservice", "node1")
    n2, c2 = container_on(swarm, "myservice", "node2")
    ip2 = re.search(r"inet (10\.[\d.]+)/", exec_in(swarm, n2, c2, "ip", "-4", "addr").stdout)
    assert ip2, "task on node2 has no overlay address"
    ping = exec_in(swarm, n1, c1, "ping", "-c2", "-W2", ip2.group(1))
    assert ping.returncode == 0, ping.stdout + ping.stderr

    resolv = exec_in(swarm, n1, c1, "cat", "/etc/resolv.conf").stdout
    assert "nameserver 127.0.0.11" in resolv

    inspect = json.loads(cli(swarm, 1, "service", "inspect", "myservice"))
    vip = inspect[0]["Endpoint"]["VirtualIPs"][0]["Addr"].split("/")[0]
    ping_vip = exec_in(swarm, n1, c1, "ping", "-c2", "-W2", "myservice")
    assert ping_vip.returncode == 0, ping_vip.stdout + ping_vip.stderr
    assert f"({vip})" in ping_vip.stdout

    lookup = exec_in(swarm, n1, c1, "nslookup", "tasks.myservice").stdout
    assert ip2.group(1) in lookup
    assert lookup.count("Address:") >= 3


def _hostnames_via_vip(lab: TestLab, n: int, cid: str, name: str, count: int) -> set[str]:
    """Each request is a new TCP connection to the VIP; the backend answers its hostname."""
    seen = set()
    request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {name} 8080 | tail -1"
    for _ in range(count):
        result = exec_in(lab, n, cid, "sh", "-c", request)
        if result.returncode == 0 and result.stdout.strip():
            seen.add(result.stdout.strip())
    return seen


def test_tcp_through_the_vip_follows_the_tasks(swarm: TestLab) -> None:
    cli(
        swarm,
        1,
        "service",
        "create",
        "--name",
        "web",
        "--network",
        "overnet",
        "--stop-grace-period",
        "1s",
        "--replicas",
        "3",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www",
    )
    host_of = {t["Node"] for t in running(swarm, "myservice")}
    n, client = container_on(swarm, "myservice", sorted(host_of)[0])
    backends = {t["ID"][:12] for t in running(swarm, "web")}
    assert len(backends) == 3
    seen = _hostnames_via_vip(swarm, n, client, "web", 18)
    assert seen == backends, f"VIP reached {seen}, tasks are {backends}"

    cli(swarm, 1, "service", "scale", "web=1")
    (only,) = [t["ID"][:12] for t in running(swarm, "web")]
    time.sleep(1.5)  # the VIP map follows within a second
    seen = _hostnames_via_vip(swarm, n, client, "web", 8)
    assert seen == {only}

    # A rolling update (stop-first): the ended task's container stays for `ps -a`, but its
    # sandbox goes with its end, so its address can serve another task.
    cli(swarm, 1, "service", "update", "--env-add", "V=2", "web")
    (new,) = [t["ID"][:12] for t in running(swarm, "web")]
    assert new != only
    time.sleep(1.5)
    assert _hostnames_via_vip(swarm, n, client, "web", 8) == {new}
    (ended,) = [t for t in tasks(swarm, "web") if t["ID"].startswith(only)]
    assert ended["DesiredState"] == "Shutdown"
    sandboxes = os.listdir("/run/netns")
    assert not [ns for ns in sandboxes if ns.endswith(f"-{only}")], "ended task's sandbox"
    assert [ns for ns in sandboxes if ns.endswith(f"-{new}")], "running task's sandbox"

    cli(swarm, 1, "service", "rm", "web")
    wait_for(
        "the name web to disappear",
        lambda: exec_in(swarm, n, client, "nslookup", "web").returncode != 0,
        5,
    )


def test_drain_moves_tasks(swarm: TestLab) -> None:
    cli(
        swarm,
        1,
        "service",
        "create",
        "--name",
        "pool",
        "--stop-grace-period",
        "1s",
        "--replicas",
        "3",
        "busybox",
        "sleep",
        "infinity",
    )
    cli(swarm, 1, "node", "update", "--availability", "drain", "node3")
    wait_for(
        "pool's tasks to leave the drained node",
        lambda: (
            {t["Node"] for t in running(swarm, "pool")} <= {"node1", "node2"}
            and len(running(swarm, "pool")) == 3
        ),
        30,
    )
    cli(swarm, 1, "node", "update", "--availability", "active", "node3")
    cli(swarm, 1, "service", "scale", "pool=5")
    assert replicas(swarm, "pool") == "5/5"
    cli(swarm, 1, "service", "scale", "pool=2")
    assert replicas(swarm, "pool") == "2/2"


def _daemon_pid(host: Host) -> int:
    pid = daemon_pid(host)
    assert pid is not None, f"no daemon for {host.name}"
    return pid


def test_restarted_agent_readopts_its_containers(swarm: TestLab) -> None:
    host = swarm.hosts[1]  # node2: a worker running a task of myservice
    before = cli(swarm, 2, "ps", "-q").split()
    assert before
    os.kill(_daemon_pid(host), signal.SIGKILL)
    swarm.lab.start_daemon(host)
    swarm.lab.wait_for_socket(host, 30)
    time.sleep(3)
    assert cli(swarm, 2, "ps", "-q").split() == before  # same containers, no duplicates
    assert replicas(swarm, "myservice") == "2/2"
    n1, c1 = container_on(swarm, "myservice", "node1")
    assert exec_in(swarm, n1, c1, "ping", "-c1", "-W2", "myservice").returncode == 0


def test_dead_node_tasks_are_rescheduled(swarm: TestLab) -> None:
    host = swarm.hosts[1]
    os.kill(_daemon_pid(host), signal.SIGKILL)
    runc = ["runc", "--root", str(host.runc_root)]
    for cid in subprocess.run([*runc, "list", "-q"], capture_output=True, text=True).stdout.split():
        subprocess.run([*runc, "kill", cid, "KILL"], capture_output=True)
    wait_for("node2 to be Down", lambda: "Down" in cli(swarm, 1, "node", "ls"), 15)
    wait_for(
        "myservice back to 2/2 without node2",
        lambda: (
            replicas(swarm, "myservice") == "2/2"
            and "node2" not in {t["Node"] for t in running(swarm, "myservice")}
        ),
        20,
    )


def test_service_rm_leaves_nothing(swarm: TestLab) -> None:
    for name in ("myservice", "pool"):
        cli(swarm, 1, "service", "rm", name)
    wait_for(
        "node1's and node3's containers to go",
        lambda: all(cli(swarm, n, "ps", "-a", "-q").strip() == "" for n in (1, 3)),
        30,
    )
    vni_key = "com.docker.network.driver.overlay.vxlanid_list"
    vni = cli(swarm, 1, "network", "inspect", "--format", f'{{{{index .Options "{vni_key}"}}}}',
              "ingress").strip()  # fmt: skip
    for n in (1, 3):
        host = swarm.hosts[n - 1]
        mounts = Path("/proc/mounts").read_text()
        assert str(host.data_root) not in mounts
        links = swarm.lab.run(host, ["ip", "-o", "link"], capture_output=True, text=True).stdout
        # The node-local bridge stays while the daemon runs, as docker0 does, and so does the
        # routing mesh's ingress network and sandbox, as Docker's ingress_sbox; overlay
        # bridges, VXLAN devices and veths go with the last task.
        p = host.daemon_prefix
        stay = {f"{p}0", f"{p}br{vni}", f"{p}vx{vni}", f"{p}vingress0", f"{p}vingress1"}
        ours = [
            line
            for line in links.splitlines()
            if p in line and line.split(":")[1].strip().split("@")[0] not in stay
        ]
        assert ours == [], links
    leftovers = [
        ns
        for ns in os.listdir("/run/netns")
        if any(ns.startswith(h.daemon_prefix + "-") for h in swarm.hosts[::2])
        and not ns.endswith("-ingress_sbox")
    ]
    assert leftovers == []
