"""`service update --force` replaces every task of a service whose spec did not change, from
swarmpy's CLI and from Docker's (which bumps TaskTemplate.ForceUpdate through the Engine API)."""

from __future__ import annotations

import pytest

from tests.support.daemons import Daemon
from tests.support.docker_cli import DOCKER, DockerCli

pytestmark = pytest.mark.root

# Both CLIs wait for convergence: each replacement starts, then is watched for the monitor
# period (1 s here rather than Docker's default 5 s: what is checked is which tasks replace).
CONVERGE_S = 180.0


def tasks(d: Daemon, state_filter: str) -> set[str]:
    return set(d.ok("service", "ps", "web", "-q", "--no-trunc", "--filter", state_filter).split())


def running_tasks(d: Daemon) -> set[str]:
    return tasks(d, "desired-state=running")


def force_update_counter(d: Daemon) -> int:
    (doc,) = d.json("service", "inspect", "web")
    counter = doc["Spec"]["TaskTemplate"]["ForceUpdate"]
    assert isinstance(counter, int)
    return counter


def test_service_update_force_replaces_every_task(one_node_swarm: Daemon) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    d = one_node_swarm
    d.ok(
        "service", "create", "--name", "web", "--replicas", "2",
        "--update-parallelism", "1", "--update-monitor", "1s", "--stop-grace-period", "1s",
        "busybox", "httpd", "-f", "-p", "80",
        timeout=CONVERGE_S,
    )  # fmt: skip
    before = running_tasks(d)
    assert len(before) == 2
    assert force_update_counter(d) == 0

    d.ok("service", "update", "--force", "web", timeout=CONVERGE_S)
    after = running_tasks(d)
    assert len(after) == 2
    assert not after & before, "every task has a new id"
    assert force_update_counter(d) == 1
    # The replaced tasks stay as history, shut down by the update.
    assert before <= tasks(d, "desired-state=shutdown")

    # Docker's CLI sends back the spec it read with ForceUpdate + 1.
    cli = DockerCli(d)
    cli.ok("service", "update", "--force", "web", timeout=CONVERGE_S)
    again = running_tasks(d)
    assert len(again) == 2
    assert not again & (before | after), "every task has a new id"
    assert force_update_counter(d) == 2
    assert cli.ok(
        "service", "inspect", "--format", "{{.Spec.TaskTemplate.ForceUpdate}}", "web"
    ) == "2\n"  # fmt: skip

    # Nothing changed and no --force: no task is replaced.
    d.ok("service", "update", "web", timeout=CONVERGE_S)
    assert running_tasks(d) == again
