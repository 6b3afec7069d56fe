"""What each node must know of the networks and tasks: pure functions over a snapshot.

The dispatcher pushes these to agents: the node's own tasks (its assignments) and the
NetworkView from which the agent programs VXLAN forwarding, VIP maps and DNS records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from swarmpy.manager.state.store import NETWORKS, NODES, SERVICES, TASKS, Snapshot
from swarmpy.model import (
    Endpoint,
    EndpointMode,
    Network,
    NetworkView,
    ServiceEndpoint,
    Task,
    TaskState,
)


def is_assigned(task: Task) -> bool:
    """A task an agent must know about: placed on a node by the scheduler."""
    return bool(task.node_id) and task.status.state >= TaskState.ASSIGNED


def assignments_by_node(tasks: Iterable[Task]) -> dict[str, dict[str, Task]]:
    by_node: dict[str, dict[str, Task]] = defaultdict(dict)
    for task in tasks:
        if is_assigned(task):
            by_node[task.node_id][task.id] = task
    return by_node


def _live_on_node(task: Task) -> bool:
    return task.desired_state <= TaskState.COMPLETE and not task.status.state.terminal


class ViewBuilder:
    """Builds every node's NetworkView from one snapshot, sharing the per-network work."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._networks = {n.id: n for n in snapshot.all(NETWORKS)}
        nodes = {n.id: n for n in snapshot.all(NODES)}
        self._endpoints: dict[str, list[Endpoint]] = defaultdict(list)
        self._services: dict[str, list[ServiceEndpoint]] = defaultdict(list)
        self._networks_of_node: dict[str, set[str]] = defaultdict(set)
        for task in snapshot.all(TASKS):
            if not task.networks or not task.node_id:
                continue
            if _live_on_node(task) and task.status.state >= TaskState.ASSIGNED:
                self._networks_of_node[task.node_id].update(a.network_id for a in task.networks)
            if task.status.state != TaskState.RUNNING or task.desired_state > TaskState.COMPLETE:
                continue
            node = nodes.get(task.node_id)
            for attachment in task.networks:
                if not attachment.addresses:
                    continue
                self._endpoints[attachment.network_id].append(
                    Endpoint(
                        task_id=task.id,
                        service_id=task.service_id,
                        service_name=task.service_name,
                        container_name=task.name,
                        slot=task.slot,
                        node_id=task.node_id,
                        node_addr=node.addr if node else "",
                        network_id=attachment.network_id,
                        ip=attachment.addresses[0].split("/")[0],
                        mac=attachment.mac,
                    )
                )
        for service in snapshot.all(SERVICES):
            endpoint = ServiceEndpoint(
                service_id=service.id,
                name=service.spec.name,
                endpoint_mode=service.spec.endpoint_mode,
                virtual_ips=(
                    service.virtual_ips if service.spec.endpoint_mode == EndpointMode.VIP else ()
                ),
            )
            for network_id in service.spec.networks:
                self._services[network_id].append(endpoint)

    def networks_for(self, node_id: str) -> list[Network]:
        return [
            self._networks[n]
            for n in sorted(self._networks_of_node.get(node_id, ()))
            if n in self._networks
        ]

    def view_for(self, node_id: str) -> NetworkView:
        networks = self.networks_for(node_id)
        endpoints: list[Endpoint] = []
        services: dict[str, ServiceEndpoint] = {}
        for network in networks:
            endpoints.extend(self._endpoints.get(network.id, ()))
            for service in self._services.get(network.id, ()):
                services[service.service_id] = service
        return NetworkView(
            networks=tuple(networks),
            endpoints=tuple(sorted(endpoints, key=lambda e: (e.network_id, e.task_id))),
            services=tuple(sorted(services.values(), key=lambda s: s.service_id)),
        )
