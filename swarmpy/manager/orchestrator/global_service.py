"""Global services: one task on every node that fits the constraints and is not drained."""

from __future__ import annotations

from collections.abc import Sequence

from swarmpy.manager import constraint
from swarmpy.manager.orchestrator.reconcile import Plan, SlotKey, Slots, reconcile_slots
from swarmpy.manager.scheduler.filters import accepts_new_tasks
from swarmpy.model import Node, NodeAvailability, NodeState, Service, Task, TaskState


def reconcile_global(
    service: Service, tasks: Sequence[Task], nodes: Sequence[Node], now: float
) -> Plan:
    by_id = {n.id: n for n in nodes}
    # The scheduler's own readiness check and the shared constraint matching decide
    # eligibility, so the two can never disagree.
    constraints = constraint.parse_stored(service.spec.constraints)
    keep: set[str] = set()
    create_on: dict[SlotKey, tuple[int, str]] = {}
    for node in nodes:
        # A down node's task is shut down, as SwarmKit's global orchestrator does
        # (reconcileOneNode), and the node gets a new one once it is back: `service ps`
        # shows the task of a dead host as desired Shutdown, not as running on.
        if (
            node.availability == NodeAvailability.DRAIN
            or node.state == NodeState.DOWN
            or not constraint.node_matches(constraints, node)
        ):
            continue
        keep.add(node.id)
        # A paused node (or one not ready yet) keeps its task but gets no new one.
        if accepts_new_tasks(node):
            create_on[node.id] = (0, node.id)

    slots = Slots(
        key=lambda t: t.node_id,
        keep=frozenset(keep),
        create_on=create_on,
        # A node that left the cluster takes its tasks' history along; a drained one keeps it.
        retire=lambda node_id: TaskState.SHUTDOWN if node_id in by_id else TaskState.REMOVE,
        evicted=lambda _task: False,  # a global task never moves: its slot is its node
        orphaned=lambda t: bool(t.node_id) and t.node_id not in by_id,
    )
    return reconcile_slots(service, tasks, slots, now)
