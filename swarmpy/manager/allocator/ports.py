"""Published ports, decided: checks of a spec's ports, conflicts between services, and the
published port each ingress-mode port gets.

As SwarmKit's port allocator: an ingress-mode published port belongs to one service per
protocol across the swarm; a port without a published one gets the lowest free port of
30000-32767 and keeps it across updates that leave the port alone. Host-mode ports are not
allocated: two services may publish the same host port, and the scheduler keeps their tasks
on different nodes; one without a published port gets a free port from the node that runs
the task (the agent's network provider), shown in the task's PortStatus. What is taken is
derived from the services in the store, so `service rm` or `--publish-rm` frees a port with
no bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from swarmpy.errors import InvalidArgument
from swarmpy.model import (
    EndpointMode,
    PortConfig,
    PortProtocol,
    PublishMode,
    Service,
    ServiceSpec,
)

DYNAMIC_PORT_START = 30000
DYNAMIC_PORT_END = 32767
MAX_PORT = 65535

PortKey = tuple[PortProtocol, int]


def check_ports(spec: ServiceSpec) -> None:
    """SwarmKit's validateEndpointSpec, in its words, plus the port ranges."""
    seen: set[PortKey] = set()
    for port in spec.ports:
        if not 0 < port.target <= MAX_PORT:
            raise InvalidArgument(f"invalid target port {port.target}: must be 1-{MAX_PORT}")
        if not 0 <= port.published <= MAX_PORT:
            raise InvalidArgument(f"invalid published port {port.published}: must be 0-{MAX_PORT}")
        if spec.endpoint_mode == EndpointMode.DNSRR and port.publish_mode == PublishMode.INGRESS:
            raise InvalidArgument(
                "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"
            )
        if port.published == 0:
            # A host-mode port without one: each node picks a free port for its task, as
            # Docker's engine does, and reports it in the task's PortStatus.
            continue
        key = (port.protocol, port.published)
        if key in seen:
            raise InvalidArgument("EndpointSpec: duplicate published ports provided")
        seen.add(key)


def needs_ingress(spec: ServiceSpec) -> bool:
    """Whether the service's tasks join the ingress network (SwarmKit's
    IsIngressNetworkNeeded): it publishes a port through the routing mesh."""
    return any(p.publish_mode == PublishMode.INGRESS for p in spec.ports)


def ingress_ports(ports: Iterable[PortConfig]) -> tuple[PortConfig, ...]:
    return tuple(p for p in ports if p.publish_mode == PublishMode.INGRESS)


def host_ports(ports: Iterable[PortConfig]) -> tuple[PortConfig, ...]:
    return tuple(p for p in ports if p.publish_mode == PublishMode.HOST and p.published)


def port_conflict(spec: ServiceSpec, service_id: str, services: Iterable[Service]) -> str | None:
    """SwarmKit's checkPortConflicts: Docker's message if a published port of ``spec`` is
    another service's (``service_id``: the service being updated, "" on create)."""
    ingress = {(p.protocol, p.published) for p in spec.ports if p.published and _is_ingress(p)}
    host = {(p.protocol, p.published) for p in spec.ports if p.published and not _is_ingress(p)}
    if not ingress and not host:
        return None
    for service in services:
        if service_id and service.id == service_id:
            continue
        for port in (*service.spec.ports, *service.endpoint_ports):
            if not port.published:
                continue
            key = (port.protocol, port.published)
            what = f"port '{port.published}' is already in use by service '{service.spec.name}'"
            if not _is_ingress(port):
                if key in ingress:
                    return f"{what} ({service.id}) as a host-published port"
            elif key in ingress or key in host:
                return f"{what} ({service.id}) as an ingress port"
    return None


def _is_ingress(port: PortConfig) -> bool:
    return port.publish_mode == PublishMode.INGRESS


def taken_ingress_ports(services: Iterable[Service]) -> set[PortKey]:
    taken: set[PortKey] = set()
    for service in services:
        for port in (*service.spec.ports, *service.endpoint_ports):
            if port.published and _is_ingress(port):
                taken.add((port.protocol, port.published))
    return taken


class PortPool:
    """Free dynamic ports per protocol, within one allocation pass."""

    def __init__(self, taken: set[PortKey]) -> None:
        self.taken = taken

    def allocate(self, protocol: PortProtocol) -> int | None:
        for port in range(DYNAMIC_PORT_START, DYNAMIC_PORT_END + 1):
            if (protocol, port) not in self.taken:
                self.taken.add((protocol, port))
                return port
        return None


def _same_port(a: PortConfig, b: PortConfig) -> bool:
    return (a.target, a.protocol, a.publish_mode, a.name) == (
        b.target,
        b.protocol,
        b.publish_mode,
        b.name,
    )


def endpoint_ports(service: Service, pool: PortPool) -> tuple[PortConfig, ...] | None:
    """The service's ports as published: the spec's, each ingress port without a published
    one given the port it had (if the service still holds it) or a free dynamic one. None
    when the dynamic range is exhausted."""
    kept = [p for p in service.endpoint_ports if p.published >= DYNAMIC_PORT_START]
    result = []
    for port in service.spec.ports:
        if port.published or not _is_ingress(port):
            result.append(port)
            continue
        previous = next((p for p in kept if _same_port(p, port)), None)
        if previous is not None:
            kept.remove(previous)
            result.append(previous)
            continue
        published = pool.allocate(port.protocol)
        if published is None:
            return None
        result.append(replace(port, published=published))
    return tuple(result)


def plan_ports(services: Sequence[Service]) -> dict[str, tuple[PortConfig, ...]]:
    """The services whose Endpoint.Ports must change, with their new ports."""
    # A service's own dynamic ports are taken too, so another service cannot get them while
    # it keeps them; ports it no longer publishes are freed by not being in endpoint_ports.
    pool = PortPool(taken_ingress_ports(services))
    changes: dict[str, tuple[PortConfig, ...]] = {}
    for service in sorted(services, key=lambda s: s.created_at):
        ports = endpoint_ports(service, pool)
        if ports is not None and ports != service.endpoint_ports:
            changes[service.id] = ports
    return changes
