"""Two daemons joined through the Engine API by Docker's CLI: join with the manager's token,
the worker refused the swarm's objects with Docker's 503, node update and removal from the
manager once the worker has left."""

from __future__ import annotations

import docker
import pytest

from tests.support.daemons import DaemonSet
from tests.support.docker_cli import DOCKER, DockerCli
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

MANAGER_IP, WORKER_IP = "127.0.0.58", "127.0.0.59"
PORT = 23958


def node_rows(cli: DockerCli) -> list[str]:
    rows = cli.ok("node", "ls", "--format", "{{.Hostname}}|{{.Status}}|{{.ManagerStatus}}")
    return sorted(rows.splitlines())


def test_a_worker_joins_and_leaves_through_the_engine_api(daemons: DaemonSet) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    manager_d, worker_d = daemons.start(2)
    manager, worker = DockerCli(manager_d), DockerCli(worker_d)
    manager.ok(
        "swarm", "init", "--advertise-addr", MANAGER_IP, "--listen-addr", f"{MANAGER_IP}:{PORT}"
    )
    token = manager.ok("swarm", "join-token", "-q", "worker").strip()
    joined = worker.ok(
        "swarm", "join", "--token", token,
        "--advertise-addr", WORKER_IP, "--listen-addr", f"{WORKER_IP}:{PORT}",
        f"{MANAGER_IP}:{PORT}",
    )  # fmt: skip
    assert joined.strip() == "This node joined a swarm as a worker."
    assert worker.ok(
        "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"
    ) == ("active false\n")
    # Both daemons run on this machine: one hostname, told apart by manager status.
    wait_for(
        "both nodes Ready",
        lambda: [r.split("|")[1] for r in node_rows(manager)] == ["Ready", "Ready"],
        timeout=60,
    )

    refusal = worker.refused("node", "ls")
    assert "This node is not a swarm manager. Worker nodes can't be used" in refusal
    with docker.APIClient(base_url=f"unix://{worker.socket}", version="1.41") as api:
        with pytest.raises(docker.errors.APIError) as refused:
            api.services()  # type: ignore[no-untyped-call]
        assert refused.value.status_code == 503

    worker_id = worker.ok("info", "--format", "{{.Swarm.NodeID}}").strip()
    manager.ok("node", "update", "--availability", "drain", "--label-add", "zone=b", worker_id)
    assert (
        manager.ok(
            "node", "inspect", "--format", "{{.Spec.Availability}} {{.Spec.Labels.zone}}", worker_id
        )
        == "drain b\n"
    )
    assert "not down" in manager.refused("node", "rm", worker_id)

    assert worker.ok("swarm", "leave").strip() == "Node left the swarm."
    wait_for(
        "the worker Down",
        lambda: (
            manager.ok("node", "inspect", "--format", "{{.Status.State}}", worker_id) == "down\n"
        ),
        timeout=60,
    )
    manager.ok("node", "rm", worker_id)
    assert [r.split("|")[2] for r in node_rows(manager)] == ["Leader"]
    manager.ok("swarm", "leave", "--force")
