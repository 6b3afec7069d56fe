"""What each node must know of the networks and tasks: pure functions over a snapshot.

The dispatcher pushes these to agents: the node's own tasks (its assignments) and the
NetworkView from which the agent programs VXLAN forwarding, VIP maps and DNS records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from swarmpy.manager.allocator.ports import ingress_ports
from swarmpy.manager.state.store import NETWORKS, NODES, SERVICES, TASKS, Snapshot
from swarmpy.model import (
    Endpoint,
    EndpointMode,
    Network,
    NetworkView,
    Node,
    ServiceEndpoint,
    Task,
    TaskState,
    mac_for_ip,
    on_network,
    serves_traffic,
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


INGRESS_SANDBOX = "ingress-sbox"  # Docker's name for it in `network inspect ingress`


def _ingress_sandboxes(ingress: Network, nodes: dict[str, Node]) -> list[Endpoint]:
    """Every node's ingress sandbox as an endpoint of the ingress network: the address the
    routing mesh's connections come from, which the tasks' nodes must forward back to."""
    return [
        Endpoint(
            task_id="",
            service_id="",
            service_name="",
            container_name=INGRESS_SANDBOX,
            slot=0,
            node_id=node.id,
            node_addr=node.addr,
            network_id=ingress.id,
            ip=node.ingress_addr.split("/")[0],
            mac=mac_for_ip(node.ingress_addr),
        )
        for node in nodes.values()
        if node.ingress_addr and node.addr
    ]


class ViewBuilder:
    """Builds every node's NetworkView from one snapshot, sharing the per-network work."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._networks = {n.id: n for n in snapshot.all(NETWORKS)}
        nodes = {n.id: n for n in snapshot.all(NODES)}
        # Every node has the ingress network: its ingress sandbox is on it.
        self._ingress = next((n for n in self._networks.values() if n.ingress), None)
        self._sandboxes: dict[str, Endpoint] = {}  # node id -> its ingress sandbox
        self._endpoints: dict[str, list[Endpoint]] = defaultdict(list)
        self._services: dict[str, list[ServiceEndpoint]] = defaultdict(list)
        self._networks_of_node: dict[str, set[str]] = defaultdict(set)
        for task in snapshot.all(TASKS):
            if not task.networks or not task.node_id:
                continue
            if _live_on_node(task) and task.status.state >= TaskState.ASSIGNED:
                self._networks_of_node[task.node_id].update(a.network_id for a in task.networks)
            if not on_network(task):
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
                        # Not a backend (VIPs, DNS, the routing mesh) while not running yet,
                        # on its way down, or failing its healthcheck (one not passed yet
                        # keeps it STARTING), but still at its address.
                        reachable_only=not serves_traffic(task),
                        aliases=task.attachment.aliases,
                    )
                )
        if self._ingress is not None:
            self._sandboxes = {e.node_id: e for e in _ingress_sandboxes(self._ingress, nodes)}
        for service in snapshot.all(SERVICES):
            ports = ingress_ports(service.endpoint_ports)
            endpoint = ServiceEndpoint(
                service_id=service.id,
                name=service.spec.name,
                endpoint_mode=service.spec.endpoint_mode,
                virtual_ips=(
                    service.virtual_ips if service.spec.endpoint_mode == EndpointMode.VIP else ()
                ),
                ports=ports,
                aliases=service.spec.network_aliases,
            )
            for network_id in service.spec.networks:
                self._services[network_id].append(endpoint)
            if ports and self._ingress is not None:
                self._services[self._ingress.id].append(endpoint)

    def networks_for(self, node_id: str) -> list[Network]:
        ids = set(self._networks_of_node.get(node_id, ()))
        if self._ingress is not None:
            ids.add(self._ingress.id)
        return [self._networks[n] for n in sorted(ids) if n in self._networks]

    def view_for(self, node_id: str) -> NetworkView:
        networks = self.networks_for(node_id)
        endpoints: list[Endpoint] = []
        services: dict[str, ServiceEndpoint] = {}
        for network in networks:
            endpoints.extend(self._endpoints.get(network.id, ()))
            for service in self._services.get(network.id, ()):
                services[service.service_id] = service
        if self._ingress is not None:
            # A node needs its own sandbox's address, and the others' only when a task of
            # its own is on ingress (its replies go back to them): views stay O(tasks), not
            # O(nodes), on a swarm of many nodes and few published ports.
            if self._ingress.id in self._networks_of_node.get(node_id, ()):
                endpoints.extend(self._sandboxes.values())
            elif node_id in self._sandboxes:
                endpoints.append(self._sandboxes[node_id])
        return NetworkView(
            networks=tuple(networks),
            endpoints=tuple(sorted(endpoints, key=lambda e: (e.network_id, e.task_id, e.node_id))),
            services=tuple(sorted(services.values(), key=lambda s: s.service_id)),
        )
