"""Published ports on a three-host lab: the routing mesh (ingress) and host mode.

Every client connection goes from inside node3's namespace (a host that runs no task of the
service) to the lab hosts' underlay addresses, all in namespaces the lab made.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from swarmpy.lab.hosts import Host
from swarmpy.lab.manage import daemon_pid
from tests.support.lab import TestLab
from tests.support.poll import wait_for

pytestmark = [pytest.mark.root, pytest.mark.timeout(600)]

# Each task answers with its hostname (the task id's first 12 characters by default).
HTTPD = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
OFF_NODE3 = "node.hostname!=node3"
DOCKER = Path("/usr/bin/docker")
# busybox has no UDP server: the machine's python, bind-mounted read-only, answers each
# datagram with the task's hostname.
UDP_SERVER = (
    "import socket as S;s=S.socket(2,2);s.bind(('',5353));h=S.gethostname().encode();"
    "[s.sendto(h,s.recvfrom(99)[1]) for _ in iter(int,1)]"
)
PYTHON_MOUNTS = (
    "--mount", "type=bind,source=/usr,target=/usr,readonly",
    "--mount", "type=bind,source=/usr/lib64,target=/lib64,readonly",
    "--mount", "type=bind,source=/usr/lib,target=/lib,readonly",
)  # fmt: skip


@pytest.fixture
def lab(swarm_lab: TestLab) -> TestLab:
    """The session's shared swarm: node1 manager, node2 and node3 workers."""
    return swarm_lab


def cli(lab: TestLab, *args: str) -> subprocess.CompletedProcess[str]:
    result = lab.swarmpy(lab.hosts[0], *args)
    assert result.returncode == 0, f"{args}: {result.stderr}"
    return result


def running_tasks(lab: TestLab, service: str) -> list[dict[str, str]]:
    out = cli(lab, "service", "ps", service, "--format", "{{json .}}").stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [r for r in rows if r["CurrentState"].startswith("Running")]


# A client's own loopback address, inside whichever host it runs on.
LO = "127.0.0.1"


def docker(lab: TestLab, *args: str) -> str:
    """Docker's own CLI (20.10, Debian's) against node1's daemon."""
    with tempfile.TemporaryDirectory(prefix="dockercfg-") as config:
        env = {
            "DOCKER_HOST": lab.hosts[0].socket_url,
            "DOCKER_CONFIG": config,
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            [str(DOCKER), *args], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, f"docker {args}: {done.stderr}"
    return done.stdout


def http_get(lab: TestLab, client: Host, ip: str, port: int) -> str:
    """One HTTP request from inside ``client``; the answer's body."""

    def get() -> str:
        with socket.create_connection((ip, port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        return data.decode().split("\r\n\r\n", 1)[-1].strip()

    return lab.lab.call_in(client, get)


def udp_ask(lab: TestLab, client: Host, ip: str, port: int) -> str:
    """One datagram from a new socket inside ``client``; the answer."""

    def ask() -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            sock.sendto(b"who", (ip, port))
            return sock.recv(100).decode()

    return lab.lab.call_in(client, ask)


def refused(lab: TestLab, client: Host, ip: str, port: int) -> bool:
    try:
        http_get(lab, client, ip, port)
    except ConnectionRefusedError:
        return True
    return False


def answers(lab: TestLab, client: Host, ip: str, port: int, tries: int = 30) -> set[str]:
    return {http_get(lab, client, ip, port) for _ in range(tries)}


def nft_tables(host: Host) -> str:
    out = subprocess.run(
        ["nsenter", f"--net=/run/netns/{host.netns}", "nft", "list", "ruleset"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def netns_of(host: Host) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [
        line.split()[0]
        for line in out.stdout.splitlines()
        if line.startswith(f"{host.daemon_prefix}-")
    ]


def until(what: str, probe: Callable[[], object], timeout: float = 60) -> None:
    wait_for(what, lambda: bool(probe()), timeout, interval=0.2, not_yet=(AssertionError, OSError))


def test_routing_mesh_from_a_node_without_tasks(lab: TestLab) -> None:
    n1, n2, n3 = lab.hosts
    # httpd as PID 1 ignores SIGTERM: a 1 s grace, or each task the scale, the update and
    # the rm stop takes the default 10 s.
    cli(lab, "service", "create", "--detach", "--name", "web", "--replicas", "2",
        "--constraint", OFF_NODE3, "-p", "8080:80", "--stop-grace-period", "1s",
        "busybox", "sh", "-c", HTTPD)  # fmt: skip
    try:
        until("two running web tasks", lambda: len(running_tasks(lab, "web")) == 2, 120)
        ls = cli(lab, "service", "ls").stdout
        assert "*:8080->80/tcp" in ls, ls
        inspect = json.loads(cli(lab, "service", "inspect", "web").stdout)[0]
        assert inspect["Spec"]["EndpointSpec"]["Ports"] == [
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}
        ]
        assert inspect["Endpoint"]["Ports"] == inspect["Spec"]["EndpointSpec"]["Ports"]
        networks = json.loads(cli(lab, "network", "inspect", "ingress").stdout)[0]
        assert networks["Ingress"] is True
        vip_networks = {v["NetworkID"] for v in inspect["Endpoint"]["VirtualIPs"]}
        assert networks["Id"] in vip_networks

        # Every node's address answers, node3's too, and both tasks answer.
        for host in (n1, n2, n3):
            until(
                f"both tasks through {host.name}",
                lambda h=host: len(answers(lab, n3, h.ip, 8080)) == 2,  # type: ignore[misc]
            )
        # And a client on the node itself, through loopback (`curl localhost:8080`).
        until("both tasks through node3's loopback", lambda: len(answers(lab, n3, LO, 8080)) == 2)

        # Scale to one: only one task answers; back to two: both again.
        cli(lab, "service", "scale", "--detach", "web=1")
        until("one task answering", lambda: len(answers(lab, n3, n1.ip, 8080)) == 1)
        cli(lab, "service", "scale", "--detach", "web=2")
        until("two tasks answering", lambda: len(answers(lab, n3, n2.ip, 8080)) == 2)

        # A rolling update: the replacements answer, and only they (a task's hostname is
        # its id's start).
        before = answers(lab, n3, n3.ip, 8080)
        cli(lab, "service", "update", "--detach", "--force", "web")

        def replaced() -> bool:
            seen = answers(lab, n3, n3.ip, 8080)
            return len(seen) == 2 and not seen & before

        until("both replacements answering", replaced, 120)

        # --publish-rm: the port refuses everywhere.
        cli(lab, "service", "update", "--detach", "--publish-rm", "80", "web")
        for host in (n1, n2, n3):
            until(f"{host.name}:8080 refusing", lambda h=host: refused(lab, n3, h.ip, 8080))  # type: ignore[misc]
        assert refused(lab, n3, LO, 8080)
    finally:
        lab.swarmpy(n1, "service", "rm", "web")

    # Nothing of the service is left: its task sandboxes, its port rules on any host.
    for host in lab.hosts:
        until(
            f"no task sandbox left on {host.name}",
            lambda h=host: netns_of(h) == [f"{h.daemon_prefix}-ingress_sbox"],  # type: ignore[misc]
        )
        assert "8080" not in nft_tables(host)


def test_a_container_run_with_p_answers_from_another_host(lab: TestLab) -> None:
    """`run -d -p 8088:80` on node1, no service: another host reaches it at node1's address
    (nftables DNAT, no userland proxy); gone with the container."""
    n1, n2, _ = lab.hosts
    cli(lab, "run", "-d", "-p", "8088:80", "--name", "lone", "busybox", "sh", "-c", HTTPD)
    try:
        lone = cli(lab, "inspect", "--format", "{{.Config.Hostname}}", "lone").stdout.strip()
        until("lone from node2", lambda: http_get(lab, n2, n1.ip, 8088) == lone)
    finally:
        lab.swarmpy(n1, "rm", "-f", "lone")
    until("8088 refusing from node2", lambda: refused(lab, n2, n1.ip, 8088))


def test_a_port_conflict_is_refused_as_docker(lab: TestLab) -> None:
    n1 = lab.hosts[0]
    cli(lab, "service", "create", "--detach", "--name", "first", "-p", "8181:80",
        "busybox", "sleep", "3600")  # fmt: skip
    try:
        first_id = cli(lab, "service", "inspect", "--format", "{{.ID}}", "first").stdout.strip()
        second = lab.swarmpy(n1, "service", "create", "--detach", "--name", "second",
                             "-p", "8181:81", "busybox", "sleep", "3600")  # fmt: skip
        assert second.returncode != 0
        assert (
            f"port '8181' is already in use by service 'first' ({first_id}) as an ingress port"
            in second.stderr
        ), second.stderr
        # Without a published port: one of 30000-32767.
        cli(lab, "service", "update", "--detach", "--publish-add", "82", "first")
        ports = json.loads(
            cli(lab, "service", "inspect", "--format", "{{json .Endpoint.Ports}}", "first").stdout
        )
        assert {p["TargetPort"]: p["PublishedPort"] for p in ports}[82] in range(30000, 32768)
        # The ingress network is not for --network, and stays while a service publishes.
        refused_net = lab.swarmpy(n1, "service", "create", "--detach", "--network", "ingress",
                                  "busybox", "sleep", "1")  # fmt: skip
        assert "cannot be explicitly attached to the ingress network" in refused_net.stderr
        rm = lab.swarmpy(n1, "network", "rm", "ingress")
        assert rm.returncode != 0
        assert "ingress network cannot be removed because service" in rm.stderr
    finally:
        lab.swarmpy(n1, "service", "rm", "first")


def test_host_mode_only_where_the_task_runs(lab: TestLab) -> None:
    n1, n2, n3 = lab.hosts
    cli(lab, "service", "create", "--detach", "--name", "hm", "--replicas", "2",
        "--constraint", "node.hostname==node1", "--stop-grace-period", "1s",
        "-p", "published=9090,target=80,mode=host", "busybox", "sh", "-c", HTTPD)  # fmt: skip
    try:
        until("one running hm task", lambda: len(running_tasks(lab, "hm")) == 1, 120)

        def held_pending() -> bool:
            out = cli(lab, "service", "ps", "--no-trunc", "hm").stdout
            return "host-mode port already in use on 1 node" in out

        until("the second task held pending", held_pending)
        ps = cli(lab, "service", "ps", "hm").stdout
        assert "*:9090->80/tcp" in ps, ps
        until("node1:9090 answering", lambda: http_get(lab, n3, n1.ip, 9090))
        until("node1's loopback :9090 answering", lambda: http_get(lab, n1, LO, 9090))
        assert refused(lab, n3, n2.ip, 9090)
        assert refused(lab, n3, n3.ip, 9090)
    finally:
        lab.swarmpy(n1, "service", "rm", "hm")
    until("node1:9090 closed", lambda: refused(lab, n3, n1.ip, 9090))


def test_udp_through_the_mesh(lab: TestLab) -> None:
    n1, n2, n3 = lab.hosts
    cli(lab, "service", "create", "--detach", "--name", "udp", "--replicas", "2",
        "--constraint", OFF_NODE3, *PYTHON_MOUNTS, "-p", "5353:5353/udp",
        "busybox", "/usr/bin/python3", "-c", UDP_SERVER)  # fmt: skip
    try:
        until("two running udp tasks", lambda: len(running_tasks(lab, "udp")) == 2, 120)
        assert "*:5353->5353/udp" in cli(lab, "service", "ls").stdout
        for host in (n1, n2, n3):

            def both(h: Host = host) -> bool:
                return len({udp_ask(lab, n3, h.ip, 5353) for _ in range(30)}) == 2

            until(f"both udp tasks through {host.name}", both)
    finally:
        lab.swarmpy(n1, "service", "rm", "udp")


@pytest.mark.skipif(not DOCKER.exists(), reason="Debian's docker.io CLI is not installed")
def test_dockers_cli_publishes_through_the_mesh(lab: TestLab) -> None:
    n1, n2, n3 = lab.hosts
    docker(lab, "service", "create", "--detach", "--name", "dk", "--constraint", OFF_NODE3,
           "-p", "8282:80", "busybox", "sh", "-c", HTTPD)  # fmt: skip
    try:
        assert "*:8282->80/tcp" in docker(lab, "service", "ls")
        until("dk answering through node3", lambda: http_get(lab, n3, n3.ip, 8282))
        docker(lab, "service", "update", "--detach", "--publish-add", "8283:80", "dk")
        until("dk answering on 8283", lambda: http_get(lab, n3, n2.ip, 8283))
        docker(lab, "service", "update", "--detach", "--publish-rm", "8282:80", "dk")
        until("8282 refusing", lambda: refused(lab, n3, n1.ip, 8282))
    finally:
        lab.swarmpy(n1, "service", "rm", "dk")


def test_the_mesh_follows_node_loss(lab: TestLab) -> None:
    """Last in the module: node2 dies (daemon and containers), its task is replaced on node1,
    and every connection through the other nodes reaches a live task."""
    n1, n2, n3 = lab.hosts
    cli(lab, "service", "create", "--detach", "--name", "loss", "--replicas", "2",
        "--constraint", OFF_NODE3, "-p", "8484:80",
        "busybox", "sh", "-c", HTTPD)  # fmt: skip
    try:
        until("two running loss tasks", lambda: len(running_tasks(lab, "loss")) == 2, 120)
        # Spread: one task on each of node1 and node2.
        assert {t["Node"] for t in running_tasks(lab, "loss")} == {"node1", "node2"}
        until("both tasks through node3", lambda: len(answers(lab, n3, n3.ip, 8484)) == 2)
        pid = daemon_pid(n2)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        runc = ["runc", "--root", str(n2.runc_root)]
        listed = subprocess.run([*runc, "list", "-q"], capture_output=True, text=True).stdout
        for cid in listed.split():
            subprocess.run([*runc, "kill", cid, "KILL"], capture_output=True)

        def replaced() -> bool:
            # The dead node's task still shows Running (nobody can tell), but is no longer
            # desired.
            tasks = running_tasks(lab, "loss")
            nodes = sorted(t["Node"] for t in tasks if t["DesiredState"] == "Running")
            assert nodes == ["node1", "node1"], nodes
            return True

        until("both loss tasks on node1", replaced, 60)  # node2 is Down after 3 heartbeats
        for host in (n1, n3):
            # Every one of the requests is answered (no backend left on node2), by both tasks.
            until(
                f"both live tasks, and only them, through {host.name}",
                lambda h=host: len(answers(lab, n3, h.ip, 8484)) == 2,  # type: ignore[misc]
            )
    finally:
        lab.swarmpy(n1, "service", "rm", "loss")
