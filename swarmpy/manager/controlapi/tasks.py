"""The control API of tasks: list them, by service and by node."""

from __future__ import annotations

from collections.abc import Sequence

from swarmpy.manager.controlapi.common import resolve
from swarmpy.manager.state.store import NODES, SERVICES, TASKS, Store
from swarmpy.model import Task


class TaskAPI:
    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self, services: Sequence[str], nodes: Sequence[str]) -> list[Task]:
        snapshot = self.store.view()
        service_ids = {resolve(snapshot, SERVICES, r, lambda s: s.spec.name).id for r in services}
        node_ids = {resolve(snapshot, NODES, r, lambda n: n.hostname).id for r in nodes}
        tasks = [
            t
            for t in snapshot.all(TASKS)
            if (not service_ids or t.service_id in service_ids)
            and (not node_ids or t.node_id in node_ids)
        ]
        return sorted(tasks, key=lambda t: (t.service_name, t.slot, t.node_id, -t.created_at))
