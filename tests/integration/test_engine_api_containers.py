"""The Engine API's container endpoints driven by Debian's docker CLI and docker-py, against
a single-node daemon running a service.

One daemon for the module (a swarm and a running task take seconds to set up); each test
uses the service's container, the last one also changes its state. The daemon, the swarm and
everything they made are gone after the module, pass or fail.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.support.docker_cli import DOCKER, DockerCli, task_under_docker
from tests.support.localswarm import task_container
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

SERVICE = "api"
GREETING = "hello from api"
NETWORK = "overnet"


@pytest.fixture(scope="module")
def task() -> Iterator[tuple[DockerCli, str]]:
    command = f"echo {GREETING}; exec sleep 600"
    with task_under_docker(SERVICE, "busybox", "sh", "-c", command, network=NETWORK) as found:
        yield found


def test_ps_inspect_and_logs(task: tuple[DockerCli, str]) -> None:
    cli, name = task
    lines = cli.ok("ps").splitlines()
    assert lines[0].split()[:3] == ["CONTAINER", "ID", "IMAGE"]
    assert any(line.split()[-1] == name for line in lines[1:])
    ids = cli.ok("ps", "-q", "--no-trunc", "--filter", f"name={name}").split()
    assert len(ids) == 1
    assert len(ids[0]) >= 12
    assert cli.ok("ps", "-q", "--filter", "status=exited") == ""
    size = cli.ok("ps", "-s", "--filter", f"name={name}", "--format", "{{.Size}}")
    assert size.strip().endswith("(virtual 1.98MB)"), size
    labelled = cli.ok("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={SERVICE}")
    assert labelled.split() == [ids[0][:12]]

    pid = int(cli.ok("inspect", "-f", "{{.State.Pid}}", name))
    assert pid > 0
    assert Path(f"/proc/{pid}").exists()
    status = cli.ok("inspect", "-f", "{{.State.Status}} {{.State.Running}}", name)
    assert status.split() == ["running", "true"]
    extra = "{{.RestartCount}} {{.State.OOMKilled}} {{.HostConfig.RestartPolicy.Name}}"
    assert cli.ok("inspect", "-f", extra, name).split() == ["0", "false", "no"]
    # The CLI tags the image as Docker's does; the task runs what the service names.
    assert (
        cli.ok("container", "inspect", "-f", "{{.Config.Image}}", name).strip() == "busybox:latest"
    )

    address = cli.ok(
        "inspect", "-f", f"{{{{.NetworkSettings.Networks.{NETWORK}.IPAddress}}}}", name
    )
    assert address.strip().count(".") == 3
    on_net = cli.ok("ps", "-q", "--filter", f"network={NETWORK}")
    assert on_net.split() == [ids[0][:12]]
    assert cli.ok("ps", "-q", "--filter", "network=other") == ""

    assert cli.ok("logs", name) == f"{GREETING}\n"
    stamped = cli.ok("logs", "-t", "--tail", "1", name)
    assert stamped.endswith(f"Z {GREETING}\n")
    assert stamped[:4].isdigit()

    # -f follows a running container until stopped: read the first line, then end it.
    follow = subprocess.Popen(
        [str(DOCKER), "logs", "-f", name], stdout=subprocess.PIPE, env=cli.env, text=True
    )
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == f"{GREETING}\n"
        time.sleep(0.5)
        assert follow.poll() is None, "logs -f ended while the container runs"
    finally:
        follow.kill()
        follow.wait()


def test_unknown_objects_are_404(task: tuple[DockerCli, str]) -> None:
    cli, _ = task
    missing = cli.run("logs", "nope")
    assert missing.returncode == 1
    assert missing.stderr == "Error: No such container: nope\n"
    client = docker.APIClient(base_url=f"unix://{cli.socket}", version="1.41")
    try:
        with pytest.raises(docker.errors.NotFound) as caught:
            client.inspect_container("nope")
        assert caught.value.status_code == 404
    finally:
        client.close()


def test_top_and_stats(task: tuple[DockerCli, str]) -> None:
    cli, name = task
    top = cli.ok("top", name).splitlines()
    assert top[0].split()[:2] == ["UID", "PID"]
    assert any(line.endswith("sleep 600") for line in top[1:])
    custom = cli.ok("top", name, "-o", "pid,comm").splitlines()
    assert custom[0].split() == ["PID", "COMMAND"]
    assert [line.split()[1] for line in custom[1:]] == ["sleep"]

    stats = cli.ok("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", name)
    row_name, usage, _, limit, pids = stats.split()
    assert row_name == name
    assert usage.endswith("B")
    assert limit.endswith("B")
    assert pids == "1"
    cpu = cli.ok("stats", "--no-stream", "--format", "{{.CPUPerc}}", name).strip()
    assert cpu.endswith("%")


def test_stop_kill_pause_unpause_and_remove(task: tuple[DockerCli, str]) -> None:
    """Last: changes the task's container (the swarm replaces it afterwards)."""
    cli, name = task
    cli.ok("pause", name)
    assert cli.ok("inspect", "-f", "{{.State.Status}}", name).strip() == "paused"
    assert "Paused" in cli.ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
    again = cli.run("pause", name)
    assert "is already paused" in again.stderr
    cli.ok("unpause", name)
    assert cli.ok("inspect", "-f", "{{.State.Status}}", name).strip() == "running"

    running_rm = cli.run("rm", name)
    assert running_rm.returncode == 1
    assert "You cannot remove a running container" in running_rm.stderr
    bad = cli.run("kill", "-s", "NOPE", name)
    assert bad.returncode == 1
    assert "Invalid signal: NOPE" in bad.stderr

    assert cli.ok("stop", "-t", "1", name).strip() == name
    exited = cli.ok("ps", "-a", "--filter", f"name={name}", "--format", "{{.State}}")
    assert exited.strip() == "exited"
    # Stopping a stopped container is a 304, which the CLI takes for success.
    assert cli.ok("stop", name).strip() == name
    killed = cli.run("kill", name)
    assert killed.returncode == 1
    assert "is not running" in killed.stderr
    assert cli.ok("rm", name).strip() == name
    gone = cli.run("inspect", "--type", "container", name)
    assert gone.returncode == 1
    assert "No such container" in gone.stderr

    # The swarm starts a replacement, which docker rm -f takes down while it runs.
    other = wait_for(
        "a replacement task",
        lambda: r if (r := task_container(cli.daemon, SERVICE)) and r["Names"] != name else None,
        60,
        0.5,
    )
    assert cli.ok("rm", "-f", other["Names"]).strip() == other["Names"]
