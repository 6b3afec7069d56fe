"""Small builders of domain objects for tests: nodes, services, tasks, endpoints, and a
network view shared by the DNS tests (two networks, a VIP service on both, a dnsrr service on
one, a global service on one)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from swarmpy import tls
from swarmpy.ca import certificates as ca
from swarmpy.model import (
    ContainerSpec,
    Endpoint,
    EndpointMode,
    Network,
    NetworkView,
    Node,
    NodeRole,
    NodeState,
    ResourceRequirements,
    Resources,
    Service,
    ServiceEndpoint,
    ServiceSpec,
    Task,
    TaskState,
    TaskStatus,
    VirtualIP,
    mac_for_ip,
)

_ids = itertools.count(1)

CLUSTER = "cluster1"


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
        # Creation order follows the builder's counter, yet every built task stays older
        # than one a test's reconcile creates at its NOW (1000): a full run builds thousands.
        created_at=at or n * 1e-6,
    )
    return dataclasses.replace(base, **changes)


def reserving(cpus: float = 0, memory: int = 0) -> dict[str, Any]:
    """ServiceSpec changes for a reservation."""
    return {
        "resources": ResourceRequirements(
            reservations=Resources(nano_cpus=int(cpus * 1e9), memory_bytes=memory)
        )
    }


def endpoint(
    ip: str,
    *,
    task_id: str = "",
    service: str = "web",
    slot: int | str = 1,
    network_id: str = "net1",
    node_addr: str = "198.51.100.1",
    service_id: str = "",
) -> Endpoint:
    """A task's endpoint on a network; ``slot`` a node name for a global service's task."""
    task_id = task_id or f"task-{ip}"
    return Endpoint(
        task_id=task_id,
        service_id=service_id or f"id-{service}",
        service_name=service,
        container_name=f"{service}.{slot}.{task_id}",
        slot=slot if isinstance(slot, int) else 0,
        node_id=f"node-{node_addr}",
        node_addr=node_addr,
        network_id=network_id,
        ip=ip,
        mac=mac_for_ip(ip),
    )


FRONT = "net-front"
BACK = "net-back"


def dns_view() -> NetworkView:
    """Networks FRONT and BACK; web (VIP) on both, db (dnsrr) on BACK, agent (global) on
    FRONT."""

    def ep(task_id: str, service: str, slot: int | str, net: str, ip: str) -> Endpoint:
        return endpoint(ip, task_id=task_id, service=service, slot=slot, network_id=net)

    return NetworkView(
        networks=(Network(FRONT, "front"), Network(BACK, "back")),
        endpoints=(
            ep("t1", "web", 1, FRONT, "10.0.1.5"),
            ep("t2", "web", 2, FRONT, "10.0.1.6"),
            ep("t1", "web", 1, BACK, "10.0.2.5"),
            ep("t2", "web", 2, BACK, "10.0.2.6"),
            ep("t3", "db", 1, BACK, "10.0.2.7"),
            ep("t4", "db", 2, BACK, "10.0.2.8"),
            ep("t5", "agent", "nodeX", FRONT, "10.0.1.9"),
        ),
        services=(
            ServiceEndpoint(
                "id-web",
                "web",
                EndpointMode.VIP,
                (VirtualIP(FRONT, "10.0.1.2/24"), VirtualIP(BACK, "10.0.2.2/24")),
            ),
            ServiceEndpoint("id-db", "db", EndpointMode.DNSRR, ()),
            ServiceEndpoint(
                "id-agent", "agent", EndpointMode.VIP, (VirtualIP(FRONT, "10.0.1.3/24"),)
            ),
        ),
    )


def node_credentials(
    root: ca.RootCA, node_id: str, role: NodeRole, cluster: str = CLUSTER
) -> tls.NodeCredentials:
    """A fresh key and a certificate ``root`` signed for it, as a node of ``cluster`` gets."""
    key = ca.generate_key()
    cert = ca.sign_node_csr(root, ca.create_csr(key), node_id, role, cluster)
    return tls.NodeCredentials(key_pem=key, cert_pem=cert, ca_pem=root.cert_pem)
