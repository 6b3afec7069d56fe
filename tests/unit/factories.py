"""Small builders of domain objects for the control-loop tests."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from swarmpy.model import (
    ContainerSpec,
    Node,
    NodeState,
    Resources,
    Service,
    ServiceSpec,
    Task,
    TaskState,
    TaskStatus,
)

_ids = itertools.count(1)


def node(name: str, **changes: Any) -> Node:
    base = Node(id=f"id-{name}", hostname=name, state=NodeState.READY)
    return dataclasses.replace(base, **changes)


def nodes(count: int, **changes: Any) -> list[Node]:
    return [node(f"n{i:04d}", **changes) for i in range(count)]


def service(name: str = "web", sid: str = "", **spec_changes: Any) -> Service:
    spec = dataclasses.replace(ServiceSpec(name, ContainerSpec("busybox")), **spec_changes)
    return Service(id=sid or f"svc-{name}", spec=spec)


def task(
    svc: Service,
    slot: int = 1,
    state: TaskState = TaskState.PENDING,
    node_id: str = "",
    desired: TaskState = TaskState.RUNNING,
    at: float = 0.0,
    **changes: Any,
) -> Task:
    n = next(_ids)
    base = Task(
        id=f"t{n:06d}",
        service_id=svc.id,
        service_name=svc.spec.name,
        spec=svc.spec,
        spec_version=svc.spec_version,
        slot=slot,
        node_id=node_id,
        desired_state=desired,
        status=TaskStatus(state, at),
        created_at=at or float(n),
    )
    return dataclasses.replace(base, **changes)


def reserving(cpus: float = 0, memory: int = 0) -> dict[str, Any]:
    """ServiceSpec changes for a reservation."""
    from swarmpy.model import ResourceRequirements

    return {
        "resources": ResourceRequirements(
            reservations=Resources(nano_cpus=int(cpus * 1e9), memory_bytes=memory)
        )
    }
