"""What the lab benchmarks (convergence, overlay) share: a swarm on a lab, and its API.

``swarm_lab(n)`` builds a lab of ``n`` hosts with a swarm on it (``swarmpy.lab.manage.up``:
node1 the manager, the others workers, plus the registry/DNS host) under a unique name, and
removes it afterwards, also on failure or Ctrl-C. ``Api`` talks to the manager's Engine API
on its unix socket straight from the benchmark process, as any client does: polling through
the CLI would add a Python start (about 2 s on the shared 2-core machine) to every sample.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOOLS = ("runc", "nsenter", "unshare", "docker-registry", "dnsmasq")

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """The lab or the service path cannot run here: says which step failed."""


def missing_prerequisites(extra_tools: Sequence[str] = ()) -> str | None:
    """Why a lab benchmark cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (namespaces, runc)"
    missing = [t for t in (*TOOLS, *extra_tools) if shutil.which(t) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


@dataclass(frozen=True)
class TaskStatusView:
    state: int  # swarmpy.model.TaskState's value
    timestamp: float
    err: str


@dataclass(frozen=True)
class AttachmentView:
    network_id: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class TaskView:
    """What the benchmarks read of a task, from the Engine API's Task document."""

    id: str
    node_id: str
    desired_state: int
    status: TaskStatusView
    networks: tuple[AttachmentView, ...]


def task_view(doc: dict[str, Any]) -> TaskView:
    from swarmpy.cli.output import parse_iso
    from swarmpy.model import TaskState

    def state(text: Any) -> int:
        return int(TaskState[str(text).upper()])

    status = doc.get("Status") or {}
    return TaskView(
        id=str(doc["ID"]),
        node_id=str(doc.get("NodeID", "")),
        desired_state=state(doc.get("DesiredState", "new")),
        status=TaskStatusView(
            state=state(status.get("State", "new")),
            timestamp=parse_iso(str(status.get("Timestamp", ""))),
            err=str(status.get("Err", "")),
        ),
        networks=tuple(
            AttachmentView(
                network_id=str(a["Network"].get("ID") or a["Network"].get("Id", "")),
                addresses=tuple(a.get("Addresses") or ()),
            )
            for a in doc.get("NetworksAttachments") or ()
        ),
    )


class Api:
    """The manager's Engine API over its unix socket (a connection per request)."""

    def __init__(self, socket_url: str) -> None:
        from swarmpy.cli.engine import Endpoint, EngineClient

        path = socket_url.removeprefix("unix://")
        self.engine = EngineClient(Endpoint(host=socket_url, path=path))

    def close(self) -> None:
        """Nothing held: every request has a connection of its own."""

    def create_service(
        self,
        name: str,
        replicas: int,
        *,
        args: Sequence[str] = ("sleep", "3600"),
        networks: Sequence[str] = (),
        constraints: Sequence[str] = (),
    ) -> str:
        from swarmpy.dockerjson.service import service_spec_json
        from swarmpy.model import ContainerSpec, ServiceSpec

        spec = ServiceSpec(
            name=name,
            # sleep as pid 1 ignores SIGTERM: a short grace keeps removals between runs short.
            container=ContainerSpec(image="busybox", args=tuple(args), stop_grace_s=1.0),
            replicas=replicas,
            networks=tuple(networks),
            constraints=tuple(constraints),
        )
        return str(self.engine.post("/services/create", service_spec_json(spec))["ID"])

    def create_network(
        self, name: str, driver: str = "overlay", options: dict[str, str] | None = None
    ) -> str:
        body = {"Name": name, "Driver": driver, "Options": options or {}}
        return str(self.engine.post("/networks/create", body)["Id"])

    def remove_network(self, ref: str) -> None:
        from swarmpy.cli.engine import path_of

        self.engine.delete(path_of("networks", ref))

    def tasks(self, service_id: str) -> list[TaskView]:
        """The service's tasks, as Docker's CLI lists them (/tasks?filters=service)."""
        import json

        filters = json.dumps({"service": {service_id: True}})
        return [task_view(doc) for doc in self.engine.get("/tasks", filters=filters)]

    def remove_service(self, service_id: str) -> None:
        from swarmpy.cli.engine import path_of

        self.engine.delete(path_of("services", service_id))


@dataclass
class SwarmLab:
    lab: Any  # swarmpy.lab.hosts.Lab
    hosts: list[Any]  # swarmpy.lab.hosts.Host: node1 (manager), node2, ...
    api: Api

    @property
    def manager(self) -> Any:
        return self.hosts[0]

    def containers(self, host: Any) -> list[str]:
        """Container ids in ``host``'s runc root (whatever state they are in)."""
        listed = subprocess.run(
            ["runc", "--root", str(host.runc_root), "list", "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
        return listed.stdout.split()

    def wait_no_containers(self, timeout: float = 120.0) -> None:
        """After a service removal: until every worker removed its containers."""
        deadline = time.monotonic() + timeout
        while any(self.containers(h) for h in self.hosts):
            if time.monotonic() > deadline:
                left = {h.name: len(self.containers(h)) for h in self.hosts}
                raise NotReady(f"containers still there {timeout:g}s after removal: {left}")
            time.sleep(0.2)


@contextmanager
def swarm_lab(n_hosts: int, keep_logs: Path | None = None, mtu: int = 1500) -> Iterator[SwarmLab]:
    """A fresh lab of ``n_hosts`` (underlay links of ``mtu``) with a swarm formed, removed on
    the way out; the daemons' logs are copied to ``keep_logs`` (``node1.log``...) first when
    given."""
    from swarmpy.errors import SwarmpyError
    from swarmpy.lab import manage

    name = "bn" + secrets.token_hex(3)
    try:
        try:
            lab = manage.up(name, n_hosts, 1, log.info, mtu)
        except SwarmpyError as exc:
            raise NotReady(f"lab up failed: {exc}") from exc
        api = Api(manage.swarm_hosts(lab)[0].socket_url)
        try:
            yield SwarmLab(lab, manage.swarm_hosts(lab), api)
        finally:
            api.close()
    finally:
        if keep_logs is not None:
            keep_logs.mkdir(parents=True, exist_ok=True)
            for log_file in manage.state_dir(name).glob("*/daemon.log"):
                shutil.copy(log_file, keep_logs / f"{log_file.parent.name}.log")
        manage.down(name)


def daemon_pid(host: Any) -> int | None:
    """The pid of the swarmpy daemon serving ``host`` (found by its --data-root)."""
    wanted = ["daemon", "--data-root", str(host.data_root)]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(argv[i : i + 3] == wanted for i in range(len(argv))):
            return int(entry.name)
    return None


def daemon_log_tail(host: Any, lines: int = 1) -> str:
    path = Path(host.daemon_log)
    if not path.exists():
        return ""
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])[:300]
