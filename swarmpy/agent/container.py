"""A task as the engine's container: the mapping SwarmKit's container adapter makes from a
task to Docker's container config. Pure functions over plain data."""

from __future__ import annotations

import shutil
from collections.abc import Mapping

from swarmpy import genericresource, templates
from swarmpy.dockerjson import logdriver
from swarmpy.engine import bundle
from swarmpy.engine.spec import ContainerConfig, Mount, MountKind
from swarmpy.errors import RuntimeFailure
from swarmpy.model import ContainerSpec, Task
from swarmpy.overlay.sandbox import SandboxInfo

# Annotations that tie a container to its task: how the agent recognises it after a restart.
ANN_TASK_ID = bundle.ANN_PREFIX + "task.id"
ANN_SERVICE_ID = bundle.ANN_PREFIX + "service.id"
ANN_SERVICE_NAME = bundle.ANN_PREFIX + "service.name"
ANN_SLOT = bundle.ANN_PREFIX + "task.slot"
ANN_NODE_ID = bundle.ANN_PREFIX + "node.id"

# Docker's init (tini, as Docker ships it), or Debian's static tini.
INIT_BINARIES = ("docker-init", "tini-static")

# Docker's labels on a swarm task's container, and the annotations inspect reads them from.
SWARM_LABELS = {
    "com.docker.swarm.node.id": ANN_NODE_ID,
    "com.docker.swarm.service.id": ANN_SERVICE_ID,
    "com.docker.swarm.service.name": ANN_SERVICE_NAME,
    "com.docker.swarm.task.id": ANN_TASK_ID,
    "com.docker.swarm.task.name": bundle.ANN_NAME,
}


def mounts(spec: ContainerSpec, values: Mapping[str, str] | None = None) -> tuple[Mount, ...]:
    """The spec's mounts for the engine; ``values`` fill in templates in their sources and
    targets (``source=/srv/{{.Task.Slot}}``), as SwarmKit expands them."""

    def expand(text: str) -> str:
        return templates.expand(text, values) if values else text

    return tuple(
        Mount(
            MountKind(m.type.value),
            expand(m.target),
            expand(m.source),
            m.readonly,
            propagation=m.bind_propagation,
            tmpfs_size=m.tmpfs_size,
            tmpfs_mode=m.tmpfs_mode,
            volume_nocopy=m.volume_nocopy,
            volume_labels=m.volume_labels,
            volume_options=m.volume_options,
        )
        for m in spec.mounts
    )


def resolv_conf(base: str, spec: ContainerSpec) -> str:
    """The sandbox's resolv.conf with the spec's DNSConfig, as Docker writes it for a
    container with the embedded DNS: the nameserver stays 127.0.0.11, which forwards what
    is not a service's name to the spec's nameservers (swarmpy.dns); search domains and
    options are the spec's (its options added to the sandbox's)."""
    if not (spec.dns_search or spec.dns_options):
        return base
    servers: list[str] = []
    options: list[str] = []
    search: list[str] = []
    for line in base.splitlines():
        word, _, rest = line.partition(" ")
        if word == "nameserver":
            servers.append(rest.strip())
        elif word == "options":
            options += rest.split()
        elif word in ("search", "domain"):
            search += rest.split()
    if spec.dns_search:
        search = list(spec.dns_search)
    # A later option of the same name wins in the resolver: the spec's go last.
    names = {o.partition(":")[0] for o in spec.dns_options}
    options = [o for o in options if o.partition(":")[0] not in names] + list(spec.dns_options)
    lines = [f"nameserver {s}" for s in servers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def hosts_file(base: str, spec: ContainerSpec, renamed: tuple[str, str] = ("", "")) -> str:
    """The sandbox's /etc/hosts with the spec's extra lines ("IP name [alias...]").
    ``renamed`` is (the sandbox's hostname, the container's) when the spec names it: the
    container's own address line then carries its name, as Docker writes it."""
    old, new = renamed
    lines = []
    for line in base.splitlines(keepends=True):
        fields = line.split()
        if old and old != new and len(fields) == 2 and fields[1] == old:
            line = f"{fields[0]}\t{new}\n"
        lines.append(line)
    extra = "".join("\t".join(line.split(maxsplit=1)) + "\n" for line in spec.hosts)
    return "".join(lines) + extra


def template_values(task: Task, node_id: str, node_hostname: str) -> dict[str, str]:
    """What a service template (``{{.Node.Hostname}}``) may name, for this task."""
    return {
        "Service.ID": task.service_id,
        "Service.Name": task.service_name,
        "Node.ID": node_id,
        "Node.Hostname": node_hostname,
        "Task.ID": task.id,
        "Task.Name": task.name,
        "Task.Slot": str(task.slot) if task.slot else node_id,
    }


def find_init() -> str:
    """This node's init binary for --init: Docker's docker-init, else tini's static build."""
    for name in INIT_BINARIES:
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeFailure(
        "the service asks for --init but this node has no init binary "
        f"({' or '.join(INIT_BINARIES)} on PATH)"
    )


def check_isolation(spec: ContainerSpec) -> None:
    """A Linux daemon creates containers of the default isolation only, and without a
    credential spec (Windows only): Docker rejects such a task with its container create's
    error."""
    if spec.isolation not in ("", "default"):
        raise RuntimeFailure(f"invalid isolation '{spec.isolation}' on linux")
    if spec.credential_spec:
        # Docker's executor makes it a "credentialspec=" security option, which a Linux
        # daemon's parseSecurityOpt refuses in these words.
        raise RuntimeFailure(f'invalid --security-opt 2: "credentialspec={spec.credential_spec}"')


def task_annotations(task: Task, node_id: str) -> tuple[tuple[str, str], ...]:
    return (
        (ANN_TASK_ID, task.id),
        (ANN_SERVICE_ID, task.service_id),
        (ANN_SERVICE_NAME, task.service_name),
        (ANN_SLOT, str(task.slot)),
        (ANN_NODE_ID, node_id),
    )


def container_config(
    task: Task,
    sandbox: SandboxInfo,
    node_id: str,
    node_hostname: str = "",
    init_path: str = "",
) -> ContainerConfig:
    """The container to create for ``task`` in its network sandbox; its id is the task id.
    ``init_path`` is the node's init binary, for a spec that asks for one."""
    spec = task.spec.container
    limits = task.spec.resources.limits
    values = template_values(task, node_id, node_hostname)
    hostname = templates.expand(spec.hostname, values) if spec.hostname else sandbox.hostname
    return ContainerConfig(
        id=task.id,
        name=task.name,
        image=spec.image,
        netns_path=sandbox.netns_path,
        hostname=hostname,
        resolv_conf=resolv_conf(sandbox.resolv_conf, spec),
        hosts=hosts_file(sandbox.hosts, spec, (sandbox.hostname, hostname)),
        command=spec.command,
        args=spec.args,
        # As Docker's executor: the task's generic resources after the spec's variables.
        env=tuple(templates.expand(e, values) for e in spec.env)
        + genericresource.env(task.assigned_generic_resources),
        workdir=spec.workdir,
        user=spec.user,
        groups=spec.groups,
        cap_add=spec.cap_add,
        cap_drop=spec.cap_drop,
        mounts=mounts(spec, values),
        memory_bytes=limits.memory_bytes,
        nano_cpus=limits.nano_cpus,
        pids_limit=limits.pids,
        labels=spec.labels,
        read_only=spec.read_only,
        tty=spec.tty,
        init_path=init_path if spec.init else "",
        sysctls=spec.sysctls,
        ulimits=tuple((u.name, u.soft, u.hard) for u in spec.ulimits),
        healthcheck=spec.healthcheck,
        annotations=task_annotations(task, node_id),
        log=logdriver.settings(spec.log_driver),
    )
