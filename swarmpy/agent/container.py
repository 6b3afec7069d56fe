"""A task as the engine's container: the mapping SwarmKit's container adapter makes from a
task to Docker's container config. Pure functions over plain data."""

from __future__ import annotations

from swarmpy.engine import bundle
from swarmpy.engine.spec import ContainerConfig, Mount, MountKind
from swarmpy.model import ContainerSpec, Task
from swarmpy.overlay.sandbox import SandboxInfo

# Annotations that tie a container to its task: how the agent recognises it after a restart.
ANN_TASK_ID = bundle.ANN_PREFIX + "task.id"
ANN_SERVICE_ID = bundle.ANN_PREFIX + "service.id"
ANN_SERVICE_NAME = bundle.ANN_PREFIX + "service.name"
ANN_SLOT = bundle.ANN_PREFIX + "task.slot"
ANN_NODE_ID = bundle.ANN_PREFIX + "node.id"

# Docker's labels on a swarm task's container, and the annotations inspect reads them from.
SWARM_LABELS = {
    "com.docker.swarm.node.id": ANN_NODE_ID,
    "com.docker.swarm.service.id": ANN_SERVICE_ID,
    "com.docker.swarm.service.name": ANN_SERVICE_NAME,
    "com.docker.swarm.task.id": ANN_TASK_ID,
    "com.docker.swarm.task.name": bundle.ANN_NAME,
}


def mounts(spec: ContainerSpec) -> tuple[Mount, ...]:
    return tuple(
        Mount(MountKind(m.type.value), m.target, m.source, m.readonly) for m in spec.mounts
    )


def task_annotations(task: Task, node_id: str) -> tuple[tuple[str, str], ...]:
    return (
        (ANN_TASK_ID, task.id),
        (ANN_SERVICE_ID, task.service_id),
        (ANN_SERVICE_NAME, task.service_name),
        (ANN_SLOT, str(task.slot)),
        (ANN_NODE_ID, node_id),
    )


def container_config(task: Task, sandbox: SandboxInfo, node_id: str) -> ContainerConfig:
    """The container to create for ``task`` in its network sandbox; its id is the task id."""
    spec = task.spec.container
    limits = task.spec.resources.limits
    return ContainerConfig(
        id=task.id,
        name=task.name,
        image=spec.image,
        netns_path=sandbox.netns_path,
        hostname=spec.hostname or sandbox.hostname,
        resolv_conf=sandbox.resolv_conf,
        hosts=sandbox.hosts,
        command=spec.command,
        args=spec.args,
        env=spec.env,
        workdir=spec.workdir,
        user=spec.user,
        cap_add=spec.cap_add,
        cap_drop=spec.cap_drop,
        mounts=mounts(spec),
        memory_bytes=limits.memory_bytes,
        nano_cpus=limits.nano_cpus,
        pids_limit=limits.pids,
        labels=spec.labels,
        healthcheck=spec.healthcheck,
        annotations=task_annotations(task, node_id),
    )
