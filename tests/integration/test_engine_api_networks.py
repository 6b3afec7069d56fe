"""swarmpy's CLI and Docker's, side by side on a manager and a worker, over the Engine API:
`swarm init` prints Docker's join command, `network ls` and `inspect` on a worker show the
networks its tasks are on (with the node's containers), and `swarm ca` shows one root, before
and after a rotation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.controlplane import all_ready, assert_refused
from tests.support.daemons import DaemonSet
from tests.support.docker_cli import DOCKER, DockerCli
from tests.support.localswarm import TASK_START_S, free_addr, load_busybox
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

# Two nodes renew twice each (for the new root, then to trust only it), after some jitter.
ROTATION_S = 120.0
NAMES = ("network", "ls", "--format", "{{.Name}}")


def inspect(out: str) -> dict[str, Any]:
    (doc,) = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def test_a_worker_shows_its_networks_and_both_clis_show_one_root(daemons: DaemonSet) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    manager, worker = daemons.start(2)
    docker_m, docker_w = DockerCli(manager), DockerCli(worker)
    load_busybox(worker)
    m_ip, m_port = free_addr()
    w_ip, w_port = wait_for("a second loopback address", lambda: _other_addr(m_ip), timeout=5)

    out = manager.ok("swarm", "init", "--advertise-addr", m_ip, "--listen-addr",
                     f"{m_ip}:{m_port}", "--cert-expiry", "48h")  # fmt: skip
    token = manager.ok("swarm", "join-token", "-q", "worker").strip()
    node_id = docker_m.ok("info", "--format", "{{.Swarm.NodeID}}").strip()
    # Docker's words, with the address this manager has as ManagerStatus.Addr.
    assert out == (
        f"Swarm initialized: current node ({node_id}) is now a manager.\n\n"
        "To add a worker to this swarm, run the following command:\n\n"
        f"    swarmpy swarm join --token {token} {m_ip}:{m_port}\n\n"
        "To add a manager to this swarm, run 'swarmpy swarm join-token manager' and follow "
        "the instructions.\n\n"
    )
    expiry = docker_m.ok("info", "--format", "{{.Swarm.Cluster.Spec.CAConfig.NodeCertExpiry}}")
    assert expiry.strip() == "48h0m0s"
    worker.ok("swarm", "join", "--token", token, "--advertise-addr", w_ip, "--listen-addr",
              f"{w_ip}:{w_port}", f"{m_ip}:{m_port}")  # fmt: skip
    wait_for("two Ready nodes", lambda: all_ready(manager, 2), timeout=30)

    # A worker has a swarm network only while a task on it runs there.
    network_id = manager.ok("network", "create", "-d", "overlay", "overnet").strip()
    assert "overnet" in manager.ok(*NAMES).split()
    assert "overnet" in docker_m.ok(*NAMES).split()
    assert "overnet" not in worker.ok(*NAMES).split()
    assert "overnet" not in docker_w.ok(*NAMES).split()
    for cli in (
        worker.cli("network", "inspect", "overnet"),
        docker_w.run("network", "inspect", "overnet"),
    ):
        assert cli.returncode == 1
        assert cli.stderr.strip() == "Error: No such network: overnet"

    docker_m.ok("service", "create", "-d", "--no-resolve-image", "--name", "web",
                "--network", "overnet", "--constraint", "node.role==worker",
                "busybox", "sleep", "infinity")  # fmt: skip
    wait_for("overnet on the worker", lambda: "overnet" in worker.ok(*NAMES).split(),
             timeout=TASK_START_S)  # fmt: skip
    assert "overnet" in docker_w.ok(*NAMES).split()
    row = f"{network_id[:12]}   overnet   overlay   swarm"
    assert row in worker.ok("network", "ls").splitlines()
    assert docker_w.ok("network", "ls", "-q", "--no-trunc", "--filter", "name=overnet") == (
        f"{network_id}\n"
    )

    def attached() -> dict[str, Any] | None:
        doc = inspect(worker.ok("network", "inspect", "overnet"))
        return doc if doc["Containers"] else None

    doc = wait_for("the task's container on overnet", attached, timeout=TASK_START_S)
    assert inspect(docker_w.ok("network", "inspect", "overnet")) == doc
    assert (doc["Id"], doc["Scope"], doc["Driver"]) == (network_id, "swarm", "overlay")
    ((container_id, endpoint),) = doc["Containers"].items()
    assert endpoint["Name"].startswith("web.1.")
    assert container_id in worker.ok("ps", "-q", "--no-trunc").split()
    assert endpoint["IPv4Address"].endswith("/24")
    # The task runs on the worker: the manager has no container on overnet.
    assert inspect(docker_m.ok("network", "inspect", "overnet"))["Containers"] == {}
    assert inspect(manager.ok("network", "inspect", network_id[:8]))["Containers"] == {}

    # `swarm ca`: one root, the same text through both CLIs; a worker refuses, as Docker's.
    old_root = manager.ok("swarm", "ca")
    assert old_root.startswith("-----BEGIN CERTIFICATE-----")
    assert docker_m.ok("swarm", "ca") == old_root
    assert_refused(worker.cli("swarm", "ca"), "This node is not a swarm manager")
    assert "This node is not a swarm manager" in docker_w.refused("swarm", "ca")
    shown = manager.ok("swarm", "ca", "--rotate", timeout=ROTATION_S)
    new_root = docker_m.ok("swarm", "ca")
    assert new_root != old_root
    assert manager.ok("swarm", "ca") == new_root
    lines = shown.splitlines()
    assert lines[0].startswith("desired root digest: sha256:")
    assert "  rotated TLS certificates: 2/2 nodes" in lines
    assert "  rotated CA certificates:  2/2 nodes" in lines
    assert shown.endswith(new_root)
    docker_m.ok("service", "rm", "web")


def _other_addr(taken: str) -> tuple[str, int] | None:
    ip, port = free_addr()
    return (ip, port) if ip != taken else None
