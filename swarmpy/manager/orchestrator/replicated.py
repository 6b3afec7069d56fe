"""Replicated services: slots 1..replicas, each with one task, moved off failed nodes."""

from __future__ import annotations

from collections.abc import Sequence

from swarmpy.manager.controlapi.validate import MAX_REPLICAS
from swarmpy.manager.orchestrator.reconcile import Plan, Slots, reconcile_slots
from swarmpy.model import Node, NodeAvailability, NodeState, Service, Task, TaskState


def reconcile_replicated(
    service: Service, tasks: Sequence[Task], nodes: Sequence[Node], now: float
) -> Plan:
    by_id = {n.id: n for n in nodes}
    # The control API refuses more, but a spec stored before it did must not make every
    # leader build a trillion slots on each tick (and hang again after each restart).
    wanted = range(1, min(service.spec.replicas, MAX_REPLICAS) + 1)

    def evicted(task: Task) -> bool:
        if not task.node_id:
            return False
        node = by_id.get(task.node_id)
        return (
            node is None
            or node.state == NodeState.DOWN
            or node.availability == NodeAvailability.DRAIN
        )

    slots = Slots(
        key=lambda t: t.slot,
        keep=frozenset(wanted),
        create_on={slot: (slot, "") for slot in wanted},
        retire=lambda _slot: TaskState.REMOVE,  # scaled down: these slots are gone for good
        evicted=evicted,
        orphaned=lambda t: bool(t.node_id) and t.node_id not in by_id,
    )
    return reconcile_slots(service, tasks, slots, now)
