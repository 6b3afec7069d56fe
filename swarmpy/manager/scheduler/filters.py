"""Node filters: can this node run this task? And, when no node can, why not.

As in SwarmKit, a node is checked against the filters in order and the first one that rejects
it is the one blamed, so the reason a task stays pending reads like Docker's
``no suitable node (1 node not available for new tasks; 2 nodes not satisfying constraints)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from swarmpy import genericresource
from swarmpy.manager import constraint
from swarmpy.manager.constraint import Constraint
from swarmpy.model import GenericResource, Node, NodeAvailability, NodeState, PublishMode, Task


def accepts_new_tasks(node: Node) -> bool:
    """Only READY, ACTIVE nodes take new tasks (SwarmKit folds both checks into one)."""
    return node.state == NodeState.READY and node.availability == NodeAvailability.ACTIVE


@dataclass
class NodeLoad:
    """The scheduler's running tally for one node: what it already runs and reserves."""

    node: Node
    tasks: int = 0
    tasks_by_service: dict[str, int] = field(default_factory=dict)
    nano_cpus: int = 0
    memory_bytes: int = 0
    # (protocol, port) of the host-mode ports its tasks publish
    host_ports: set[tuple[str, int]] = field(default_factory=set)
    # The node's generic resources its tasks have not taken (SwarmKit's
    # AvailableResources.Generic).
    generic: list[GenericResource] = field(init=False)

    def __post_init__(self) -> None:
        self.generic = list(self.node.resources.generic)

    def add(self, task: Task) -> None:
        """Count a task placed here before: it holds the generic resources it was given."""
        genericresource.consume(self.generic, task.assigned_generic_resources)
        self._count(task)

    def place(self, task: Task) -> tuple[GenericResource, ...]:
        """Count a task the scheduler puts here now; the generic resources it takes."""
        wanted = task.spec.resources.reservations.generic
        claimed = genericresource.claim(self.generic, wanted) if wanted else ()
        self._count(task)
        return claimed

    def _count(self, task: Task) -> None:
        self.tasks += 1
        self.host_ports.update(host_port_keys(task))
        self.tasks_by_service[task.service_id] = self.tasks_by_service.get(task.service_id, 0) + 1
        reserved = task.spec.resources.reservations
        self.nano_cpus += reserved.nano_cpus
        self.memory_bytes += reserved.memory_bytes


def host_port_keys(task: Task) -> list[tuple[str, int]]:
    return [
        (str(p.protocol), p.published)
        for p in task.spec.ports
        if p.publish_mode == PublishMode.HOST and p.published
    ]


class Filter(Protocol):
    def check(self, node: Node, task: Task, ctx: NodeLoad) -> bool: ...

    def explain(self, count: int) -> str: ...


def _nodes(count: int) -> str:
    return "1 node" if count == 1 else f"{count} nodes"


class ReadyFilter:
    def check(self, node: Node, task: Task, ctx: NodeLoad) -> bool:
        return accepts_new_tasks(node)

    def explain(self, count: int) -> str:
        return f"{_nodes(count)} not available for new tasks"


class ConstraintFilter:
    def __init__(self) -> None:
        self._parsed: dict[tuple[str, ...], tuple[Constraint, ...]] = {}

    def constraints(self, task: Task) -> tuple[Constraint, ...]:
        exprs = task.spec.constraints
        if exprs not in self._parsed:
            self._parsed[exprs] = constraint.parse_stored(exprs)
        return self._parsed[exprs]

    def check(self, node: Node, task: Task, ctx: NodeLoad) -> bool:
        return constraint.node_matches(self.constraints(task), node)

    def explain(self, count: int) -> str:
        return f"scheduling constraints not satisfied on {_nodes(count)}"


class ResourceFilter:
    """Reservations of the tasks already there plus this one must fit the node, and the
    generic resources its tasks left must cover this one's."""

    def check(self, node: Node, task: Task, ctx: NodeLoad) -> bool:
        want = task.spec.resources.reservations
        have = node.resources
        if want.nano_cpus and ctx.nano_cpus + want.nano_cpus > have.nano_cpus:
            return False
        if want.memory_bytes and ctx.memory_bytes + want.memory_bytes > have.memory_bytes:
            return False
        return all(genericresource.has_enough(ctx.generic, r) for r in want.generic)

    def explain(self, count: int) -> str:
        return f"insufficient resources on {_nodes(count)}"


class MaxReplicasFilter:
    """--replicas-max-per-node: a node already running that many of the service's tasks
    takes no more (SwarmKit's MaxReplicasFilter and its message)."""

    def check(self, node: Node, task: Task, ctx: NodeLoad) -> bool:
        limit = task.spec.max_replicas
        return not limit or ctx.tasks_by_service.get(task.service_id, 0) < limit

    def explain(self, count: int) -> str:
        return f"max replicas per node limit exceed on {_nodes(count)}"


class HostPortFilter:
    """A node where a task already publishes a host-mode port takes no other task
    publishing it (SwarmKit's HostPortFilter and its message)."""

    def check(self, node: Node, task: Task, ctx: NodeLoad) -> bool:
        return not any(key in ctx.host_ports for key in host_port_keys(task))

    def explain(self, count: int) -> str:
        return f"host-mode port already in use on {_nodes(count)}"


def default_filters() -> tuple[Filter, ...]:
    return (
        ReadyFilter(),
        ConstraintFilter(),
        ResourceFilter(),
        HostPortFilter(),
        MaxReplicasFilter(),
    )


def first_failing(filters: Sequence[Filter], node: Node, task: Task, ctx: NodeLoad) -> int:
    """Index of the first filter rejecting the node, or -1 if it passes them all."""
    for i, f in enumerate(filters):
        if not f.check(node, task, ctx):
            return i
    return -1


def explain(filters: Sequence[Filter], failures: dict[int, int]) -> str:
    """Docker's pending reason from how many nodes each filter rejected."""
    parts = [filters[i].explain(n) for i, n in sorted(failures.items()) if n]
    return "no suitable node" + (f" ({'; '.join(parts)})" if parts else "")
