"""The proof of the Engine API: Debian's docker CLI and docker-py drive a real single-node
daemon through its API socket: the seed journey (version, info, swarm init, node ls, an overlay
network, a replicated service that converges, ls/ps/inspect/scale/update/logs/rm) and Docker's
status codes for bad input."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable

import docker
import pytest

from tests.support.busybox_image import busybox_image, save_docker_tar
from tests.support.daemons import Daemon, DaemonSet
from tests.support.docker_cli import DOCKER, DockerCli
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

IP = "127.0.0.57"
# Convergence waits for a task to start, then Docker's CLI watches it 5 s more.
CONVERGE_S = 180.0


def free_port_pair(ip: str) -> int:
    """A port free on ``ip`` with the next one (Raft's) free too."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((ip, 0))
            port = int(probe.getsockname()[1])
        with socket.socket() as raft, contextlib.suppress(OSError):
            raft.bind((ip, port + 1))
            return port
    raise AssertionError(f"no free port pair on {ip}")


def load_busybox(daemon: Daemon) -> None:
    tar = daemon.workdir / "busybox.tar"
    save_docker_tar(tar, busybox_image(), ["busybox:latest", "busybox:v2"])
    daemon.ok("image", "load", "-i", str(tar))


def status_of(call: Callable[[], object]) -> int:
    """The HTTP status of the API error ``call`` raises."""
    with pytest.raises(docker.errors.APIError) as refused:
        call()
    status = refused.value.status_code
    assert status is not None
    return status


def running(cli: DockerCli, service: str) -> list[str]:
    rows = cli.ok(
        "service", "ps", service, "--filter", "desired-state=running",
        "--format", "{{.Name}} {{.Image}} {{.CurrentState}}",
    ).splitlines()  # fmt: skip
    return sorted(" ".join(row.split()[:3]) for row in rows)


def test_docker_cli_and_docker_py_drive_the_swarm(daemons: DaemonSet) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    (d,) = daemons.start(1)
    cli = DockerCli(d)
    load_busybox(d)

    version = cli.ok("version")
    assert "Server: swarmpy" in version
    assert "API version:      1.41 (minimum version 1.12)" in version
    assert " Swarm: inactive" in cli.ok("info")
    stderr = cli.refused("node", "ls")
    assert "This node is not a swarm manager" in stderr

    port = free_port_pair(IP)
    init = cli.ok("swarm", "init", "--advertise-addr", IP, "--listen-addr", f"{IP}:{port}")
    assert "Swarm initialized: current node" in init
    assert f"{IP}:{port}" in init
    assert cli.ok("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}") == (
        "active true\n"
    )
    # The node is Ready once its agent holds a session with the dispatcher.
    wait_for(
        "the node Ready and Leader",
        lambda: (
            cli.ok("node", "ls", "--format", "{{.Self}} {{.Status}} {{.ManagerStatus}}")
            == "true Ready Leader\n"
        ),
        timeout=30,
    )

    network_id = cli.ok("network", "create", "-d", "overlay", "overnet").strip()
    assert "overnet" in cli.ok("network", "ls", "--filter", "driver=overlay")
    assert "already exists" in cli.refused("network", "create", "-d", "overlay", "overnet")

    # Docker's CLI waits for convergence itself, polling /tasks and /services, and then for
    # the update monitor period (1 s here rather than the default 5 s) with nothing failing.
    cli.ok(
        "service", "create", "--replicas", "2", "--network", "overnet", "--name", "web",
        "--stop-grace-period", "1s", "--update-monitor", "1s",
        "busybox", "httpd", "-f", "-p", "80",
        timeout=CONVERGE_S,
    )  # fmt: skip
    assert cli.ok("service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}}") == (
        "web replicated 2/2\n"
    )
    assert running(cli, "web") == ["web.1 busybox:latest Running", "web.2 busybox:latest Running"]
    (inspected,) = json.loads(cli.ok("service", "inspect", "web"))
    assert inspected["Spec"]["TaskTemplate"]["Networks"] == [{"Target": network_id}]
    assert inspected["Endpoint"]["VirtualIPs"][0]["NetworkID"] == network_id
    assert "Replicated" in cli.ok("service", "inspect", "--pretty", "web")

    cli.ok("service", "scale", "web=3", timeout=CONVERGE_S)
    assert len(running(cli, "web")) == 3
    cli.ok("service", "update", "--image", "busybox:v2", "web", timeout=CONVERGE_S)
    assert (
        cli.ok(
            "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "web"
        )
        == "busybox:v2\n"
    )
    assert [row.split()[1] for row in running(cli, "web")] == ["busybox:v2"] * 3

    cli.ok(
        "service", "create", "--name", "talk", "--update-monitor", "1s", "busybox",
        "sh", "-c", "echo hello from talk; exec sleep 600",
        timeout=CONVERGE_S,
    )  # fmt: skip
    logs = cli.ok("service", "logs", "talk")
    assert logs.startswith("talk.1.")
    assert logs.rstrip().endswith("| hello from talk")
    assert cli.ok("service", "logs", "--raw", "talk") == "hello from talk\n"

    # Docker's words and status codes for bad input.
    assert "no such service: nosuch" in cli.refused("service", "inspect", "nosuch")
    assert "service web already exists" in cli.refused(
        "service", "create", "-d", "--name", "web", "busybox"
    )

    api = docker.APIClient(base_url=f"unix://{cli.socket}", version="1.41")
    client = docker.DockerClient(base_url=f"unix://{cli.socket}", version="1.41")
    try:
        assert status_of(lambda: api.inspect_service("nosuch")) == 404  # type: ignore[no-untyped-call]
        assert status_of(lambda: api.create_network("overnet", driver="overlay")) == 409
        assert status_of(lambda: api.inspect_node("nosuch")) == 404

        (node,) = client.nodes.list()
        assert node.attrs["Spec"]["Role"] == "manager"
        py = client.services.create(  # type: ignore[no-untyped-call]
            "busybox:latest", ["sleep", "600"], name="py"
        )
        assert sorted(s.name for s in client.services.list()) == ["py", "talk", "web"]
        py.update(image="busybox:v2")
        py.reload()
        assert py.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:v2"
        py.remove()
        assert sorted(s.name for s in client.services.list()) == ["talk", "web"]
    finally:
        client.close()
        api.close()

    assert cli.ok("service", "rm", "web", "talk").split() == ["web", "talk"]
    assert cli.ok("service", "ls", "-q") == ""
    cli.ok("network", "rm", "overnet")
    cli.ok("swarm", "leave", "--force", timeout=120)
    with docker.APIClient(base_url=f"unix://{cli.socket}", version="1.41") as after:
        assert status_of(lambda: after.services()) == 503  # type: ignore[no-untyped-call]
