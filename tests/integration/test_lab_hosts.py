"""Several hosts on one machine: reachability, hostnames, the registry/DNS host, teardown."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import httpx
import pytest
from pyroute2 import IPRoute

from swarmpy.engine.images.manifest import ACCEPT
from swarmpy.lab import teardown
from swarmpy.lab.busybox import busybox_image
from swarmpy.lab.hosts import Host, Lab, daemon_cgroup_parent
from swarmpy.lab.netns import list_netns, netns_inode
from swarmpy.lab.registry import REGISTRY_DNS_NAME
from tests.support.lab import LabFactory, TestLab
from tests.support.poll import wait_for

pytestmark = pytest.mark.root


def ping(lab: Lab, src: Host, dst_ip: str) -> bool:
    done = lab.run(src, ["ping", "-c", "1", "-W", "2", dst_ip], capture_output=True)
    return done.returncode == 0


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1]
    except FileNotFoundError:
        return False
    return not state.startswith(("Z", "X"))


def links(netns: str | None = None) -> set[str]:
    with IPRoute(**({"netns": netns} if netns else {})) as ipr:
        return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def lab_namespaces(name: str) -> list[str]:
    return list_netns(f"{name}.")


def assert_nothing_left(name: str, inodes: set[int], pids: list[int]) -> None:
    assert not lab_namespaces(name)
    assert not teardown.pids_in_netns(inodes)
    assert not [pid for pid in pids if running(pid)]


@contextmanager
def http_server(lab: Lab, host: Host, port: int = 8080) -> Iterator[subprocess.Popen[bytes]]:
    server = lab.spawn(
        host,
        [sys.executable, "-m", "http.server", "--bind", host.ip, str(port)],
        host.dir / "http.log",
    )
    url = f"http://{host.ip}:{port}/"
    wait_for(
        "http.server to answer",
        lambda: lab.run(host, ["curl", "-sf", "-o", "/dev/null", url]).returncode == 0,
        10,
    )
    try:
        yield server
    finally:
        # The lab may outlive the test (the shared swarm lab): leave the port free.
        server.terminate()
        server.wait(10)


@pytest.fixture
def lab3(shared_swarm_lab: TestLab) -> TestLab:
    """Three hosts and the registry host: the session's shared swarm lab, whose daemons do not
    get in the way of what these tests check (addresses, names, routes, the registry)."""
    return shared_swarm_lab


def test_hosts_reach_each_other_and_the_registry(lab3: TestLab) -> None:
    lab, (h1, h2, h3) = lab3.lab, lab3.hosts
    assert lab3.registry is not None
    assert [h.ip for h in lab3.hosts] == ["198.51.100.11", "198.51.100.12", "198.51.100.13"]
    assert lab3.registry.ip == "198.51.100.2"
    assert ping(lab, h1, h2.ip)
    assert ping(lab, h3, h1.ip)
    assert ping(lab, h1, lab3.registry.ip)


def test_each_host_sees_its_own_hostname(lab3: TestLab) -> None:
    lab = lab3.lab
    seen = [lab.run(h, ["hostname"], capture_output=True, text=True).stdout for h in lab3.hosts]
    assert seen == [f"{h.name}\n" for h in lab3.hosts]
    assert (
        lab.run(
            lab3.hosts[0], ["cat", "/proc/sys/kernel/hostname"], capture_output=True, text=True
        ).stdout.strip()
        == lab3.hosts[0].name
    )


def test_tcp_server_on_one_host_is_reachable_from_another(lab3: TestLab) -> None:
    lab, (h1, h2, _) = lab3.lab, lab3.hosts
    with http_server(lab, h2):
        status = lab.call_in(h1, lambda: httpx.get(f"http://{h2.ip}:8080/").status_code)
    assert status == 200


def test_registry_answers_from_a_host(lab3: TestLab) -> None:
    assert lab3.registry is not None
    url = f"{lab3.registry.url}/v2/"
    response = lab3.lab.call_in(lab3.hosts[0], lambda: httpx.get(url, timeout=5))
    assert response.status_code == 200
    curl = lab3.lab.run(lab3.hosts[0], ["curl", "-sf", url], capture_output=True, text=True)
    assert curl.returncode == 0


def test_registry_is_preloaded_with_busybox(lab3: TestLab) -> None:
    assert lab3.registry is not None
    url = f"{lab3.registry.url}/v2/library/busybox/manifests/latest"

    def fetch() -> httpx.Response:
        return httpx.get(url, headers={"Accept": ACCEPT}, timeout=5)

    response = lab3.lab.call_in(lab3.hosts[2], fetch)
    assert response.status_code == 200
    assert response.json()["config"]["digest"] == busybox_image().config_digest


def test_lab_dns_answers_local_names_only(lab3: TestLab) -> None:
    assert lab3.registry is not None
    server = lab3.registry.ip

    def ask(name: str) -> dns.message.Message:
        return dns.query.udp(dns.message.make_query(name, dns.rdatatype.A), server, timeout=3)

    local = lab3.lab.call_in(lab3.hosts[0], lambda: ask(REGISTRY_DNS_NAME))
    assert [rr.address for rr in local.answer[0]] == [server]
    outside = lab3.lab.call_in(lab3.hosts[0], lambda: ask("example.com"))
    assert not outside.answer
    assert outside.rcode() in (dns.rcode.REFUSED, dns.rcode.SERVFAIL, dns.rcode.NXDOMAIN)
    assert Path(lab3.hosts[0].resolv_conf).read_text() == f"nameserver {server}\n"


def test_destroy_leaves_nothing_and_can_run_twice(lab_factory: LabFactory) -> None:
    root_before = links()
    test_lab = lab_factory(2)
    lab = test_lab.lab
    sleeper = lab.spawn(test_lab.hosts[1], ["sleep", "300"], lab.state_dir / "sleep.log")
    namespaces = lab_namespaces(lab.name)
    assert len(namespaces) == 4  # underlay, two hosts, registry
    inodes = {i for i in map(netns_inode, namespaces) if i is not None}
    made = set().union(*(links(ns) for ns in namespaces)) - {"lo"}

    lab.destroy()

    assert_nothing_left(lab.name, inodes, [sleeper.pid])
    assert not lab.state_dir.exists()
    assert not (links() - root_before) & made
    lab.destroy()


CRASHING_CREATOR = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from swarmpy.lab.hosts import Lab
    from swarmpy.lab.registry import start_registry_host

    lab = Lab(sys.argv[1], Path(sys.argv[2]))
    lab.create_underlay()
    hosts = [lab.add_host(f"node{i}") for i in (1, 2)]
    start_registry_host(lab)
    sleeper = lab.spawn(hosts[0], ["sleep", "300"], hosts[0].dir / "sleep.log")
    print(sleeper.pid, flush=True)
    time.sleep(300)
    """
)


def test_destroy_after_the_creator_was_killed() -> None:
    name = "k" + secrets.token_hex(3)
    state_dir = Path(tempfile.mkdtemp(prefix=f"swl-{name}-", dir="/tmp"))
    creator = subprocess.Popen(
        [sys.executable, "-c", CRASHING_CREATOR, name, str(state_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert creator.stdout is not None
        sleeper_pid = int(creator.stdout.readline())
        os.kill(creator.pid, signal.SIGKILL)
        creator.wait()
        assert running(sleeper_pid)
        namespaces = lab_namespaces(name)
        assert len(namespaces) == 4
        inodes = {i for i in map(netns_inode, namespaces) if i is not None}

        Lab.load(state_dir).destroy()

        assert_nothing_left(name, inodes, [sleeper_pid])
        assert not state_dir.exists()
    finally:
        creator.kill()
        creator.wait()
        # Whatever the assertions found, nothing may outlive the test.
        Lab(name, state_dir).destroy()


def test_daemons_on_two_hosts_form_a_swarm(lab_factory: LabFactory) -> None:
    test_lab = lab_factory(2)
    manager, worker = test_lab.hosts
    test_lab.start_daemons()
    init = test_lab.swarmpy(manager, "swarm", "init")
    assert init.returncode == 0, init.stderr
    token = next(word for word in init.stdout.split() if word.startswith("SWMTKN-"))
    joined = test_lab.swarmpy(worker, "swarm", "join", "--token", token, manager.control_addr)
    assert joined.returncode == 0, joined.stderr

    def both_ready() -> str | None:
        listed = test_lab.swarmpy(manager, "node", "ls")
        assert listed.stdout.count("Ready") == 2, listed.stdout + listed.stderr
        return listed.stdout

    table = wait_for("both nodes Ready", both_ready, 20)
    assert "node1" in table
    assert "node2" in table


def test_destroy_removes_what_daemons_made(lab_factory: LabFactory) -> None:
    """Stand-ins for a daemon's sandbox namespace, container cgroup and overlay mount."""
    test_lab = lab_factory(1, registry=False)
    lab, host = test_lab.lab, test_lab.hosts[0]
    sandbox = f"{host.daemon_prefix}-sandbox"
    subprocess.run(["ip", "netns", "add", sandbox], check=True)
    cgroup = teardown.CGROUP_ROOT / "pids" / daemon_cgroup_parent(host.daemon_prefix) / "task"
    if cgroup.parent.parent.is_dir():
        cgroup.mkdir(parents=True)
    mountpoint = host.data_root / "overlay" / "merged"
    mountpoint.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", mountpoint], check=True)

    lab.destroy()

    assert not list_netns(sandbox)
    assert not cgroup.parent.exists()
    assert not teardown.mounts_under(lab.state_dir)
    assert not lab.state_dir.exists()
