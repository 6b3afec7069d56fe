"""Spread: put a task where its service has the fewest tasks, then where the fewest run at all.

A heap keyed that way gives each placement in O(log nodes), so a batch of thousands of
replicas costs a few heap operations per task instead of a scan of every node.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from swarmpy.manager.scheduler.filters import NodeLoad

# (tasks of this service, tasks overall, hostname, node id): the id breaks hostname ties
# so the order is total and placements are reproducible.
SpreadKey = tuple[int, int, str, str]


def spread_key(load: NodeLoad, service_id: str) -> SpreadKey:
    return (
        load.tasks_by_service.get(service_id, 0),
        load.tasks,
        load.node.hostname,
        load.node.id,
    )


class SpreadHeap:
    """Nodes that can take a service's tasks, least loaded first."""

    def __init__(self, service_id: str, loads: Iterable[NodeLoad]) -> None:
        self.service_id = service_id
        self._loads = {load.node.id: load for load in loads}
        self._heap = [spread_key(load, service_id) for load in self._loads.values()]
        heapq.heapify(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def pop(self) -> NodeLoad:
        """The best node; the caller pushes it back (after adding a task) if it still fits."""
        return self._loads[heapq.heappop(self._heap)[3]]

    def push(self, load: NodeLoad) -> None:
        heapq.heappush(self._heap, spread_key(load, self.service_id))
