"""A docker CLI newer than the API swarmpy serves (28.x ships first in PATH on some machines):
it negotiates the API down and must still drive containers, networks and services. It sends
its newer fields zeroed (``EndpointsConfig.*.DNSNames``), which the daemon must take."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.daemons import Daemon
from tests.support.docker_cli import DockerCli
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

NEWER = Path("/usr/local/bin/docker")


def api(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@pytest.mark.skipif(not NEWER.exists(), reason=f"no newer docker CLI at {NEWER}")
def test_a_newer_docker_cli_negotiates_down_and_drives_the_daemon(one_node_swarm: Daemon) -> None:
    cli = DockerCli(one_node_swarm, binary=NEWER)
    # The CLI's own API version is newer; what it speaks here is negotiated down.
    versions = cli.ok("version", "--format", "{{.Client.Version}} {{.Client.APIVersion}}")
    release, negotiated = versions.split()
    assert api(release) > (20, 10), versions
    assert api(negotiated) >= (1, 41), versions

    cli.ok("run", "-d", "--name", "newer-cli", "busybox", "sleep", "300")
    assert cli.ok("exec", "newer-cli", "echo", "inside") == "inside\n"
    assert cli.ok("inspect", "-f", "{{.State.Running}}", "newer-cli") == "true\n"
    cli.ok("rm", "-f", "newer-cli")

    cli.ok("network", "create", "-d", "overlay", "newernet")
    cli.ok("service", "create", "-d", "--name", "newersvc", "--network", "newernet",
           "--replicas", "1", "busybox", "sleep", "300")  # fmt: skip
    cli.ok("service", "scale", "-d", "newersvc=2")

    def two_running() -> bool:
        shown = cli.ok("service", "ls", "--filter", "name=newersvc", "--format", "{{.Replicas}}")
        assert shown == "2/2\n", cli.ok("service", "ps", "--no-trunc", "newersvc")
        return True

    wait_for("two newersvc replicas running", two_running, 60)
    image = cli.ok("service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
                   "newersvc")  # fmt: skip
    assert image == "busybox:latest\n"
