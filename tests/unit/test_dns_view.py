"""A small NetworkView shared by the DNS unit tests: two networks, a VIP service on both,
a dnsrr service on one, a global service on one."""

from __future__ import annotations

from swarmpy.model import (
    Endpoint,
    EndpointMode,
    Network,
    NetworkView,
    ServiceEndpoint,
    VirtualIP,
)

FRONT = "net-front"
BACK = "net-back"


def endpoint(
    task_id: str, service: str, slot: int | str, net: str, ip: str, service_id: str = ""
) -> Endpoint:
    return Endpoint(
        task_id=task_id,
        service_id=service_id or f"id-{service}",
        service_name=service,
        container_name=f"{service}.{slot}.{task_id}",
        slot=slot if isinstance(slot, int) else 0,
        node_id="node1",
        node_addr="198.51.100.1",
        network_id=net,
        ip=ip,
        mac="",
    )


def view() -> NetworkView:
    return NetworkView(
        networks=(Network(FRONT, "front"), Network(BACK, "back")),
        endpoints=(
            endpoint("t1", "web", 1, FRONT, "10.0.1.5"),
            endpoint("t2", "web", 2, FRONT, "10.0.1.6"),
            endpoint("t1", "web", 1, BACK, "10.0.2.5"),
            endpoint("t2", "web", 2, BACK, "10.0.2.6"),
            endpoint("t3", "db", 1, BACK, "10.0.2.7"),
            endpoint("t4", "db", 2, BACK, "10.0.2.8"),
            endpoint("t5", "agent", "nodeX", FRONT, "10.0.1.9"),
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
