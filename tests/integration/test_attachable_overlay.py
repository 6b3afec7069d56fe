"""Standalone containers on an attachable overlay, on the session's shared three-host swarm: a
container `run` on a worker (one the docker CLI runs on the other worker, one on the manager)
gets an address from the managers, reaches a service on another host by name and VIP, and the
other attached container by name, short id and alias; a non-attachable overlay is refused in
Docker's words; a daemon restart takes the running container back; removing the container
frees its address and its attachment task, and the overlay leaves the node with its last user."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess

import pytest

from swarmpy.lab.hosts import Host
from swarmpy.lab.manage import daemon_pid
from tests.support.lab import TestLab
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

WAIT_S = 60.0
VNI = '{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}'
WEB = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"


def docker(lab: TestLab, host: Host, *args: str) -> subprocess.CompletedProcess[str]:
    """Debian's docker CLI on ``host``, against the host's daemon."""
    done: subprocess.CompletedProcess[str] = lab.lab.run(
        host, ["/usr/bin/docker", *args], capture_output=True, text=True
    )
    return done


def address(lab: TestLab, host: Host, container: str) -> str:
    out = lab.ok(host, "exec", container, "ip", "-4", "-o", "addr", "show", "eth0")
    return out.split()[3]


def attachment_tasks(lab: TestLab, host: Host) -> list[str]:
    """The ids of the tasks with no service on ``host``'s node (attachments)."""
    out = lab.ok(lab.hosts[0], "node", "ps", host.name, "--no-trunc", "--format",
             "{{.ID}} {{.Name}}")  # fmt: skip
    return [line.split()[0] for line in out.splitlines() if line.split()[1].startswith(".")]


def addresses(nslookup: str) -> list[str]:
    """The answer's addresses in busybox nslookup's output (after the server's)."""
    answer = nslookup.split("Name:", 1)[1] if "Name:" in nslookup else ""
    return [line.split()[1] for line in answer.splitlines() if line.startswith("Address:")]


def daemon(host: Host) -> int:
    pid = daemon_pid(host)
    assert pid is not None, f"no daemon for {host.name}"
    return pid


def overlay_links(lab: TestLab, host: Host) -> set[str]:
    """The VNIs of the overlay bridges on ``host`` (named <prefix>br<vni>)."""
    done = lab.lab.run(host, ["ip", "-o", "link", "show", "type", "bridge"],
                       capture_output=True, text=True, check=True)  # fmt: skip
    names = [line.split(":")[1].strip() for line in done.stdout.splitlines()]
    return {name.rsplit("br", 1)[1] for name in names if "br" in name}


def reaches(lab: TestLab, host: Host, container: str, url: str, want: str) -> bool:
    # busybox's `wget -T` crashes: timeout(1) bounds a fetch nobody answers.
    script = f"timeout 5 wget -q -O - {url}"
    done = lab.swarmpy(host, "exec", container, "sh", "-c", script)
    return done.returncode == 0 and done.stdout.strip() == want


def test_standalone_containers_on_an_attachable_overlay(swarm_lab: TestLab) -> None:
    lab = swarm_lab
    n1, n2, n3 = lab.hosts
    tag = secrets.token_hex(3)
    net, closed, svc = f"an{tag}", f"na{tag}", f"svc{tag}"
    probe, peer, again, refused = f"probe{tag}", f"peer{tag}", f"again{tag}", f"ref{tag}"
    boss, taken = f"boss{tag}", f"taken{tag}"
    lab.ok(n1, "network", "create", "-d", "overlay", "--attachable", net)
    lab.ok(n1, "network", "create", "-d", "overlay", closed)
    try:
        lab.ok(
            n1, "service", "create", "--name", svc, "--network", net,
            "--constraint", f"node.hostname=={n1.name}", "busybox", "sh", "-c", WEB,
        )  # fmt: skip
        lab.ok(n3, "run", "-d", "--name", probe, "--network", net, "busybox", "sleep", "1000")
        # The docker CLI's run, on the other worker.
        done = docker(lab, n2, "run", "-d", "--name", peer, "--network", net,
                      "--network-alias", f"alias{tag}", "busybox",
                      "sleep", "1000")  # fmt: skip
        assert done.returncode == 0, done.stderr
        peer_id = done.stdout.strip()

        task_host = lab.ok(n1, "service", "ps", svc, "--format", "{{.Node}}").split()
        assert task_host == [n1.name]
        served = lab.ok(n1, "ps", "--format", "{{.Names}}").split()
        (task_name,) = [n for n in served if n.startswith(f"{svc}.1.")]
        hostname = lab.ok(n1, "exec", task_name, "hostname").strip()
        wait_for(
            "the service by name from the attached container",
            lambda: reaches(lab, n3, probe, f"http://{svc}/", hostname),
            WAIT_S,
            0.2,
        )
        vip = lab.ok(n1, "service", "inspect", svc, "--format",
                 "{{(index .Endpoint.VirtualIPs 0).Addr}}").strip().split("/")[0]  # fmt: skip
        lookup = lab.ok(n3, "exec", probe, "nslookup", svc, "127.0.0.11")
        assert vip in lookup, lookup
        assert reaches(lab, n3, probe, f"http://{vip}/", hostname)
        # The other attached container, by name, across hosts.
        peer_ip = address(lab, n2, peer).split("/")[0]
        wait_for(
            "the other attached container by name",
            lambda: (
                lab.swarmpy(n3, "exec", probe, "ping", "-c", "1", "-W", "2", peer).returncode == 0
            ),
            WAIT_S,
            0.2,
        )
        # Its name and its aliases (its short id, --network-alias) answer its address alone.
        for name in (peer, f"alias{tag}", peer_id[:12]):
            found = lab.ok(n3, "exec", probe, "nslookup", name, "127.0.0.11")
            assert addresses(found) == [peer_ip], found

        # On the manager too, beside the service's task.
        lab.ok(n1, "run", "-d", "--name", boss, "--network", net, "busybox", "sleep", "1000")
        wait_for(
            "the service by name from a container on the manager",
            lambda: reaches(lab, n1, boss, f"http://{svc}/", hostname),
            WAIT_S,
            0.2,
        )
        lab.ok(n1, "rm", "-f", boss)

        # Not attachable: refused in Docker's words.
        done = lab.swarmpy(n3, "run", "-d", "--name", refused, "--network", closed, "busybox",
                           "sleep", "1000")  # fmt: skip
        assert done.returncode != 0
        assert (
            f"Error response from daemon: Could not attach to network {closed}: rpc error: "
            f"code = PermissionDenied desc = network {closed} not manually attachable"
        ) in done.stderr, done.stderr

        # --ip: an address in use is refused (and leaves no attachment behind).
        done = lab.swarmpy(n3, "run", "-d", "--name", taken, "--network", net, "--ip", peer_ip,
                           "busybox", "sleep", "1000")  # fmt: skip
        assert done.returncode != 0
        assert "Address already in use" in done.stderr, done.stderr

        # Removal frees the address and the attachment task; the next run, asking for it,
        # gets going.
        first = address(lab, n3, probe)
        assert len(attachment_tasks(lab, n3)) == 1
        lab.ok(n3, "rm", "-f", probe)
        wait_for("the attachment task to go", lambda: not attachment_tasks(lab, n3), WAIT_S, 0.2)
        lab.ok(n3, "run", "-d", "--name", again, "--network", net, "--ip", first.split("/")[0],
           "busybox", "sleep", "1000")  # fmt: skip
        assert address(lab, n3, again) == first
        shown = lab.ok(n3, "inspect", again, "--format",
                   f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}')  # fmt: skip
        assert shown.strip() == first.split("/")[0]
        wait_for(
            "the service from the next container",
            lambda: reaches(lab, n3, again, f"http://{svc}/", hostname),
            WAIT_S,
            0.2,
        )
        # A daemon restart: the running container's leg and names are taken back.
        os.kill(daemon(n3), signal.SIGKILL)
        lab.lab.start_daemon(n3)
        lab.lab.wait_for_socket(n3, 30)
        wait_for(
            "the service by name after the daemon's restart",
            lambda: reaches(lab, n3, again, f"http://{svc}/", hostname),
            WAIT_S,
            0.2,
        )
        # The last user gone, the overlay leaves the node (no task of the swarm is on it there).
        vni = lab.ok(n1, "network", "inspect", net, "--format", VNI).strip()
        assert vni in overlay_links(lab, n3)
        lab.ok(n3, "rm", "-f", again)
        wait_for("the overlay to leave node3", lambda: vni not in overlay_links(lab, n3), WAIT_S)
        wait_for("the attachment task to go", lambda: not attachment_tasks(lab, n3), WAIT_S, 0.2)
    finally:
        lab.swarmpy(n3, "rm", "-f", probe, again, refused, taken)
        lab.swarmpy(n2, "rm", "-f", peer)
        lab.swarmpy(n1, "rm", "-f", boss)
        lab.swarmpy(n1, "service", "rm", svc)
        for name in (net, closed):
            wait_for(
                f"network {name} to be removed",
                lambda name=name: lab.swarmpy(n1, "network", "rm", name).returncode == 0,  # type: ignore[misc]
                WAIT_S,
                0.5,
            )
