"""Labs of N hosts plus the registry/DNS host for the root tier (the fixtures that build and
always tear them down are in tests/integration/conftest.py)."""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from swarmpy.lab.hosts import Host, Lab, swarmpy_executable
from swarmpy.lab.registry import RegistryHost, start_registry_host


@dataclass
class TestLab:
    __test__ = False  # not a test class, whatever its name

    lab: Lab
    hosts: list[Host]
    registry: RegistryHost | None

    def start_daemons(self, hosts: Sequence[Host] | None = None, timeout: float = 30.0) -> None:
        """Start a daemon on each host (default: all) and wait until each listens."""
        targets = list(self.hosts if hosts is None else hosts)
        for host in targets:
            self.lab.start_daemon(host)
        for host in targets:
            self.lab.wait_for_socket(host, timeout)

    def swarmpy(
        self, host: Host, *args: str, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run the ``swarmpy`` CLI on ``host`` against its own daemon."""
        return self.lab.run(
            host, [swarmpy_executable(), *args], capture_output=True, text=True, check=check
        )

    def ok(self, host: Host, *args: str) -> str:
        """``swarmpy`` on ``host``, which must succeed; its stdout."""
        done = self.swarmpy(host, *args)
        assert done.returncode == 0, f"swarmpy {' '.join(args)} on {host.name}: {done.stderr}"
        return done.stdout


LabFactory = Callable[..., TestLab]


def task_container(lab: TestLab, service: str, task: str) -> tuple[Host, str]:
    """The host that runs the running task ``task`` of ``service`` (its slot name,
    ``stack_web.1``, or its full id) and the name of the task's container there."""
    fmt = "{{.ID}} {{.Name}} {{.Node}} {{.CurrentState}}"
    ps = ("service", "ps", service, "--no-trunc", "--format", fmt)
    rows = lab.swarmpy(lab.hosts[0], *ps, check=True).stdout
    task_id, name, node = next(
        line.split()[:3]
        for line in rows.splitlines()
        if task in line.split()[:2] and line.split()[3] == "Running"
    )
    host = next(h for h in lab.hosts if h.name == node)
    names = lab.swarmpy(host, "ps", "--format", "{{.Names}}", check=True).stdout.split()
    # A slot's container is named after its task: a replacement's container is not the one
    # of the task it replaces.
    (container,) = [n for n in names if n == f"{name}.{task_id}"]
    return host, container


def lab_exec(lab: TestLab, task: str, *command: str) -> str:
    """``command`` in the running container of task ``task`` (``stack_web.1``), on the host
    that runs it; its output."""
    host, container = task_container(lab, task.rsplit(".", 1)[0], task)
    return str(lab.swarmpy(host, "exec", container, *command, check=True).stdout)


def new_lab(n_hosts: int = 3, *, registry: bool = True) -> TestLab:
    """A lab with a unique name in a short state dir (unix socket paths are limited to 107
    bytes), hosts named node1..nodeN."""
    name = "t" + secrets.token_hex(3)
    lab = Lab(name, Path(tempfile.mkdtemp(prefix=f"swl-{name}-", dir="/tmp")))
    test_lab = TestLab(lab=lab, hosts=[], registry=None)
    try:
        lab.create_underlay()
        test_lab.hosts = [lab.add_host(f"node{i}") for i in range(1, n_hosts + 1)]
        if registry:
            test_lab.registry = start_registry_host(lab)
    except BaseException:
        lab.destroy()
        raise
    return test_lab
