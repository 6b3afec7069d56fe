"""`network inspect --verbose` (``GET /networks/{id}?verbose=true``) of a swarm network, as
dockerd's: ``Peers``, the nodes that have the network (a task on it), and ``Services``, each
service with a running task on the network, by name, with its VIP there and its tasks'
endpoints (name, endpoint id, address on the network, the node's address). dockerd answers
from the node's gossip view of the network; a manager here answers from the store, which
holds the same facts (a worker answers without them, as it has no store).

dockerd's entries also carry ``LocalLBIndex``, the index of the service's load balancer in
the node's kernel (IPVS firewall mark): swarmpy balances a VIP with nftables rules, which have
no such index, so the key is left out rather than filled with a number that means nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from swarmpy.model import Network, Node, Service, Task, serves_traffic


def endpoint_id(task_id: str, network_id: str) -> str:
    """A task's endpoint id on a network, as the node's attachment names it
    (swarmpy.overlay.attachment.Attachment.endpoint_id, equal by a unit test)."""
    return hashlib.sha256(f"{task_id}/{network_id}".encode()).hexdigest()


def _ip(cidr: str) -> str:
    return cidr.split("/", 1)[0]


def _peer_name(node: Node) -> str:
    # dockerd's peers are named <hostname>-<12 hex of its networkdb node id>.
    return f"{node.hostname}-{node.id[:12]}"


def verbose_json(
    network: Network,
    services: Iterable[Service],
    tasks: Iterable[Task],
    nodes: Mapping[str, Node],
) -> dict[str, Any]:
    """The keys --verbose adds to the network's inspect document."""
    attached: dict[str, list[tuple[Task, str]]] = {}
    peers: dict[str, Node] = {}
    for task in tasks:
        if not serves_traffic(task):
            continue
        for attachment in task.networks:
            if attachment.network_id == network.id and attachment.addresses:
                attached.setdefault(task.service_id, []).append((task, attachment.addresses[0]))
                if task.node_id in nodes:
                    peers[task.node_id] = nodes[task.node_id]
    out_services: dict[str, Any] = {}
    for service in services:
        vips = [v.addr for v in service.virtual_ips if v.network_id == network.id]
        members = attached.get(service.id, [])
        if not members:  # dockerd's entries are its service bindings: made by tasks' endpoints
            continue
        ports = [
            f"Target: {p.target}, Publish: {p.published}"
            for p in service.endpoint_ports
            if network.ingress and p.published
        ]
        out_services[service.spec.name] = {
            "VIP": _ip(vips[0]) if vips else "",
            "Ports": ports,
            "Tasks": [
                {
                    "Name": task.name,
                    "EndpointID": endpoint_id(task.id, network.id),
                    "EndpointIP": _ip(address),
                    "Info": {"Host IP": nodes[task.node_id].addr if task.node_id in nodes else ""},
                }
                for task, address in sorted(members, key=lambda m: m[0].name)
            ],
        }
    return {
        "Peers": [
            {"Name": _peer_name(node), "IP": node.addr}
            for node in sorted(peers.values(), key=lambda n: n.hostname)
        ],
        "Services": out_services,
    }
