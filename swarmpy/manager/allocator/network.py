"""Network resources, decided: subnets and VNIs for networks, addresses for tasks and VIPs.

Pure functions over store objects; the allocator loop (``allocator.py``) writes what they
decide, and the control API's ``network create`` uses ``allocate_network``. Addresses are not
kept in a private bitmap: which ones are taken is derived from the store (gateways, live
tasks' attachments, VIPs). The allocator loop is the only writer of addresses and plans over
a fresh snapshot each time, so an address is never handed out twice, and a task that ends or
is deleted frees its address with no bookkeeping.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence, Set
from dataclasses import dataclass, field, replace

from swarmpy.errors import AlreadyExists, Conflict, InvalidArgument
from swarmpy.manager.allocator.ports import needs_ingress, plan_ports
from swarmpy.model import (
    EndpointMode,
    Network,
    NetworkAttachment,
    Node,
    PortConfig,
    Service,
    ServiceSpec,
    Task,
    TaskState,
    VirtualIP,
    mac_for_ip,
    new_id,
)

log = logging.getLogger(__name__)

DEFAULT_POOL = ipaddress.IPv4Network("10.0.0.0/8")
DEFAULT_PREFIX = 24
FIRST_VNI = 4096
MAX_VNI = (1 << 24) - 1


# ---------------------------------------------------------------- networks


def _parse_subnet(subnet: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(subnet, strict=True)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {subnet}: {e}") from None


def _subnets(networks: Iterable[Network]) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(n.subnet) for n in networks if n.subnet]


def _free_default_subnet(taken: Sequence[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    for candidate in DEFAULT_POOL.subnets(new_prefix=DEFAULT_PREFIX):
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise InvalidArgument("could not find an available, non-overlapping IPv4 address pool")


def allocate_network(
    name: str,
    driver: str,
    subnet: str,
    gateway: str,
    existing: Sequence[Network],
    *,
    attachable: bool = False,
    labels: tuple[tuple[str, str], ...] = (),
    at: float = 0.0,
    last_vni: int = 0,
) -> Network:
    """A new network's subnet, gateway and VNI (``next_vni`` after ``last_vni``, the one the
    swarm handed out last); raises what Docker would for a bad request."""
    driver = driver or "overlay"
    if driver != "overlay":
        raise InvalidArgument(
            f'network driver "{driver}" is not supported: swarm networks use the overlay driver'
        )
    if any(n.name == name for n in existing):
        raise AlreadyExists(f"network with name {name} already exists")
    taken = _subnets(existing)
    if subnet:
        net = _parse_subnet(subnet)
        if any(net.overlaps(t) for t in taken):
            raise InvalidArgument(
                "invalid pool request: Pool overlaps with other one on this address space"
            )
    else:
        net = _free_default_subnet(taken)
    if net.num_addresses < 4:
        raise InvalidArgument(f"invalid subnet {net}: too small for a gateway and tasks")
    if gateway:
        try:
            gw = ipaddress.IPv4Address(gateway)
        except ValueError:
            raise InvalidArgument(f"invalid gateway address {gateway}") from None
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise InvalidArgument(f"no matching subnet for gateway {gateway}")
    else:
        gw = net.network_address + 1
    vni = next_vni({n.vni for n in existing}, last_vni)
    return Network(
        id=new_id(),
        name=name,
        driver=driver,
        subnet=str(net),
        gateway=str(gw),
        vni=vni,
        attachable=attachable,
        labels=labels,
        created_at=at,
    )


def next_vni(in_use: Set[int], last_vni: int) -> int:
    """The VNI for a new network: the first free one after ``last_vni``, wrapping around.

    Not the lowest free one: a removed network lives on for a while on the nodes whose tasks
    are still stopping (their grace period), and its devices there are named after its VNI
    (``Names.bridge``, ``Names.vxlan``; the kernel allows one VXLAN device per VNI anyway). A
    network made right after with the same VNI would find those devices on such a node, and
    the old network's teardown would then delete them under it. Handing VNIs out in turn, as
    SwarmKit's allocator does, leaves a freed VNI alone until the other 16 million are used.
    """
    start = max(last_vni + 1, FIRST_VNI)
    order = itertools.chain(range(start, MAX_VNI + 1), range(FIRST_VNI, min(start, MAX_VNI + 1)))
    vni = next((v for v in order if v not in in_use), None)
    if vni is None:
        raise InvalidArgument("no free VXLAN id left for a new network")
    return vni


# ---------------------------------------------------------------- addresses


def holds_addresses(task: Task) -> bool:
    """An ended task's container is gone, so its addresses may go to someone else."""
    return not task.status.state.terminal


@dataclass
class AddressPool:
    """Free host addresses of one network, lowest first, within one allocation pass."""

    network: Network
    used: set[ipaddress.IPv4Address] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._net = ipaddress.IPv4Network(self.network.subnet)
        self.used.add(ipaddress.IPv4Address(self.network.gateway))
        self._hosts: Iterator[ipaddress.IPv4Address] = self._net.hosts()

    def allocate(self) -> str | None:
        """The lowest free address as "ip/prefix", or None when the subnet is full."""
        # Addresses only get taken during a pass, so the scan never needs to go back.
        for addr in self._hosts:
            if addr not in self.used:
                self.used.add(addr)
                return f"{addr}/{self._net.prefixlen}"
        return None


INGRESS_NAME = "ingress"
INGRESS_SUBNET = "10.0.0.0/24"


def ingress_network(at: float = 0.0) -> Network:
    """The routing mesh's network `swarm init` makes, as Docker's: an overlay named ingress
    on 10.0.0.0/24 (which the default pool then skips)."""
    network = allocate_network(INGRESS_NAME, "overlay", INGRESS_SUBNET, "", (), at=at)
    return replace(network, ingress=True)


def find_ingress(networks: Iterable[Network]) -> Network | None:
    return next((n for n in networks if n.ingress), None)


def address_pools(
    networks: Sequence[Network],
    tasks: Iterable[Task],
    services: Iterable[Service],
    nodes: Iterable[Node] = (),
) -> dict[str, AddressPool]:
    pools = {n.id: AddressPool(n) for n in networks if n.subnet}

    def take(network_id: str, addr: str) -> None:
        pool = pools.get(network_id)
        if pool is not None:
            pool.used.add(ipaddress.IPv4Address(addr.split("/")[0]))

    for task in tasks:
        if holds_addresses(task):
            for attachment in task.networks:
                for addr in attachment.addresses:
                    take(attachment.network_id, addr)
    for service in services:
        for vip in service.virtual_ips:
            take(vip.network_id, vip.addr)
    ingress = find_ingress(networks)
    if ingress is not None:
        for node in nodes:
            if node.ingress_addr and _in_subnet(node.ingress_addr, ingress):
                take(ingress.id, node.ingress_addr)
    return pools


def _in_subnet(cidr: str, network: Network) -> bool:
    addr = ipaddress.IPv4Interface(cidr)
    return network.subnet == str(addr.network)


NO_INGRESS = "service needs ingress network, but no ingress network is present"


def task_networks(spec: ServiceSpec, ingress_id: str) -> list[str]:
    """The networks a task of ``spec`` joins: the spec's, then the ingress network when it
    publishes a port through the routing mesh (last, so eth0 stays the spec's first
    network: its address is the one the container's hosts file names)."""
    if not needs_ingress(spec):
        return list(spec.networks)
    if not ingress_id:
        raise AllocationError(NO_INGRESS)
    return [*spec.networks, ingress_id]


class AllocationError(Exception):
    pass


def _address(pools: dict[str, AddressPool], network_id: str) -> str:
    pool = pools.get(network_id)
    if pool is None:
        raise AllocationError(f"network {network_id} not found")
    addr = pool.allocate()
    if addr is None:
        raise AllocationError(f"no free address left on network {pool.network.name}")
    return addr


def allocate_task(
    task: Task, pools: dict[str, AddressPool], ingress_id: str = ""
) -> tuple[NetworkAttachment, ...]:
    """One address on each of the task's networks (the one it came with, a container's
    ``--ip``, kept: the pools count it taken already); AllocationError if one is impossible."""
    asked = {a.network_id: a for a in task.networks if a.addresses}
    attachments = []
    for network_id in task_networks(task.spec, ingress_id):
        if network_id in asked:
            attachments.append(asked[network_id])
            continue
        addr = _address(pools, network_id)
        attachments.append(NetworkAttachment(network_id, (addr,), mac_for_ip(addr)))
    return tuple(attachments)


def requested_address(pool: AddressPool, wanted: str) -> NetworkAttachment:
    """A container's ``--ip`` on a swarm network, if it may have it (the words of a user
    bridge's, Docker's IPAM's)."""
    try:
        ip = ipaddress.IPv4Address(wanted)
    except ValueError:
        raise InvalidArgument(f"invalid IPv4 address: {wanted}") from None
    net = ipaddress.IPv4Network(pool.network.subnet)
    if ip not in net or ip in (net.network_address, net.broadcast_address):
        raise InvalidArgument(f"no configured subnet contains IP address {wanted}")
    if ip in pool.used:
        raise Conflict("Address already in use")
    addr = f"{ip}/{net.prefixlen}"
    return NetworkAttachment(pool.network.id, (addr,), mac_for_ip(addr))


def wanted_vips(
    service: Service, pools: dict[str, AddressPool], ingress_id: str = ""
) -> tuple[VirtualIP, ...]:
    """The service's VIPs for its current networks (the ingress network's too when it
    publishes through the routing mesh), keeping the ones it already has."""
    if service.spec.endpoint_mode != EndpointMode.VIP:
        return ()
    have = {vip.network_id: vip for vip in service.virtual_ips}
    return tuple(
        have[network_id]
        if network_id in have
        else VirtualIP(network_id, _address(pools, network_id))
        for network_id in task_networks(service.spec, ingress_id)
    )


@dataclass(frozen=True)
class Allocation:
    tasks: dict[str, tuple[NetworkAttachment, ...]]  # NEW task id → its attachments
    failed: dict[str, str]  # NEW task id → why it cannot be allocated (yet)
    vips: dict[str, tuple[VirtualIP, ...]]  # service id → its new VIPs
    # service id → its new Endpoint.Ports
    ports: dict[str, tuple[PortConfig, ...]] = field(default_factory=dict)
    # node id → its ingress sandbox's new address ("" when there is no ingress network)
    ingress_addrs: dict[str, str] = field(default_factory=dict)
    # node id → why it has no ingress sandbox address (the loop warns once per node)
    ingress_failed: dict[str, str] = field(default_factory=dict)


def needs_allocation(task: Task) -> bool:
    return task.status.state == TaskState.NEW and task.desired_state <= TaskState.COMPLETE


def plan_allocation(
    networks: Sequence[Network],
    services: Sequence[Service],
    tasks: Sequence[Task],
    nodes: Sequence[Node] = (),
) -> Allocation:
    """Everything the allocator should write, computed over one snapshot."""
    pools = address_pools(networks, tasks, services, nodes)
    ingress = find_ingress(networks)
    ingress_id = ingress.id if ingress is not None else ""
    result = Allocation({}, {}, {}, plan_ports(services))
    # Services first: a VIP is usually the first address a new service's network hands out.
    for service in services:
        try:
            vips = wanted_vips(service, pools, ingress_id)
        except AllocationError as e:
            log.warning("service %s: %s", service.spec.name, e)
            continue
        if vips != service.virtual_ips:
            result.vips[service.id] = vips
    for task in sorted((t for t in tasks if needs_allocation(t)), key=lambda t: t.created_at):
        try:
            result.tasks[task.id] = allocate_task(task, pools, ingress_id)
        except AllocationError as e:
            result.failed[task.id] = str(e)
    for node in nodes:
        want = node.ingress_addr
        if ingress is None:
            want = ""
        elif not want or not _in_subnet(want, ingress):
            try:
                want = _address(pools, ingress.id)
            except AllocationError as e:
                result.ingress_failed[node.id] = f"node {node.hostname}: {e}"
                continue
        if want != node.ingress_addr:
            result.ingress_addrs[node.id] = want
    return result
