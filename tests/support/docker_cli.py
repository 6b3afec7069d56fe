"""Debian's docker CLI against a daemon's Engine API (the daemon's -H socket).

cli = DockerCli(daemon)
cli.ok("ps", "-q")                      # stdout; fails the test unless it exits 0
cli.run("exec", "-i", c, "cat", input="x")  # the CompletedProcess, whatever the exit
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.daemons import Daemon, DaemonSet
from tests.support.localswarm import SharedSwarm, run_task, single_node_swarm

# Debian's docker.io (API 1.41): another docker on PATH may be newer than the API we serve.
DOCKER = Path("/usr/bin/docker")


class DockerCli:
    def __init__(self, daemon: Daemon, binary: Path = DOCKER) -> None:
        self.daemon = daemon
        self.binary = binary
        self.socket = daemon.socket  # the Engine API is on the daemon's -H socket
        # Only what the CLI needs: no DOCKER_* of the caller, a config dir of its own.
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(daemon.workdir),
            "DOCKER_CONFIG": str(daemon.workdir / "docker-config"),
            "DOCKER_HOST": f"unix://{self.socket}",
        }

    def run(
        self, *args: str, timeout: float = 60.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            input=input,
        )

    def ok(self, *args: str, timeout: float = 60.0, input: str | None = None) -> str:
        result = self.run(*args, timeout=timeout, input=input)
        assert result.returncode == 0, (
            f"docker {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}\n"
            f"daemon log:\n{self.daemon.log_tail()}"
        )
        return result.stdout

    def refused(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode != 0, f"docker {' '.join(args)} succeeded: {result.stdout}"
        return result.stderr


@contextlib.contextmanager
def task_under_docker(
    service: str, *args: str, network: str = "", shared: SharedSwarm | None = None
) -> Iterator[tuple[DockerCli, str]]:
    """A daemon in a swarm of its own running ``service create <args>`` (on the overlay
    ``network`` if given), the docker CLI on it, and the name of the service's container;
    all gone afterwards, pass or fail. With ``shared``, the daemon is the session's shared
    one-node swarm (``one_node_swarm``), given back bare afterwards."""
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    if shared is not None:
        try:
            yield _task_on(shared.get(), service, *args, network=network)
        finally:
            shared.restore()
        return
    with DaemonSet() as ds:
        (d,) = ds.start(1)
        with single_node_swarm(d):
            yield _task_on(d, service, *args, network=network)


def _task_on(d: Daemon, service: str, *args: str, network: str) -> tuple[DockerCli, str]:
    if network:
        d.ok("network", "create", "-d", "overlay", network)
        args = ("--network", network, *args)
    return DockerCli(d), run_task(d, service, *args)
