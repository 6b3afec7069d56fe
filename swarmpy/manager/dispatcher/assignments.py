"""Which tasks each node must run, kept up to date from store events: pure, no I/O.

The dispatcher pushes a node its assignments whenever they change. Rebuilding every node's
set from the whole snapshot after each change costs O(tasks) per batch of events, which at
10,000 tasks and a status report every few milliseconds is most of a core; this index is
updated per event instead, and says which nodes are affected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from swarmpy.manager.dispatcher.netview import assignments_by_node, is_assigned
from swarmpy.manager.state.store import NETWORKS, NODES, SERVICES, TASKS, Event
from swarmpy.model import Task

# What the managers change in a task that an agent does not act on: the agent itself is
# the source of a task's status (SwarmKit does not resend a task for those either).
_NOT_FOR_AGENT = frozenset({"status", "updated_at"})
_FOR_AGENT = tuple(f.name for f in dataclasses.fields(Task) if f.name not in _NOT_FOR_AGENT)

# Tables whose changes may alter any node's NetworkView.
_VIEW_TABLES = frozenset({NETWORKS, SERVICES, NODES})


def same_for_agent(sent: Task | None, task: Task) -> bool:
    """True if the agent holding ``sent`` has nothing new to learn from ``task``."""
    if sent is None:
        return False
    if sent is task:
        return True
    return all(getattr(sent, name) == getattr(task, name) for name in _FOR_AGENT)


def changes_views(event: Event) -> bool:
    """Whether ``event`` can alter a NetworkView (network endpoints, VIPs, node addresses)."""
    if event.table in _VIEW_TABLES:
        return True
    if event.table != TASKS:
        return False
    return bool(event.obj.networks) or bool(event.old is not None and event.old.networks)


class AssignmentIndex:
    """Every node's assigned tasks by id, fed with the store's task events."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        self.by_node: dict[str, dict[str, Task]] = dict(assignments_by_node(tasks))

    def tasks_of(self, node_id: str) -> dict[str, Task]:
        return self.by_node.get(node_id, {})

    def apply(self, event: Event) -> set[str]:
        """Take one event in; the nodes whose assignments it changed."""
        if event.table != TASKS:
            return set()
        touched: set[str] = set()
        old: Task | None = event.old if event.action == "update" else None
        if event.action == "delete":
            old = event.obj
        if old is not None and self.by_node.get(old.node_id, {}).pop(old.id, None) is not None:
            touched.add(old.node_id)
        if event.action != "delete" and is_assigned(event.obj):
            task: Task = event.obj
            self.by_node.setdefault(task.node_id, {})[task.id] = task
            touched.add(task.node_id)
        return touched
