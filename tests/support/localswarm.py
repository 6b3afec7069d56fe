"""A daemon alone in a swarm of its own, with busybox loaded: for tests of what tasks see.

with DaemonSet() as ds:
    (d,) = ds.start(1)
    with single_node_swarm(d):
        name = run_task(d, "web", "busybox", "httpd", "-f")
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import requests

from tests.support.busybox_image import busybox_image, save_docker_tar
from tests.support.daemons import Daemon, DaemonSet
from tests.support.poll import wait_for

# Long enough for the manager to schedule, and the agent to set up and start the task.
TASK_START_S = 45.0


def load_busybox(daemon: Daemon) -> None:
    tar = daemon.workdir / "busybox.tar"
    save_docker_tar(tar, busybox_image(), ["busybox:latest"])
    assert daemon.ok("image", "load", "-i", str(tar)) == "Loaded image: busybox:latest\n"


def free_addr() -> tuple[str, int]:
    """A loopback address of its own (other tests use low ones) and a port free there with the
    next one too, which Raft takes."""
    for _ in range(50):
        addr = f"127.0.0.{random.randint(150, 250)}"
        with socket.socket() as probe:
            probe.bind((addr, 0))
            port = int(probe.getsockname()[1])
        with socket.socket() as raft, contextlib.suppress(OSError):
            raft.bind((addr, port + 1))
            return addr, port
    raise AssertionError("no free loopback port pair")


@contextlib.contextmanager
def single_node_swarm(daemon: Daemon) -> Iterator[Daemon]:
    """busybox loaded and a swarm initialised on ``daemon``; left (--force) afterwards."""
    load_busybox(daemon)
    addr, port = free_addr()
    daemon.ok("swarm", "init", "--advertise-addr", addr, "--listen-addr", f"{addr}:{port}")
    try:
        yield daemon
    finally:
        daemon.cli("swarm", "leave", "--force")


def task_container(daemon: Daemon, service: str) -> dict[str, str] | None:
    """The `ps` row of the service's running first task, if it runs."""
    for row in daemon.json_lines("ps", "--format", "json"):
        if row["Names"].startswith(f"{service}.1."):
            return {str(k): str(v) for k, v in row.items()}
    return None


# busybox's sleep, sh and httpd as PID 1 ignore SIGTERM: each stop of their task would wait
# out Docker's default 10 s grace before the SIGKILL, which no test here is about.
STOP_GRACE = ("--stop-grace-period", "1s")


def run_task(daemon: Daemon, service: str, *args: str) -> str:
    """``service create -d --name <service> <args>``; the name of its running container.

    Its stop grace period is 1 s unless ``args`` give one, so that replacing or removing the
    task does not wait 10 s for a process that ignores SIGTERM."""
    grace = () if "--stop-grace-period" in args else STOP_GRACE
    daemon.ok("service", "create", "-d", "--name", service, *grace, *args)
    row = wait_for(
        f"{service}'s container", lambda: task_container(daemon, service), TASK_START_S, 0.5
    )
    return row["Names"]


def remove_service(daemon: Daemon, service: str) -> None:
    """``service rm`` and wait until its containers are gone."""
    daemon.ok("service", "rm", service)
    wait_for(f"{service}'s containers to go", lambda: task_container(daemon, service) is None, 30)


def cgroup_dir(pid: int, controller: str) -> Path:
    """Where the process's cgroup of ``controller`` is (cgroup v1 or the unified v2)."""
    unified = ""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup") / controller / path.lstrip("/")
        if controllers == "":
            unified = path
    return Path("/sys/fs/cgroup") / unified.lstrip("/")


class SharedSwarm:
    """One daemon in a one-node swarm, shared by the tests of a session that only need *a*
    swarm (the ``one_node_swarm`` fixture): a daemon start, an image load and a swarm init
    saved per test. Every user gets it back bare (``restore``); a test that killed it or
    made it leave the swarm gets a new one."""

    def __init__(self) -> None:
        self._set: DaemonSet | None = None
        self._daemon: Daemon | None = None

    def get(self) -> Daemon:
        if self._daemon is None or not self._usable(self._daemon):
            self.close()
            self._set = DaemonSet()
            (daemon,) = self._set.start(1)
            load_busybox(daemon)
            addr, port = free_addr()
            daemon.ok("swarm", "init", "--advertise-addr", addr, "--listen-addr", f"{addr}:{port}")
            self._daemon = daemon
        return self._daemon

    @staticmethod
    def _api(daemon: Daemon) -> docker.APIClient:
        # The Engine API itself, not the CLI: a CLI run costs a Python start-up, and the
        # tidying after every test takes a dozen requests.
        return docker.APIClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=30)

    @classmethod
    def _usable(cls, daemon: Daemon) -> bool:
        if not daemon.running:
            return False
        # A manager of an active (and unlocked) swarm lists its nodes.
        try:
            with cls._api(daemon) as api:
                api.nodes()
        except (docker.errors.APIError, OSError, requests.RequestException):
            return False
        return True

    def restore(self) -> None:
        """No service, secret, config, user network or task container left."""
        daemon = self._daemon
        if daemon is None or not self._usable(daemon):
            return  # the next get() starts afresh
        try:
            with self._api(daemon) as api:
                self._tidy(api)
        except BaseException:
            self.close()  # not known to be bare: the next user gets a new one
            raise

    @staticmethod
    def _tidy(api: docker.APIClient) -> None:
        for service in api.services():  # type: ignore[no-untyped-call]
            api.remove_service(service["ID"])  # type: ignore[no-untyped-call]
        # The removed services' tasks (the test's own `service rm` included) would each wait
        # out their stop grace period, 10 s for a PID 1 that ignores SIGTERM: what the test
        # left needs no clean stop.
        for container in api.containers():
            with contextlib.suppress(docker.errors.APIError):  # gone meanwhile
                api.kill(container["Id"])
        for secret in api.secrets():
            api.remove_secret(secret["ID"])
        for config in api.configs():  # type: ignore[no-untyped-call]
            api.remove_config(config["ID"])  # type: ignore[no-untyped-call]
        wait_for("the shared swarm's containers to go", lambda: not api.containers(), 60)
        for network in api.networks(filters={"driver": "overlay"}):
            if network["Name"] != "ingress":
                api.remove_network(network["Id"])

    def close(self) -> None:
        if self._set is not None:
            self._set.close()  # kills the daemon and removes what it made, as for any set
        self._set = self._daemon = None
